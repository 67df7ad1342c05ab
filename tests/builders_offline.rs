//! Builds without network (`network = "none"`) on a real OpenSSH sshd builder on 127.0.0.1 and on the
//! local builder, through the one builder flow: the build step records the interfaces it sees
//! (`ip -o link`, `/proc/net/dev`) and tries a TCP connection to a listener this test owns on
//! 127.0.0.1 in the host's namespace. With "none" it sees only `lo` and the listener gets nothing;
//! with "host" the connection arrives. And the job's inputs (sources) are checked before the build
//! starts: a tampered one fails naming it and both digests, a missing one fails naming it, and in
//! neither case does the build run.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use buildmaster::builders::build::{BuildRequest, ResultDirs};
use buildmaster::builders::builder_conf::BuilderConfValues;
use buildmaster::builders::config::{BuilderPaths, BuilderSpec, NetworkMode, Timeouts};
use buildmaster::builders::error::BuilderError;
use buildmaster::builders::exec::Stream;
use buildmaster::builders::package::PlacedInput;
use buildmaster::builders::ports_tree::PortsTreeSync;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::builders::state::ReconnectPolicy;
use buildmaster_storage::Sha256Digest;
use support::netns::{got_connection, proc_net_dev_interfaces};
use support::sshd::Sshd;
use tokio_util::sync::CancellationToken;

/// The build step: what network it sees, and whether it can reach the test's listener.
const PROBE: &str = r#"#!/bin/sh
out="$1"; port="$2"
{ ip -o link 2>&1; echo ---; cat /proc/net/dev; } > "$out/net.txt"
if bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then echo connected; else echo refused; fi > "$out/connect.txt"
"#;

/// Where one builder's files are, on the same machine for both kinds.
struct Place {
    /// The builder's ports tree (the build's working directory).
    ports: PathBuf,
    /// Where the probe writes what it saw.
    out: PathBuf,
    /// The probe script.
    probe: PathBuf,
}

fn place(root: &Path) -> Place {
    let (ports, out, probe) = (root.join("ports"), root.join("seen"), root.join("probe.sh"));
    std::fs::create_dir_all(&ports).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(&probe, PROBE).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&probe)
        .status()
        .unwrap();
    Place { ports, out, probe }
}

fn builder(
    name: &str,
    ssh: Option<buildmaster::builders::config::SshTarget>,
    p: &Place,
    network: NetworkMode,
    listener_port: u16,
    results: &Path,
) -> RemoteBuilder {
    let spec = BuilderSpec {
        name: name.into(),
        ssh,
        paths: BuilderPaths::new(p.ports.to_str().unwrap(), None, None, None),
        haikuporter: "unused".into(),
        haikuporter_args: Vec::new(),
        timeouts: Timeouts {
            build: Some(Duration::from_secs(60)),
            ..Timeouts::default()
        },
        build_command: vec![
            p.probe.to_str().unwrap().into(),
            p.out.to_str().unwrap().into(),
            listener_port.to_string(),
        ],
        purge_command: Vec::new(),
        network,
    };
    let dirs = ResultDirs {
        staging: results.join("staging"),
        commit: results.join("committed"),
    };
    RemoteBuilder::new(
        spec,
        None,
        BuilderConfValues::default(),
        dirs,
        ReconnectPolicy::default(),
    )
}

fn request(inputs: Vec<PlacedInput>) -> BuildRequest {
    BuildRequest {
        number: 1,
        port: "app-1.0".into(),
        dependencies: Vec::new(),
        inputs,
        results: Vec::new(),
        ports_tree: PortsTreeSync::Skip,
    }
}

/// Builds once with `network` and checks what the build saw.
async fn build_and_look(b: &mut RemoteBuilder, p: &Place, listener: &TcpListener, offline: bool) {
    let _ = std::fs::remove_file(p.out.join("net.txt"));
    let mut log = Vec::new();
    let mut sink = |_: Stream, d: &[u8]| log.extend_from_slice(d);
    let cancel = CancellationToken::new();
    b.build(&request(Vec::new()), &mut sink, &cancel)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {}", String::from_utf8_lossy(&log)));
    let net = std::fs::read_to_string(p.out.join("net.txt")).unwrap();
    let connect = std::fs::read_to_string(p.out.join("connect.txt")).unwrap();
    let links: Vec<&str> = net.split("---\n").next().unwrap().lines().collect();
    let interfaces = proc_net_dev_interfaces(&net);
    let connected = got_connection(listener);
    if offline {
        assert_eq!(links.len(), 1, "only loopback: {net}");
        assert!(links[0].starts_with("1: lo:"), "{net}");
        assert_eq!(interfaces, ["lo"], "{net}");
        assert_eq!(connect.trim(), "refused");
        assert!(!connected, "the listener got a connection from an offline build");
    } else {
        assert_eq!(connect.trim(), "connected", "{net}");
        assert!(connected, "the host-network build did not reach the listener");
    }
}

fn listener() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

#[tokio::test]
async fn an_ssh_builder_builds_without_network_when_told_and_with_it_otherwise() {
    let sshd = Sshd::start();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let p = place(&sshd.work);
    let results = tempfile::tempdir().unwrap();
    for (mode, offline) in [(NetworkMode::None, true), (NetworkMode::Host, false)] {
        let mut b = builder("b1", Some(sshd.target()), &p, mode, port, results.path());
        b.connect().await.unwrap();
        build_and_look(&mut b, &p, &listener, offline).await;
        b.disconnect().await;
    }
}

#[tokio::test]
async fn the_local_builder_builds_without_network_when_told_and_with_it_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let p = place(dir.path());
    for (mode, offline) in [(NetworkMode::None, true), (NetworkMode::Host, false)] {
        let mut b = builder("local", None, &p, mode, port, dir.path());
        b.connect().await.unwrap();
        build_and_look(&mut b, &p, &listener, offline).await;
    }
}

#[tokio::test]
async fn inputs_are_checked_before_an_offline_build_starts() {
    let sshd = Sshd::start();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let p = place(&sshd.work);
    let results = tempfile::tempdir().unwrap();
    let mut b = builder(
        "b1",
        Some(sshd.target()),
        &p,
        NetworkMode::None,
        port,
        results.path(),
    );
    b.connect().await.unwrap();

    let good = b"the source archive".to_vec();
    let cache = tempfile::tempdir().unwrap();
    let cached = cache.path().join("app-1.0.tar.gz");
    let dest = p.ports.join("app/download/app-1.0.tar.gz");
    let input = |local: Option<PathBuf>| PlacedInput {
        name: "app-1.0.tar.gz".into(),
        size: good.len() as u64,
        sha256: Sha256Digest::of(&good),
        dest: dest.to_str().unwrap().into(),
        local,
        key: None,
    };
    let cancel = CancellationToken::new();
    let mut quiet = |_: Stream, _: &[u8]| {};

    // Tampered in the master's cache (same size, other bytes): refused while streaming.
    let mut tampered = good.clone();
    tampered[0] ^= 1;
    std::fs::write(&cached, &tampered).unwrap();
    let err = b
        .build(&request(vec![input(Some(cached.clone()))]), &mut quiet, &cancel)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BuilderError::Verify { .. }), "{text}");
    assert!(text.contains("app-1.0.tar.gz"), "{text}");
    assert!(text.contains(&Sha256Digest::of(&good).to_hex()), "{text}");
    assert!(text.contains(&Sha256Digest::of(&tampered).to_hex()), "{text}");
    assert!(!p.out.join("net.txt").exists(), "the build ran");
    assert!(!dest.exists(), "a tampered input was put in place");

    // Missing everywhere: refused before the build, naming it.
    let err = b
        .build(&request(vec![input(None)]), &mut quiet, &cancel)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BuilderError::Input { .. }), "{text}");
    assert!(
        text.contains("app-1.0.tar.gz") && text.contains("is missing"),
        "{text}"
    );
    assert!(!p.out.join("net.txt").exists(), "the build ran");

    // A wrong file already on the builder with no good copy on the master: refused, both digests.
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, &tampered).unwrap();
    let err = b
        .build(&request(vec![input(None)]), &mut quiet, &cancel)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("does not match"), "{text}");
    assert!(text.contains(&Sha256Digest::of(&tampered).to_hex()), "{text}");
    assert!(!p.out.join("net.txt").exists(), "the build ran");

    // The good source: streamed, verified, in place, and the build runs offline.
    std::fs::write(&cached, &good).unwrap();
    b.connect().await.unwrap();
    b.build(&request(vec![input(Some(cached))]), &mut quiet, &cancel)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), good);
    assert!(!got_connection(&listener));
    let net = std::fs::read_to_string(p.out.join("net.txt")).unwrap();
    assert_eq!(proc_net_dev_interfaces(&net), ["lo"], "{net}");
}
