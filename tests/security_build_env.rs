//! A build's environment holds no secret of the daemon: a build tool that runs `env` on the local
//! builder and on an SSH builder (a real sshd on 127.0.0.1) prints neither `BUILDMASTER_API_TOKEN`
//! nor `AWS_SECRET_ACCESS_KEY`, although the daemon (this test process, and the sshd it starts) has
//! both set.

mod support;

use std::path::Path;
use std::time::Duration;

use buildmaster::builders::build::{BuildRequest, ResultDirs};
use buildmaster::builders::builder_conf::BuilderConfValues;
use buildmaster::builders::config::{
    default_build_command, default_purge_command, BuilderPaths, BuilderSpec, Timeouts,
};
use buildmaster::builders::exec::Stream;
use buildmaster::builders::ports_tree::PortsTreeSync;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::builders::state::ReconnectPolicy;
use support::sshd::Sshd;
use tokio_util::sync::CancellationToken;

/// The values the daemon holds; none may appear in a build's output.
const SECRETS: [(&str, &str); 2] = [
    ("BUILDMASTER_API_TOKEN", "token-that-must-not-leak-1f2e"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-that-must-not-leak-9c8d"),
];

/// A build tool that prints its whole environment and then fails (no package is needed).
const ENV_TOOL: &str = "#!/bin/sh\necho env-start\nenv\necho env-end\nexit 1\n";

fn set_secrets() {
    for (k, v) in SECRETS {
        // Both tests set the same values; nothing in this binary reads them concurrently otherwise.
        std::env::set_var(k, v);
    }
}

fn tool(dir: &Path) -> String {
    let path = dir.join("haikuporter");
    std::fs::write(&path, ENV_TOOL).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&path)
        .status()
        .unwrap();
    path.to_str().unwrap().into()
}

fn request() -> BuildRequest {
    BuildRequest {
        number: 1,
        port: "app-1.0".into(),
        dependencies: Vec::new(),
        inputs: Vec::new(),
        results: vec!["app-1.0-1-x86_64.hpkg".into()],
        ports_tree: PortsTreeSync::Skip,
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        idle_output: Some(Duration::from_secs(30)),
        build: Some(Duration::from_secs(60)),
        ..Timeouts::default()
    }
}

fn assert_no_secret(log: &[u8]) {
    let text = String::from_utf8_lossy(log);
    assert!(text.contains("env-end"), "the tool did not run: {text}");
    assert!(text.contains("PATH="), "the build has no PATH: {text}");
    for (k, v) in SECRETS {
        assert!(
            !text.contains(k) && !text.contains(v),
            "{k} reached the build:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_local_build_sees_no_secret_of_the_daemon() {
    set_secrets();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("ports")).unwrap();
    let spec = BuilderSpec {
        name: "local".into(),
        ssh: None,
        paths: BuilderPaths::new(root.join("ports").to_str().unwrap(), None, None, None),
        haikuporter: tool(root),
        haikuporter_args: Vec::new(),
        timeouts: timeouts(),
        build_command: default_build_command(),
        purge_command: default_purge_command(),
        network: Default::default(),
    };
    let dirs = ResultDirs {
        staging: root.join("staging"),
        commit: root.join("committed"),
    };
    // Without [ssh] the builder is the master itself (same flow, local transport).
    let policy = ReconnectPolicy::default();
    let mut b = RemoteBuilder::new(spec, None, BuilderConfValues::default(), dirs, policy);
    let mut log = Vec::new();
    let mut sink = |_: Stream, d: &[u8]| log.extend_from_slice(d);
    let cancel = CancellationToken::new();
    let err = b.build(&request(), &mut sink, &cancel).await;
    assert!(err.is_err(), "the env tool fails on purpose");
    assert_no_secret(&log);
}

#[tokio::test]
async fn an_ssh_build_sees_no_secret_of_the_daemon() {
    set_secrets();
    // sshd is started with the secrets in its own environment, as a daemon-started one would be.
    let sshd = Sshd::start();
    let ports = sshd.work.join("ports");
    std::fs::create_dir_all(&ports).unwrap();
    let spec = BuilderSpec {
        name: "b1".into(),
        ssh: Some(sshd.target()),
        paths: BuilderPaths::new(ports.to_str().unwrap(), None, None, None),
        haikuporter: tool(sshd.dir.path()),
        haikuporter_args: Vec::new(),
        timeouts: timeouts(),
        build_command: default_build_command(),
        purge_command: default_purge_command(),
        network: Default::default(),
    };
    let out = tempfile::tempdir().unwrap();
    let policy = ReconnectPolicy {
        base: Duration::from_millis(100),
        max: Duration::from_millis(500),
        lost_after: 3,
        reprobe_lost: Duration::from_millis(500),
    };
    let dirs = ResultDirs {
        staging: out.path().join("staging"),
        commit: out.path().join("committed"),
    };
    let mut r = RemoteBuilder::new(spec, None, BuilderConfValues::default(), dirs, policy);
    let mut log = Vec::new();
    let mut sink = |_: Stream, d: &[u8]| log.extend_from_slice(d);
    let cancel = CancellationToken::new();
    let err = r.build(&request(), &mut sink, &cancel).await;
    assert!(err.is_err(), "the env tool fails on purpose");
    assert_no_secret(&log);
}
