//! The local builder (processes on the master, the embedded default) under the same contract as a
//! remote one, with the same stand-in build tool that makes real packages with `buildmaster hpkg
//! create`; and `buildmaster builder check` against a real sshd.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster::builders::build::{BuildRequest, ResultDirs};
use buildmaster::builders::builder_conf::BuilderConfValues;
use buildmaster::builders::config::{
    default_build_command, default_purge_command, BuilderPaths, BuilderSpec, Timeouts,
};
use buildmaster::builders::error::{BuilderError, ErrorClass};
use buildmaster::builders::exec::Stream;
use buildmaster::builders::package::WantedPackage;
use buildmaster::builders::ports_tree::PortsTreeSync;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::builders::state::ReconnectPolicy;
use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use buildmaster_storage_fs::FsBackend;
use support::sshd::{current_user, Sshd};
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// A HaikuPorter stand-in: reads PACKAGES_PATH from --config, records what it saw, makes the package
/// with the real `hpkg create`; a `mode` file makes it hang (with a child process) instead.
const STAND_IN: &str = r#"#!/bin/sh
set -e
for a in "$@"; do [ "$a" = --purge ] && exit 0; done
for a in "$@"; do case "$a" in --config=*) conf="${a#--config=}";; esac; port="$a"; done
. "$conf"
top="$TREE_PATH/.."
ls "$PACKAGES_PATH" > "$top/visible.log"
if [ "$(cat "$top/mode" 2>/dev/null)" = hang ]; then sleep 600 & echo $! > "$top/child.pid"; echo working; wait; fi
name="${port%-*}"; version="${port##*-}"
tree="$top/tree-$name"; mkdir -p "$tree/data"; echo "$name" > "$tree/data/readme"
printf 'name %s\nversion %s-1\narchitecture x86_64\nsummary "s"\ndescription "d"\npackager "%s"\nvendor "v"\ncopyrights { c }\nlicenses { MIT }\nprovides { %s = %s-1 }\n' \
  "$name" "$version" "$PACKAGER" "$name" "$version" > "$tree/.PackageInfo"
"@BIN@" hpkg create -C "$tree" "$PACKAGES_PATH/$name-$version-1-x86_64.hpkg"
"#;

fn make_package(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let tree = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("data/x"), name).unwrap();
    std::fs::write(
        tree.join(".PackageInfo"),
        format!(
            "name {name}\nversion 1-1\narchitecture x86_64\nsummary \"s\"\ndescription \"d\"\npackager p\n\
             vendor v\ncopyrights {{ c }}\nlicenses {{ MIT }}\nprovides {{ {name} = 1-1 }}\n"
        ),
    )
    .unwrap();
    let out = dir.join(format!("{name}-1-1-x86_64.hpkg"));
    assert!(std::process::Command::new(BIN)
        .args(["hpkg", "create", "-C"])
        .arg(&tree)
        .arg(&out)
        .status()
        .unwrap()
        .success());
    let bytes = std::fs::read(&out).unwrap();
    (out, bytes)
}

fn wanted(path: &Path, bytes: &[u8], key: Option<ObjectKey>, system: bool) -> WantedPackage {
    WantedPackage {
        file_name: path.file_name().unwrap().to_str().unwrap().into(),
        size: bytes.len() as u64,
        sha256: Sha256Digest::of(bytes),
        local: Some(path.into()),
        key,
        system,
    }
}

#[tokio::test]
async fn local_builder_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tool = root.join("haikuporter");
    std::fs::write(&tool, STAND_IN.replace("@BIN@", BIN)).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&tool)
        .status()
        .unwrap();
    std::fs::create_dir_all(root.join("ports")).unwrap();
    let spec = BuilderSpec {
        name: "local".into(),
        ssh: None,
        paths: BuilderPaths::new(root.join("ports").to_str().unwrap(), None, None, None),
        haikuporter: tool.to_str().unwrap().into(),
        haikuporter_args: Vec::new(),
        timeouts: Timeouts {
            idle_output: Some(Duration::from_secs(30)),
            build: Some(Duration::from_secs(60)),
            ..Timeouts::default()
        },
        build_command: default_build_command(),
        purge_command: default_purge_command(),
        network: Default::default(),
    };
    let spool = root.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let (p_spool, b_spool) = make_package(&spool, "libspool");
    let (p_stored, b_stored) = make_package(&spool, "libstored");
    let (p_sys, b_sys) = make_package(&spool, "haiku");
    let storage: Arc<dyn StorageBackend> = Arc::new(FsBackend::new(root.join("bucket")).unwrap());
    let key = ObjectKey::new("packages/libstored-1-1-x86_64.hpkg").unwrap();
    storage
        .put_bytes(&key, &b_stored, &PutOptions::package(None))
        .await
        .unwrap();
    std::fs::write(&p_stored, b"").unwrap();
    let deps = vec![
        wanted(&p_spool, &b_spool, None, false),
        wanted(&p_stored, &b_stored, Some(key), false),
        wanted(&p_sys, &b_sys, None, true),
    ];
    let dirs = ResultDirs {
        staging: root.join("staging"),
        commit: root.join("committed"),
    };
    // A builder without [ssh] is the master itself, driven by the same flow as a remote one.
    let mut b = RemoteBuilder::new(
        spec.clone(),
        Some(storage),
        BuilderConfValues::default(),
        dirs,
        ReconnectPolicy::default(),
    );
    // The system package is cached already, next to a stale upload.
    std::fs::create_dir_all(&spec.paths.cache).unwrap();
    std::fs::write(Path::new(&spec.paths.cache).join(&deps[2].file_name), &b_sys).unwrap();
    std::fs::write(Path::new(&spec.paths.cache).join("x.hpkg.upload"), b"partial").unwrap();
    b.connect().await.unwrap();
    assert_eq!(b.cache_listing().unwrap().removed_uploads, ["x.hpkg.upload"]);

    let req = BuildRequest {
        number: 1,
        port: "app-3.1".into(),
        dependencies: deps.clone(),
        inputs: Vec::new(),
        results: vec!["app-3.1-1-x86_64.hpkg".into()],
        ports_tree: PortsTreeSync::Skip,
    };
    let cancel = CancellationToken::new();
    let mut quiet = |_: Stream, _: &[u8]| {};
    let first = b.build(&req, &mut quiet, &cancel).await.unwrap();
    let mut sent = first.transfer.sent.clone();
    sent.sort();
    assert_eq!(sent, [deps[0].file_name.clone(), deps[1].file_name.clone()]);
    let visible = std::fs::read_to_string(root.join("visible.log")).unwrap();
    assert_eq!(visible.lines().count(), 3, "{visible}");
    let result = &first.results[0];
    assert_eq!(
        Sha256Digest::of(&std::fs::read(&result.path).unwrap()),
        result.sha256
    );
    let second = b.build(&req, &mut quiet, &cancel).await.unwrap();
    assert!(second.transfer.sent.is_empty());

    let system: HashSet<String> = [deps[2].file_name.clone()].into();
    let pruned = b.prune(&HashSet::new(), &system).await.unwrap();
    assert_eq!(pruned.len(), 3, "{pruned:?}");
    assert_eq!(
        b.cache_listing().unwrap().packages.keys().collect::<Vec<_>>(),
        [&deps[2].file_name]
    );

    // Cancelling a hanging build kills the tool and the child it started.
    std::fs::write(root.join("mode"), "hang").unwrap();
    let canceller = cancel.clone();
    let mut on_output = move |_: Stream, d: &[u8]| {
        if d.starts_with(b"working") {
            canceller.cancel();
        }
    };
    let started = Instant::now();
    let err = b.build(&req, &mut on_output, &cancel).await.unwrap_err();
    assert!(matches!(err, BuilderError::Cancelled { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(20));
    let pid = std::fs::read_to_string(root.join("child.pid"))
        .unwrap()
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the build's child survived cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn builder_check_reports_a_real_builder_and_refuses_a_wrong_host_key() {
    let sshd = Sshd::start();
    let cache = sshd.work.join("packages/.cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("a-1-1-x86_64.hpkg"), vec![7u8; 1000]).unwrap();
    std::fs::write(cache.join("b-1-1-x86_64.hpkg"), vec![7u8; 24]).unwrap();
    // The instance's own config, where `buildrun` and `serve` find it: no --config needed.
    let state = sshd.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = state.join("buildmaster.toml");
    let write_config = |host_key: &str| {
        std::fs::write(
            &config,
            format!(
                "[[builders]]\nname = \"b1\"\n[builders.ssh]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n\
                 private_key_file = \"{}\"\nhost_key = \"{host_key}\"\n[builders.portstree]\npath = \"{}\"\n\
                 [builders.haikuporter]\npath = \"sh\"\n",
                sshd.port,
                current_user(),
                sshd.client_key.display(),
                sshd.work.display()
            ),
        )
        .unwrap();
    };
    write_config(&sshd.host_key_line());
    let run = || {
        std::process::Command::new(BIN)
            .arg("--state-dir")
            .arg(&state)
            .args(["builder", "check", "b1"])
            .env_remove("BUILDMASTER_CONFIG")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("cache:       2 packages, 1024 bytes"), "{stdout}");
    assert!(stdout.contains("build tool:  sh (found)"), "{stdout}");
    assert!(
        stdout.contains("free disk:") && stdout.contains("round trip:"),
        "{stdout}"
    );

    let other = Sshd::start();
    write_config(&other.host_key_line());
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("changed host key") && stderr.contains("SHA256:"),
        "{stderr}"
    );
}

#[test]
fn builder_check_reports_the_implicit_local_builder() {
    // No [[builders]] and no builders directory: buildrun and serve use the local builder, named
    // `local`, and `builder check` knows it too.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cache = state.join("local-builder/packages/.cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("a-1-1-x86_64.hpkg"), vec![7u8; 1000]).unwrap();
    std::fs::write(
        state.join("buildmaster.toml"),
        "[buildrun]\nlocal_haikuporter = \"sh\"\n",
    )
    .unwrap();
    let check = |name: &str| {
        std::process::Command::new(BIN)
            .arg("--state-dir")
            .arg(&state)
            .args(["builder", "check", name])
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_BUILDERS_DIR")
            .output()
            .unwrap()
    };
    let out = check("local");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("local:"), "{stdout}");
    assert!(stdout.contains("cache:       1 packages, 1000 bytes"), "{stdout}");
    assert!(stdout.contains("build tool:  sh (found)"), "{stdout}");
    assert!(
        stdout.contains("free disk:   ") && !stdout.contains("unknown"),
        "{stdout}"
    );

    let out = check("b9");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no builder named \"b9\" (known: local)"),
        "{stderr}"
    );
}
