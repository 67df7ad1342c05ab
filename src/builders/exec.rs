//! Running a command on a builder: built from an argument vector, output streamed live to a sink as it
//! arrives, bounded by idle-output and total timeouts, and cancellable — cancelling (or timing out)
//! kills the remote process group, not just the channel.
//!
//! How the remote process is killed: sshd starts every session command in a new session (`setsid`),
//! so the shell that runs our command line leads its own process group. The command line first prints
//! that shell's pid (`$$`) on a marker line, then `exec`s the command, which keeps the pid. To kill,
//! we run `kill -KILL -- -<pid>` on a second channel (which reaches every process the build started
//! in that group) and also send the SSH `signal` request for servers that honour it.
//!
//! The build tool runs as HaikuPorter runs it (`RemoteBuilderSSH._remoteCommand` asks for a PTY for
//! every command): under a pseudo-terminal, so that (1) when the connection drops, sshd closes the
//! terminal and the kernel hangs it up — SIGHUP to the build, which dies instead of running on
//! orphaned on a builder that is about to get the next build, and (2) the tool and everything it
//! runs see a terminal and line-buffer their output, so the log is live. A PTY merges stderr into
//! stdout, as HaikuPorter's logs always were. Unlike paramiko's default we turn `ONLCR` off, so lines
//! arrive with `\n` rather than `\r\n`. Housekeeping commands (git, `sha256sum`) run without one: their
//! stdout is parsed and must not be mixed with stderr.

use std::time::Duration;

use russh::{ChannelMsg, Pty, Sig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connection::Connection;
use super::error::BuilderError;
use super::host::{Command, RunCommand};
use super::quote::{command_line, shell_quote};

/// First line our wrapper prints on stdout; it is stripped from the output.
const PID_MARKER: &str = "buildmaster-pgid ";
/// How long the kill command may take on a live builder.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// The terminal HaikuPorter's PTY announces (paramiko's `get_pty` defaults: `vt100`, 80×24).
const PTY_TERM: &str = "vt100";
/// Columns and rows of that terminal.
const PTY_SIZE: (u32, u32) = (80, 24);

/// Which stream a chunk of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Where live output goes (the per-build log, subscribers).
pub type OutputSink<'a> = &'a mut (dyn FnMut(Stream, &[u8]) + Send);

/// Limits, cancellation and the terminal for one command.
#[derive(Clone, Debug)]
pub struct ExecLimits {
    /// Kill the command if it prints nothing for this long; `None`: never (HaikuPorter's behaviour).
    pub idle_output: Option<Duration>,
    /// Kill the command after this long; `None`: never (HaikuPorter's behaviour for builds).
    pub total: Option<Duration>,
    /// Cancelling kills the command.
    pub cancel: CancellationToken,
    /// A timeout of this command is a build failure (the build itself) rather than an infrastructure
    /// error (housekeeping).
    pub is_build: bool,
    /// How long to wait for a live-ness probe after an idle timeout.
    pub probe: Duration,
    /// Run under a pseudo-terminal (see the module docs): the build tool's commands do, as in
    /// HaikuPorter; housekeeping commands whose output is parsed do not.
    pub pty: bool,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Exit status; a command killed by a signal reports 128 + its number as shells do.
    pub status: u32,
    /// The signal name, if it was killed by one.
    pub signal: Option<String>,
}

/// The full remote command line for `argv`, run in `cwd` if given, with the pid marker.
pub fn remote_command_line<S: AsRef<str>>(argv: &[S], cwd: Option<&str>) -> String {
    let cd = cwd
        .map(|d| format!("cd -- {} && ", shell_quote(d)))
        .unwrap_or_default();
    format!("echo \"{PID_MARKER}$$\" && {cd}exec {}", command_line(argv))
}

/// HaikuPorter's environment script: `RemoteBuilderSSH.runBuild` starts every build with
/// `source /boot/system/boot/SetupEnvironment && cd <tree> && <haikuporter> …`.
pub const SETUP_ENVIRONMENT: &str = "/boot/system/boot/SetupEnvironment";

/// The build tool's command line: [`remote_command_line`] with HaikuPorter's environment script
/// `setup_environment` sourced first. On Haiku this is HaikuPorter's command exactly — a missing
/// script fails the build, as `source` does there. Elsewhere (Linux builders with the stand-in, where
/// HaikuPorter's own command would fail at once) a missing script is skipped; a present one is
/// sourced. `.` rather than `source`: the same builtin in bash, and the only one in POSIX `sh`.
pub fn build_command_line<S: AsRef<str>>(argv: &[S], cwd: &str, setup_environment: &str) -> String {
    let env = shell_quote(setup_environment);
    format!(
        "echo \"{PID_MARKER}$$\" && if [ -e {env} ] || [ \"$(uname -s)\" = Haiku ]; then . {env}; fi && \
         cd -- {} && exec {}",
        shell_quote(cwd),
        command_line(argv)
    )
}

/// Runs the complete command line `line` (which must print the pid marker first, see
/// [`remote_command_line`]); `shown` names it in errors.
pub async fn run_line(
    conn: &Connection,
    shown: &str,
    line: &str,
    limits: &ExecLimits,
    sink: OutputSink<'_>,
) -> Result<Exit, BuilderError> {
    let shown = shown.to_string();
    let mut channel = conn.session_channel(&shown).await?;
    if limits.pty {
        request_pty(conn, &mut channel, &shown).await?;
    }
    channel.exec(true, line).await.map_err(|_| conn.lost(&shown))?;
    let started = Instant::now();
    // "Never" is a deadline far enough away that it cannot overflow `Instant` arithmetic.
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let deadline = started + limits.total.unwrap_or(forever);
    let mut pgid: Option<u32> = None;
    let mut marker = Vec::new();
    let mut status = None;
    let mut signal = None;
    loop {
        let idle = limits.idle_output.map(|d| Instant::now() + d).unwrap_or(deadline);
        let wake = idle.min(deadline);
        tokio::select! {
            _ = limits.cancel.cancelled() => {
                kill(conn, &channel, pgid).await;
                return Err(BuilderError::Cancelled { builder: conn.builder().into(), what: shown });
            }
            _ = tokio::time::sleep_until(wake) => {
                let ran_too_long = Instant::now() >= deadline;
                // A silent command on a hung builder is a lost builder, not a failed build: ask the
                // builder whether it still answers before blaming the command.
                if !ran_too_long && !conn.probe(limits.probe).await {
                    return Err(conn.lost(&shown));
                }
                kill(conn, &channel, pgid).await;
                return Err(BuilderError::Timeout {
                    builder: conn.builder().into(),
                    command: shown,
                    what: if ran_too_long { "ran too long" } else { "printed nothing" },
                    after: if ran_too_long { limits.total.unwrap_or_default() } else { limits.idle_output.unwrap_or_default() },
                    is_build: limits.is_build,
                });
            }
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    let rest = if pgid.is_none() { take_marker(&mut marker, &data, &mut pgid) } else { &data[..] };
                    if !rest.is_empty() {
                        sink(Stream::Stdout, rest);
                    }
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => sink(Stream::Stderr, &data),
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    signal = Some(format!("{signal_name:?}"));
                    status = Some(128 + signal_number(&signal_name));
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            }
        }
    }
    match status {
        Some(status) => Ok(Exit { status, signal }),
        None => Err(conn.lost(&shown)),
    }
}

/// A bare connection runs commands too (connection checks and tests need no SFTP session); a
/// [`super::ssh_host::SshHost`] runs them through here. The exit status is returned; a connection
/// that ends without one is [`BuilderError::Lost`].
#[async_trait::async_trait]
impl RunCommand for Connection {
    fn builder(&self) -> &str {
        Connection::builder(self)
    }

    async fn run(
        &self,
        cmd: Command<'_>,
        limits: &ExecLimits,
        sink: OutputSink<'_>,
    ) -> Result<Exit, BuilderError> {
        let line = match cmd.setup_script {
            Some(script) => build_command_line(cmd.argv, cmd.cwd.unwrap_or("."), script),
            None => remote_command_line(cmd.argv, cmd.cwd),
        };
        run_line(self, &command_line(cmd.argv), &line, limits, sink).await
    }
}

/// Asks for HaikuPorter's pseudo-terminal and waits for sshd's answer: a build that silently ran
/// without one would survive a dropped connection.
async fn request_pty(
    conn: &Connection,
    channel: &mut russh::Channel<russh::client::Msg>,
    shown: &str,
) -> Result<(), BuilderError> {
    let (cols, rows) = PTY_SIZE;
    channel
        .request_pty(true, PTY_TERM, cols, rows, 0, 0, &[(Pty::ONLCR, 0)])
        .await
        .map_err(|_| conn.lost(shown))?;
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Success) => return Ok(()),
            Some(ChannelMsg::Failure) => {
                return Err(BuilderError::Command {
                    builder: conn.builder().into(),
                    command: shown.into(),
                    status: "sshd refused a pseudo-terminal".into(),
                    output: "HaikuPorter runs builds under a PTY; allow PermitTTY on the builder".into(),
                })
            }
            Some(_) => {}
            None => return Err(conn.lost(shown)),
        }
    }
}

/// Consumes the marker line from the first stdout bytes; returns what follows it.
fn take_marker<'a>(buf: &mut Vec<u8>, data: &'a [u8], pgid: &mut Option<u32>) -> &'a [u8] {
    let before = buf.len();
    buf.extend_from_slice(data);
    let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
        return &[];
    };
    let line = String::from_utf8_lossy(&buf[..nl]).to_string();
    *pgid = line
        .strip_prefix(PID_MARKER)
        .and_then(|p| p.trim().parse().ok())
        .or(Some(0));
    let consumed_from_data = nl + 1 - before;
    buf.clear();
    &data[consumed_from_data..]
}

fn signal_number(sig: &Sig) -> u32 {
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        _ => 0,
    }
}

/// Kills the remote process group (best effort: the builder may already be gone).
async fn kill(conn: &Connection, channel: &russh::Channel<russh::client::Msg>, pgid: Option<u32>) {
    let _ = channel.signal(Sig::KILL).await;
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        let cmd = format!("kill -KILL -- -{pgid}");
        let fut = async {
            if let Ok(mut ch) = conn.session_channel("kill").await {
                if ch.exec(true, cmd.as_str()).await.is_ok() {
                    while let Some(msg) = ch.wait().await {
                        if matches!(msg, ChannelMsg::Close) {
                            break;
                        }
                    }
                }
            }
        };
        if tokio::time::timeout(KILL_TIMEOUT, fut).await.is_err() {
            tracing::warn!(
                builder = conn.builder(),
                pgid,
                "could not kill the remote process group in time"
            );
        }
    }
    let _ = channel.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_stripped_across_chunks() {
        let mut buf = Vec::new();
        let mut pgid = None;
        assert_eq!(take_marker(&mut buf, b"buildmaster-pg", &mut pgid), b"");
        assert_eq!(pgid, None);
        assert_eq!(take_marker(&mut buf, b"id 4242\nhello", &mut pgid), b"hello");
        assert_eq!(pgid, Some(4242));
    }

    #[test]
    fn build_line_sources_the_environment_script_when_present_and_skips_it_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("Setup Env;$x");
        std::fs::write(&env, "export FROM_SETUP='sourced'\n").unwrap();
        let argv = ["sh", "-c", "printf '%s|%s' \"${FROM_SETUP:-none}\" \"$(pwd)\""];
        let cwd = dir.path().to_str().unwrap();
        let run = |env: &str| {
            let line = build_command_line(&argv, cwd, env);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            text.lines().nth(1).unwrap_or_default().to_string()
        };
        assert_eq!(run(env.to_str().unwrap()), format!("sourced|{cwd}"));
        // Absent on a machine that is not Haiku: HaikuPorter's `source` would fail the build here.
        assert_eq!(run("/nonexistent/SetupEnvironment"), format!("none|{cwd}"));
    }

    #[test]
    fn wrapper_runs_exactly_the_argv_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let weird = dir.path().join("d i'r;$x");
        std::fs::create_dir(&weird).unwrap();
        let argv: Vec<String> = ["sh", "-c", "pwd; printf '%s|' \"$@\"", "sh", "a b", "$(id)", "'"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let line = remote_command_line(&argv, Some(weird.to_str().unwrap()));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with(PID_MARKER));
        assert_eq!(lines.next().unwrap(), weird.to_str().unwrap());
        assert_eq!(lines.next().unwrap(), "a b|$(id)|'|");
    }
}
