//! Running recipes through bash: a pool of long-lived bash workers (one per core) running
//! `evaluator.sh`, each evaluating many recipes, every recipe in its own subshell.
//!
//! HaikuPorter starts one bash per recipe (16–19 ms each); sourcing a recipe costs about 1 ms, so the
//! start-up is what we avoid. A recipe that fails (syntax error, failing command under `set -e`)
//! yields [`Outcome::Failed`] with bash's message and the worker carries on; a recipe that hangs is
//! killed after the timeout together with everything it started (the worker runs in its own process
//! group) and the worker is replaced. Recipes read `/dev/null` as stdin, so one that reads stdin
//! cannot swallow the job stream.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ports::recipe_keys::{key_names, supported_keys_pattern};

/// The worker script, sourced by every worker bash.
pub const EVALUATOR_SCRIPT: &str = include_str!("evaluator.sh");

/// Attribute name → value as bash printed it (`PROVIDES_devel` → the multi-line list).
pub type Attributes = BTreeMap<String, String>;

/// One recipe evaluation to run.
#[derive(Clone, Debug)]
pub struct Job {
    /// The prepared copy of the recipe that bash sources (see [`prepare_recipe`]).
    pub prepared: PathBuf,
    /// `portName`: the port name, with `_<secondary arch>` for a secondary-architecture evaluation.
    pub port_name: String,
    /// `portBaseName`: the port name without the secondary-architecture suffix.
    pub base_name: String,
    /// `portVersion`.
    pub port_version: String,
    /// `portBaseDir`: the recipe's directory in the tree.
    pub base_dir: PathBuf,
    /// The secondary architecture (`x86`) this evaluation is for, if any.
    pub secondary_arch: Option<String>,
}

/// What evaluating one recipe gave.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// The recipe was sourced; these attributes were set.
    Evaluated(Attributes),
    /// Bash failed: its message (paths are still those of the prepared copy).
    Failed(String),
    /// The recipe did not finish within the timeout (not cached: it may be the machine's fault).
    TimedOut(Duration),
}

/// The evaluation context shared by every job of a run.
#[derive(Clone, Debug)]
pub struct EvaluatorConfig {
    /// `targetArchitecture` (`x86_64`).
    pub target_arch: String,
    /// Worker processes; at least one.
    pub jobs: usize,
    /// How long one recipe may take before it is killed.
    pub timeout: Duration,
    /// Where workers keep their stderr files.
    pub scratch_dir: PathBuf,
}

/// The recipe text bash sources: HaikuPorter's `validateRecipeFile` appends
/// `; updateRevisionVariables ` to every `REVISION="…"` on one line (its regex runs line by line)
/// so that `portFullVersion`, `prefix` and the directory variables follow the revision.
pub fn prepare_recipe(recipe: &[u8]) -> Vec<u8> {
    const NEEDLE: &[u8] = b"REVISION=\"";
    const HOOK: &[u8] = b"; updateRevisionVariables ";
    let mut out = Vec::with_capacity(recipe.len() + 64);
    let mut rest = recipe;
    while let Some(start) = find(rest, NEEDLE) {
        let value_start = start + NEEDLE.len();
        // `REVISION="[^"]*"`: a value running to the end of the file without its quote is no match.
        let Some(close) = rest[value_start..].iter().position(|&b| b == b'"' || b == b'\n') else {
            break;
        };
        if rest[value_start + close] == b'\n' {
            out.extend_from_slice(&rest[..value_start + close]);
            rest = &rest[value_start + close..];
            continue;
        }
        let end = value_start + close + 1;
        out.extend_from_slice(&rest[..end]);
        out.extend_from_slice(HOOK);
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Evaluates every job on `config.jobs` workers; the outcomes come back in job order, and `on_done`
/// is called (from the worker threads) as each job finishes. Fails only if bash cannot be started.
pub fn evaluate_all(
    config: &EvaluatorConfig,
    jobs: &[Job],
    on_done: &(dyn Fn() + Sync),
) -> io::Result<Vec<Outcome>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let workers = config.jobs.clamp(1, jobs.len());
    // Start one worker up front so that "bash missing" is one clear error, not one per recipe.
    let first = Worker::spawn(config, 0)?;
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Outcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let first = Mutex::new(Some(first));
    std::thread::scope(|scope| {
        for index in 0..workers {
            let (next, results, first) = (&next, &results, &first);
            // A thread that cannot be spawned leaves its share to the others; if none starts, the
            // jobs come back as failures below.
            let _ = std::thread::Builder::new()
                .name(format!("recipe-eval-{index}"))
                .spawn_scoped(scope, move || {
                    let taken = first.lock().ok().and_then(|mut w| w.take());
                    let mut worker = match taken {
                        Some(worker) => Some(worker),
                        None => Worker::spawn(config, index).ok(),
                    };
                    loop {
                        let job_index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(job_index) else { break };
                        let outcome = run_job(config, index, &mut worker, job);
                        if let Ok(mut slot) = results[job_index].lock() {
                            *slot = Some(outcome);
                        }
                        on_done();
                    }
                });
        }
    });
    Ok(results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Outcome::Failed("the evaluator thread stopped".into()))
        })
        .collect())
}

/// Runs one job, replacing the worker if it is missing, timed out or died.
fn run_job(config: &EvaluatorConfig, index: usize, slot: &mut Option<Worker>, job: &Job) -> Outcome {
    if slot.is_none() {
        match Worker::spawn(config, index) {
            Ok(worker) => *slot = Some(worker),
            Err(err) => return Outcome::Failed(format!("cannot start bash: {err}")),
        }
    }
    let worker = slot.as_mut().expect("worker just ensured");
    match worker.evaluate(job, config.timeout) {
        Ok(outcome) => outcome,
        Err(WorkerLost::TimedOut) => {
            *slot = None; // dropping kills the process group
            Outcome::TimedOut(config.timeout)
        }
        Err(WorkerLost::Died(why)) => {
            *slot = None;
            Outcome::Failed(format!("the evaluator bash exited unexpectedly: {why}"))
        }
    }
}

/// Why a worker cannot be used any more.
enum WorkerLost {
    TimedOut,
    Died(String),
}

/// One frame of a worker's reply.
enum Frame {
    Attribute(String, String),
    Error(String),
    End(i32),
}

/// A running `bash evaluator.sh` and the thread reading its replies.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    frames: Receiver<io::Result<Frame>>,
}

impl Worker {
    fn spawn(config: &EvaluatorConfig, index: usize) -> io::Result<Worker> {
        // One stderr file per bash ever started: a replacement worker must not share its
        // predecessor's file with another thread's worker.
        static SPAWNED: AtomicUsize = AtomicUsize::new(0);
        let serial = SPAWNED.fetch_add(1, Ordering::Relaxed);
        let err_file = config.scratch_dir.join(format!("stderr-{serial}"));
        let mut command = Command::new("bash");
        command
            .args([
                "--noprofile",
                "--norc",
                "-c",
                EVALUATOR_SCRIPT,
                // `$0` as in HaikuPorter's `bash -c`.
                "bash",
            ])
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            // HaikuPorter's filteredEnvironment and ConfigParser's recipePhases.
            .env("LC_ALL", "POSIX")
            .env("TERM", "xterm")
            .env("recipePhases", "PATCH BUILD TEST INSTALL")
            .env("BM_ERR_FILE", &err_file)
            .env("BM_KEYS", key_names())
            .env("supportedKeysPattern", supported_keys_pattern())
            // Main._initGlobalShellVariables for a native (not cross) repository. Recipes are
            // evaluated here, not built: the build architecture is the target's, as on a native Haiku
            // builder; one job, so no `jobArgs` (HaikuPorter sets it only for more than one).
            .env("haikuVersion", "r1~alpha1")
            .env("targetArchitecture", &config.target_arch)
            .env("buildArchitecture", &config.target_arch)
            .env("isCrossRepository", "false")
            .env("jobs", "1")
            .env("packagerName", "")
            .env("packagerEmail", "")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = command.spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, frames) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("recipe-eval-{index}-reader"))
            .spawn(move || read_frames(BufReader::new(stdout), sender))?;
        Ok(Worker { child, stdin, frames })
    }

    fn evaluate(&mut self, job: &Job, timeout: Duration) -> Result<Outcome, WorkerLost> {
        let line = match job_line(job) {
            Ok(line) => line,
            // A path bash cannot be handed is the recipe's problem, not the worker's.
            Err(why) => return Ok(Outcome::Failed(why)),
        };
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush())
            .map_err(|e| WorkerLost::Died(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        let mut attributes = Attributes::new();
        let mut error = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(Ok(Frame::Attribute(key, value))) => {
                    attributes.insert(key, value);
                }
                Ok(Ok(Frame::Error(text))) => error = text,
                Ok(Ok(Frame::End(0))) => return Ok(Outcome::Evaluated(attributes)),
                Ok(Ok(Frame::End(status))) => {
                    let text = error.trim_end();
                    return Ok(Outcome::Failed(if text.is_empty() {
                        format!("bash exited with status {status} while sourcing the recipe")
                    } else {
                        text.to_owned()
                    }));
                }
                Ok(Err(err)) => return Err(WorkerLost::Died(err.to_string())),
                Err(RecvTimeoutError::Timeout) => return Err(WorkerLost::TimedOut),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WorkerLost::Died("its output ended".into()))
                }
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // The whole group: a hung recipe's `sleep` (or anything else it started) goes too, which
        // also closes the pipe the reader thread is blocked on.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group we created at spawn.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The job line: tab-separated fields bash's `read` splits.
fn job_line(job: &Job) -> Result<String, String> {
    let fields = [
        job.prepared.to_string_lossy().into_owned(),
        job.port_name.clone(),
        job.base_name.clone(),
        job.port_version.clone(),
        job.base_dir.to_string_lossy().into_owned(),
        job.secondary_arch.clone().unwrap_or_default(),
    ];
    if let Some(bad) = fields.iter().find(|f| f.contains(['\t', '\n'])) {
        return Err(format!(
            "{bad:?} contains a tab or a newline, which the evaluator cannot pass to bash"
        ));
    }
    Ok(fields.join("\t") + "\n")
}

/// Reads frames until the pipe closes; each goes to the worker's channel.
fn read_frames(mut reader: impl BufRead, sender: mpsc::Sender<io::Result<Frame>>) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) => {
                let _ = sender.send(Err(err));
                return;
            }
        }
        let frame = parse_frame(&line, &mut reader);
        let stop = frame.is_err();
        if sender.send(frame).is_err() || stop {
            return;
        }
    }
}

fn parse_frame(header: &str, reader: &mut impl BufRead) -> io::Result<Frame> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected evaluator output {header:?}"),
        )
    };
    let header = header.trim_end_matches('\n');
    if let Some(status) = header.strip_prefix(".END ") {
        return status.parse().map(Frame::End).map_err(|_| bad());
    }
    let (tag, rest) = header.split_at_checked(1).ok_or_else(bad)?;
    let (name, length) = rest.rsplit_once(' ').ok_or_else(bad)?;
    let length: usize = length.parse().map_err(|_| bad())?;
    // The value and the newline printf adds after it.
    let mut value = vec![0u8; length + 1];
    reader.read_exact(&mut value)?;
    value.pop();
    let value = String::from_utf8_lossy(&value).into_owned();
    match tag {
        "=" => Ok(Frame::Attribute(name.to_owned(), value)),
        "!" => Ok(Frame::Error(value)),
        _ => Err(bad()),
    }
}

/// Replaces the prepared copy's path in bash's messages with the recipe's own path.
pub fn rewrite_paths(message: &str, prepared: &Path, recipe: &Path) -> String {
    message.replace(&*prepared.to_string_lossy(), &recipe.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_assignments_get_the_update_hook() {
        let prepared = prepare_recipe(b"A=1\nREVISION=\"3\"\nB=\"x\"\n");
        assert_eq!(
            String::from_utf8(prepared).unwrap(),
            "A=1\nREVISION=\"3\"; updateRevisionVariables \nB=\"x\"\n"
        );
        assert_eq!(prepare_recipe(b"REVISION=\"3"), b"REVISION=\"3");
        assert_eq!(
            prepare_recipe(b"REVISION=\"3\nx\"\nREVISION=\"4\""),
            b"REVISION=\"3\nx\"\nREVISION=\"4\"; updateRevisionVariables "
        );
    }

    #[test]
    fn frames_parse_values_with_newlines() {
        let mut input: &[u8] = b"a\nb\n\n";
        let frame = parse_frame("=PROVIDES 3\n", &mut input).unwrap();
        assert!(matches!(frame, Frame::Attribute(k, v) if k == "PROVIDES" && v == "a\nb"));
        assert!(parse_frame("?X 1\n", &mut &b"x\n"[..]).is_err());
        assert!(matches!(
            parse_frame(".END 2\n", &mut &b""[..]).unwrap(),
            Frame::End(2)
        ));
    }
}
