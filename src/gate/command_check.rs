//! Lint and test checks: the configured command run on one staged package file, locally, with no
//! shell (an argument vector; `{file}` replaced by the package's path), a cleared environment (no
//! secret of the daemon reaches it), a time limit, and its output kept up to a bound. A test the
//! policy runs on a builder goes to [`super::builder_tests`] instead ([`run_on`]).

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncReadExt as _;

use super::policy::CommandCheck;
use crate::formats::{FormatKind, InspectedPackage};
use crate::repos::push_plan::Planned;

/// Output kept per check (the head; the rest is counted and dropped).
pub const MAX_LOG_BYTES: usize = 64 * 1024;

/// How a command check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutcome {
    /// Exit status 0 within the time limit.
    pub passed: bool,
    /// One line: the exit status, or why it did not run.
    pub summary: String,
    /// Its stdout and stderr, interleaved as written, bounded.
    pub log: String,
}

/// A staged package file.
#[derive(Clone, Copy, Debug)]
pub struct Staged<'a> {
    /// The local file (the staged bytes).
    pub path: &'a Path,
    /// What inspection found (the index entry included).
    pub package: &'a InspectedPackage,
    /// Its format.
    pub format: FormatKind,
}

/// What a check runs on: one staged package, and the packages staged with it (a test on a builder
/// installs those of them the package depends on; each package is still tested on its own).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The package file.
    pub file: &'a Path,
    /// What inspection found.
    pub package: &'a InspectedPackage,
    /// Its format.
    pub format: FormatKind,
    /// The other packages of its pipeline (it may be among them; it is never installed twice).
    pub staged_with: &'a [Staged<'a>],
}

/// Runs `check` on `subject`: on a builder when the policy says so, else the command on the master.
pub async fn run_on(check: &CommandCheck, subject: &Subject<'_>) -> CommandOutcome {
    match &check.on_builder {
        Some(test) => super::builder_tests::run(test, check.timeout, subject).await,
        None => run_command(check, subject.file, subject.package).await,
    }
}

/// Runs `check` on `item` of a push whose packages are `planned` (every package of its pipeline).
pub async fn run_planned(check: &CommandCheck, item: &Planned, planned: &[Planned]) -> CommandOutcome {
    let staged_with: Vec<Staged<'_>> = planned
        .iter()
        .map(|p| Staged {
            path: &p.path,
            package: &p.package,
            format: p.format,
        })
        .collect();
    let subject = Subject {
        file: &item.path,
        package: &item.package,
        format: item.format,
        staged_with: &staged_with,
    };
    run_on(check, &subject).await
}

/// Runs `check` on the built Haiku package file at `file`: its command on the master, or, for a
/// test on a builder, HaikuPorter's `TEST()` ([`super::builder_tests::haiku`]).
pub async fn run(check: &CommandCheck, file: &Path, package: &InspectedPackage) -> CommandOutcome {
    match &check.on_builder {
        // Only the HaikuPorts repository's gate calls this (a push goes through [`run_planned`]).
        Some(test) => {
            let subject = Subject {
                file,
                package,
                format: FormatKind::Haiku,
                staged_with: &[],
            };
            super::builder_tests::run(test, check.timeout, &subject).await
        }
        None => run_command(check, file, package).await,
    }
}

/// The command of `check` run on `file`, on the master.
async fn run_command(check: &CommandCheck, file: &Path, package: &InspectedPackage) -> CommandOutcome {
    let file_text = file.to_string_lossy();
    let argv: Vec<String> = check
        .command
        .iter()
        .map(|arg| arg.replace("{file}", &file_text))
        .collect();
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("LANG", "C.UTF-8")
        .env("BUILDMASTER_PACKAGE_NAME", &package.name)
        .env("BUILDMASTER_PACKAGE_VERSION", &package.version)
        .env("BUILDMASTER_PACKAGE_ARCHITECTURE", &package.architecture)
        .env("BUILDMASTER_PACKAGE_SHA256", &package.sha256)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = file.parent() {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return CommandOutcome {
                passed: false,
                summary: format!(
                    "{:?} could not be started: {e}; install it or fix the policy's command",
                    argv[0]
                ),
                log: String::new(),
            }
        }
    };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return CommandOutcome {
            passed: false,
            summary: "the command's output could not be captured".into(),
            log: String::new(),
        };
    };
    let collect = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (mut out_head, mut err_head) = (
            (&mut stdout).take(MAX_LOG_BYTES as u64),
            (&mut stderr).take(MAX_LOG_BYTES as u64),
        );
        let _ = tokio::join!(out_head.read_to_end(&mut out), err_head.read_to_end(&mut err));
        // Whatever is beyond the bound is drained, so that the command never blocks on a full pipe.
        let (mut out_sink, mut err_sink) = (tokio::io::sink(), tokio::io::sink());
        let _ = tokio::join!(
            tokio::io::copy(&mut stdout, &mut out_sink),
            tokio::io::copy(&mut stderr, &mut err_sink)
        );
        let status = child.wait().await;
        (out, err, status)
    };
    match tokio::time::timeout(check.timeout, collect).await {
        Err(_) => CommandOutcome {
            passed: false,
            summary: format!(
                "{:?} did not finish within {} s and was killed",
                argv[0],
                check.timeout.as_secs()
            ),
            log: String::new(),
        },
        Ok((out, err, status)) => {
            let mut log = String::from_utf8_lossy(&out).into_owned();
            if !err.is_empty() {
                log.push_str(&String::from_utf8_lossy(&err));
            }
            let log = crate::bounded_text::shortened(&log, MAX_LOG_BYTES);
            match status {
                Ok(status) if status.success() => CommandOutcome {
                    passed: true,
                    summary: format!("{} passed", argv[0]),
                    log,
                },
                Ok(status) => CommandOutcome {
                    passed: false,
                    summary: format!(
                        "{} failed ({status}){}",
                        argv[0],
                        first_line(&log).map(|l| format!(": {l}")).unwrap_or_default()
                    ),
                    log,
                },
                Err(e) => CommandOutcome {
                    passed: false,
                    summary: format!("waiting for {}: {e}", argv[0]),
                    log,
                },
            }
        }
    }
}

/// The first non-empty line of `log`, shortened.
fn first_line(log: &str) -> Option<String> {
    log.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| crate::bounded_text::shortened(l, 200))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn package() -> InspectedPackage {
        InspectedPackage {
            name: "hello".into(),
            version: "1.0-1".into(),
            architecture: "amd64".into(),
            size: 1,
            sha256: "00".into(),
            file_name: "hello_1.0-1_amd64.deb".into(),
            entry: String::new(),
        }
    }

    fn check(command: &[&str], timeout: u64) -> CommandCheck {
        CommandCheck {
            command: command.iter().map(|s| s.to_string()).collect(),
            mode: super::super::policy::Mode::Block,
            timeout: Duration::from_secs(timeout),
            on_builder: None,
        }
    }

    #[tokio::test]
    async fn the_file_is_an_argument_and_the_package_is_in_the_environment() {
        let outcome = run(
            &check(
                &[
                    "sh",
                    "-c",
                    "echo \"$0 $BUILDMASTER_PACKAGE_NAME\"; test -z \"$HOME\"",
                    "{file}",
                ],
                10,
            ),
            Path::new("/tmp/x y.deb"),
            &package(),
        )
        .await;
        assert!(outcome.passed, "{outcome:?}");
        assert_eq!(outcome.log, "/tmp/x y.deb hello\n");
    }

    #[tokio::test]
    async fn failures_timeouts_and_missing_tools_are_named() {
        let failed = run(
            &check(&["sh", "-c", "echo E: bad-thing >&2; exit 2"], 10),
            Path::new("/tmp/p"),
            &package(),
        )
        .await;
        assert!(!failed.passed);
        assert!(failed.summary.contains("E: bad-thing"), "{failed:?}");
        let slow = run(&check(&["sleep", "5"], 1), Path::new("/tmp/p"), &package()).await;
        assert!(slow.summary.contains("did not finish within 1 s"), "{slow:?}");
        let missing = run(
            &check(&["no-such-linter-here"], 1),
            Path::new("/tmp/p"),
            &package(),
        )
        .await;
        assert!(missing.summary.contains("could not be started"), "{missing:?}");
    }
}
