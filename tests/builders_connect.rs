//! Builder connections and remote commands against real OpenSSH sshd on 127.0.0.1: client key types,
//! host-key pinning (refused before anything is sent or run), strict quoting, live output, cancellation
//! that kills the remote process, and loss detection for a SIGKILLed and a SIGSTOPped sshd.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use buildmaster::builders::config::{HostKeyPin, SshTarget, Timeouts};
use buildmaster::builders::connection::Connection;
use buildmaster::builders::error::{BuilderError, ErrorClass, HostKeyProblem};
use buildmaster::builders::exec::{ExecLimits, Stream};
use buildmaster::builders::host;
use buildmaster::builders::host::{Command, RunCommand};
use support::sshd::{KeyType, Sshd};
use tokio_util::sync::CancellationToken;

fn target(sshd: &Sshd, pin: HostKeyPin) -> SshTarget {
    sshd.target_pinned(pin)
}

fn fast_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        keepalive_interval: Duration::from_secs(1),
        keepalive_max: 2,
        idle_output: Some(Duration::from_secs(30)),
        build: Some(Duration::from_secs(60)),
        command: Duration::from_secs(30),
    }
}

fn limits(idle: Option<Duration>, total: Duration) -> ExecLimits {
    ExecLimits {
        idle_output: idle,
        total: Some(total),
        cancel: CancellationToken::new(),
        is_build: true,
        probe: Duration::from_secs(2),
        pty: false,
    }
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

async fn connect(sshd: &Sshd) -> Connection {
    Connection::open(
        "b1",
        &target(sshd, HostKeyPin::KnownHosts(sshd.known_hosts.clone())),
        &fast_timeouts(),
    )
    .await
    .unwrap_or_else(|e| panic!("connect: {e}\n{}", sshd.log()))
}

fn ssh_keygen_fingerprint(pubkey: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn every_client_key_type_authenticates_and_runs_commands() {
    for kind in [KeyType::Ed25519, KeyType::Ecdsa, KeyType::Rsa] {
        let sshd = Sshd::start_with(kind);
        let conn = connect(&sshd).await;
        let out = host::run_capture(
            &conn,
            &argv(&["echo", "hello"]),
            None,
            &limits(None, Duration::from_secs(20)),
        )
        .await
        .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_slice()),
            (0, &b"hello\n"[..]),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn wrong_or_unknown_host_key_is_refused_before_anything_runs() {
    let good = Sshd::start();
    let other = Sshd::start();
    let presented = ssh_keygen_fingerprint(&good.host_key_pub);
    let marker = good.work.join("ran");
    let pins = [
        // Pinned to another machine's key: a changed key.
        (HostKeyPin::Key(other.host_key_line()), HostKeyProblem::Changed),
        // known_hosts with only another port's entry: an unknown host.
        (
            HostKeyPin::KnownHosts(other.known_hosts.clone()),
            HostKeyProblem::Unknown,
        ),
    ];
    for (pin, expected) in pins {
        let err = Connection::open("b1", &target(&good, pin), &fast_timeouts())
            .await
            .unwrap_err();
        let BuilderError::HostKey {
            problem,
            ref fingerprint,
            ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(problem, expected);
        assert_eq!(fingerprint, &presented);
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{}", good.port)) && text.contains(&presented),
            "{text}"
        );
        assert_eq!(err.class(), ErrorClass::Infrastructure);
    }
    // Nothing authenticated, so nothing could have run.
    assert!(!good.log().contains("Accepted publickey"), "{}", good.log());
    assert!(!marker.exists());
    // The right pin works, and a command runs once we are connected.
    let conn = connect(&good).await;
    host::run_checked(
        &conn,
        &argv(&["touch", marker.to_str().unwrap()]),
        None,
        &limits(None, Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert!(marker.exists() && good.log().contains("Accepted publickey"));
}

#[tokio::test]
async fn metacharacters_in_arguments_run_nothing_but_the_intended_command() {
    let sshd = Sshd::start();
    let conn = connect(&sshd).await;
    let canary = sshd.work.join("pwned");
    let hostile = format!(
        "x'; touch {0}; echo '$(touch {0})`touch {0}`\n&& touch {0} | touch {0} >{0}",
        canary.display()
    );
    let dir = sshd.work.join("a dir; with $x");
    std::fs::create_dir(&dir).unwrap();
    let out = host::run_capture(
        &conn,
        &argv(&["printf", "%s", &hostile]),
        Some(dir.to_str().unwrap()),
        &limits(None, Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), hostile);
    assert!(!canary.exists(), "a metacharacter reached the shell");
}

#[tokio::test]
async fn output_streams_live_and_cancel_kills_the_remote_process_group() {
    let sshd = Sshd::start();
    let conn = connect(&sshd).await;
    let pidfile = sshd.work.join("child.pid");
    let script = format!("sleep 300 & echo $! > {}; echo started; wait", pidfile.display());
    let lim = limits(None, Duration::from_secs(60));
    let cancel = lim.cancel.clone();
    let mut first_output = None;
    let started = Instant::now();
    let mut sink = |stream: Stream, data: &[u8]| {
        if stream == Stream::Stdout && data.starts_with(b"started") && first_output.is_none() {
            first_output = Some(started.elapsed());
            cancel.cancel();
        }
    };
    let err = RunCommand::run(
        &conn,
        Command::new(&argv(&["sh", "-c", &script]), None),
        &lim,
        &mut sink,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BuilderError::Cancelled { .. }), "{err}");
    assert!(
        first_output.unwrap() < Duration::from_secs(5),
        "output was not streamed live"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the remote child {pid} survived cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_output_timeout_on_a_live_builder_is_a_build_failure() {
    let sshd = Sshd::start();
    let conn = connect(&sshd).await;
    let started = Instant::now();
    let err = host::run_capture(
        &conn,
        &argv(&["sleep", "60"]),
        None,
        &limits(Some(Duration::from_secs(2)), Duration::from_secs(30)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BuilderError::Timeout {
                what: "printed nothing",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::BuildFailure);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn killed_and_stopped_sshd_are_detected_as_transport_within_the_keepalive_budget() {
    // Keepalive 1 s × 2: a hung builder must be noticed within a few seconds, not the idle timeout.
    let mut killed = Sshd::start();
    let stopped = Sshd::start();
    let (ck, cs) = (connect(&killed).await, connect(&stopped).await);
    let lim = limits(Some(Duration::from_secs(120)), Duration::from_secs(120));
    let sleep = argv(&["sleep", "100"]);
    let run_killed = host::run_capture(&ck, &sleep, None, &lim);
    let run_stopped = host::run_capture(&cs, &sleep, None, &lim);
    let faults = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        killed.kill();
        stopped.stop();
        Instant::now()
    };
    let (rk, rs, injected) = tokio::join!(
        async { (run_killed.await, Instant::now()) },
        async { (run_stopped.await, Instant::now()) },
        faults
    );
    for (name, (result, at)) in [("killed", rk), ("stopped", rs)] {
        let err = result.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transport, "{name}: {err}");
        let after = at.saturating_duration_since(injected);
        assert!(after < Duration::from_secs(10), "{name} noticed after {after:?}");
    }
    stopped.cont();
}

#[tokio::test]
async fn stalled_cut_and_dropping_links_are_transport_errors_within_the_timeouts() {
    use support::sshd::{Proxy, ProxyMode};
    let sshd = Sshd::start();
    let proxy = Proxy::start(sshd.port).await;
    // Through the proxy the port differs from the known_hosts entry, so pin the key itself.
    let mut via_proxy = target(&sshd, HostKeyPin::Key(sshd.host_key_line()));
    via_proxy.port = proxy.port;
    let lim = limits(Some(Duration::from_secs(120)), Duration::from_secs(120));
    let sleep = argv(&["sleep", "100"]);

    for fault in ["stall", "cut"] {
        proxy.set_mode(ProxyMode::Pass);
        let conn = Connection::open("b1", &via_proxy, &fast_timeouts())
            .await
            .unwrap();
        let run = host::run_capture(&conn, &sleep, None, &lim);
        let inject = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            match fault {
                "stall" => proxy.set_mode(ProxyMode::Stall),
                _ => proxy.cut(),
            }
            Instant::now()
        };
        let ((result, at), injected) = tokio::join!(async { (run.await, Instant::now()) }, inject);
        let err = result.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transport, "{fault}: {err}");
        let after = at.saturating_duration_since(injected);
        assert!(after < Duration::from_secs(10), "{fault} noticed after {after:?}");
    }

    // A link that drops every new connection: connecting fails as a transport error, quickly.
    proxy.set_mode(ProxyMode::Drop);
    let started = Instant::now();
    let err = Connection::open("b1", &via_proxy, &fast_timeouts())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transport, "{err}");
    assert!(started.elapsed() <= fast_timeouts().connect + Duration::from_secs(1));
    // And a stalled one hits the connect timeout rather than hanging.
    proxy.set_mode(ProxyMode::Stall);
    let started = Instant::now();
    let err = Connection::open("b1", &via_proxy, &fast_timeouts())
        .await
        .unwrap_err();
    assert!(matches!(err, BuilderError::Connect { .. }), "{err}");
    assert!(started.elapsed() < fast_timeouts().connect + Duration::from_secs(2));
}

#[tokio::test]
async fn a_builder_behind_a_jump_host_is_reached_through_direct_tcpip_with_both_keys_pinned() {
    let jump = Sshd::start();
    let builder = Sshd::start();
    let mut via_jump = target(&builder, HostKeyPin::KnownHosts(builder.known_hosts.clone()));
    via_jump.jump = Some(Box::new(target(
        &jump,
        HostKeyPin::KnownHosts(jump.known_hosts.clone()),
    )));
    let conn = Connection::open("b1", &via_jump, &fast_timeouts()).await.unwrap();
    let marker = builder.work.join("via-jump");
    host::run_checked(
        &conn,
        &argv(&["touch", marker.to_str().unwrap()]),
        None,
        &limits(None, Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert!(marker.exists());
    assert!(jump.log().contains("Accepted publickey") && builder.log().contains("Accepted publickey"));

    // The builder's key is still checked when it is reached through the jump host.
    let mut wrong = via_jump.clone();
    wrong.host_key = HostKeyPin::Key(jump.host_key_line());
    let err = Connection::open("b1", &wrong, &fast_timeouts())
        .await
        .unwrap_err();
    assert!(matches!(err, BuilderError::HostKey { .. }), "{err}");
}
