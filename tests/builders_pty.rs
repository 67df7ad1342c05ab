//! The build tool runs under a PTY as in HaikuPorter (`RemoteBuilderSSH._remoteCommand` calls
//! `get_pty()`), against real OpenSSH sshd on 127.0.0.1: a dropped connection hangs the build up
//! (SIGHUP) instead of leaving it running on the builder, and its output is line-buffered, so the log
//! is live. Each test also runs the same command without a PTY, to show what the PTY changes.

mod support;

use std::time::{Duration, Instant};

use buildmaster::builders::config::{HostKeyPin, SshTarget, Timeouts};
use buildmaster::builders::connection::Connection;
use buildmaster::builders::exec::{ExecLimits, Stream};
use buildmaster::builders::host::{Command, RunCommand};
use support::sshd::{current_user, Proxy, Sshd};
use tokio_util::sync::CancellationToken;

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        keepalive_interval: Duration::from_secs(1),
        keepalive_max: 2,
        idle_output: None,
        build: None,
        command: Duration::from_secs(30),
    }
}

/// HaikuPorter's limits for a build: none but cancellation.
fn build_limits(pty: bool, cancel: &CancellationToken) -> ExecLimits {
    ExecLimits {
        idle_output: None,
        total: None,
        cancel: cancel.clone(),
        is_build: true,
        probe: Duration::from_secs(2),
        pty,
    }
}

fn target(sshd: &Sshd, port: u16) -> SshTarget {
    SshTarget {
        host: "127.0.0.1".into(),
        port,
        user: current_user(),
        private_key: std::fs::read_to_string(&sshd.client_key).unwrap(),
        // Through the proxy the port differs from the known_hosts entry, so pin the key itself.
        host_key: HostKeyPin::Key(sshd.host_key_line()),
        jump: None,
    }
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Waits up to `limit` for the file to hold a pid.
async fn read_pid(path: &std::path::Path, limit: Duration) -> u32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "{} was never written", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dropped_connection_hangs_up_a_build_under_a_pty() {
    let sshd = Sshd::start();
    let proxy = Proxy::start(sshd.port).await;
    for pty in [true, false] {
        let conn = Connection::open("b1", &target(&sshd, proxy.port), &timeouts())
            .await
            .unwrap();
        let pidfile = sshd.work.join(format!("pid-{pty}"));
        let script = format!("echo $$ > '{}'; exec sleep 60", pidfile.display());
        let cmd = argv(&["sh", "-c", &script]);
        let cancel = CancellationToken::new();
        let limits = build_limits(pty, &cancel);
        let mut sink = |_: Stream, _: &[u8]| {};
        let run = RunCommand::run(&conn, Command::new(&cmd, None), &limits, &mut sink);
        let cut = async {
            let pid = read_pid(&pidfile, Duration::from_secs(10)).await;
            assert!(alive(pid));
            proxy.cut();
            pid
        };
        let (result, pid) = tokio::join!(run, cut);
        assert!(result.is_err(), "the run survived a cut connection");
        // sshd notices the cut at once (the proxy closes both sides) and closes the terminal.
        // (Without a PTY, 3 s is plenty to see that nothing happens.)
        let deadline = Instant::now() + Duration::from_secs(if pty { 10 } else { 3 });
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if pty {
            assert!(
                !alive(pid),
                "the build outlived its connection although it had a PTY"
            );
        } else {
            // Without a terminal nothing tells the command its connection is gone: this is what the
            // PTY prevents. Clean up the process this test started.
            assert!(
                alive(pid),
                "without a PTY the command was expected to keep running"
            );
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[tokio::test]
async fn output_under_a_pty_is_line_buffered_and_keeps_plain_newlines() {
    let sshd = Sshd::start();
    let conn = Connection::open("b1", &target(&sshd, sshd.port), &timeouts())
        .await
        .unwrap();
    // perl buffers its standard output unless it is a terminal, as C stdio does.
    let cmd = argv(&["perl", "-e", "print \"first line\\n\"; sleep 30"]);
    for pty in [true, false] {
        let cancel = CancellationToken::new();
        let limits = build_limits(pty, &cancel);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let mut sink = move |_: Stream, d: &[u8]| {
            let _ = tx.send(d.to_vec());
        };
        let run = RunCommand::run(&conn, Command::new(&cmd, None), &limits, &mut sink);
        let watch = async {
            let mut seen = Vec::new();
            let wait = if pty { 10 } else { 3 };
            let _ = tokio::time::timeout(Duration::from_secs(wait), async {
                while let Some(chunk) = rx.recv().await {
                    seen.extend_from_slice(&chunk);
                    if seen.ends_with(b"\n") {
                        break;
                    }
                }
            })
            .await;
            cancel.cancel();
            seen
        };
        let (result, seen) = tokio::join!(run, watch);
        assert!(
            result.is_err(),
            "the command was expected to be cancelled while sleeping"
        );
        if pty {
            assert_eq!(String::from_utf8_lossy(&seen), "first line\n");
        } else {
            assert!(
                seen.is_empty(),
                "without a PTY the line was expected to stay buffered: {seen:?}"
            );
        }
    }
}

#[tokio::test]
async fn without_limits_a_silent_build_runs_to_its_end() {
    let sshd = Sshd::start();
    let conn = Connection::open("b1", &target(&sshd, sshd.port), &timeouts())
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let exit = RunCommand::run(
        &conn,
        Command::new(&argv(&["sh", "-c", "sleep 3; echo done"]), None),
        &build_limits(true, &cancel),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(exit.status, 0);
    // The defaults are HaikuPorter's: no idle-output or wall-clock limit on a build.
    assert_eq!(
        (Timeouts::default().idle_output, Timeouts::default().build),
        (None, None)
    );
}
