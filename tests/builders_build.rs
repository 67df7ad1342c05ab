//! Builds on real OpenSSH sshd builders on 127.0.0.1 (two at once), with a test-owned stand-in for
//! HaikuPorter that makes real packages with `buildmaster hpkg create`.
//!
//! The stand-in honours HaikuPorter's builder contract: it is called as `<tool> --config=<builder.conf>
//! --no-system-packages --no-package-obsoletion --ignore-messages <name-version>` in the ports tree,
//! reads `PACKAGES_PATH` from the config, and writes `<name>-<version>-1-x86_64.hpkg` there. It records
//! its argv and what it saw in the packages directory, and a `mode` file next to the ports tree makes
//! it fail, hang, omit its result or lie about its identity. Called with `--purge` it only appends to
//! `sequence.log` (as builds do), so the order of purges and builds can be checked.

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
use buildmaster::builders::remote::{spawn_health_task, RemoteBuilder};
use buildmaster::builders::state::{BuilderState, ReconnectPolicy};
use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use buildmaster_storage_fs::FsBackend;
use support::sshd::Sshd;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

const STAND_IN: &str = r#"#!/bin/sh
set -e
purge=0
for a in "$@"; do case "$a" in --config=*) conf="${a#--config=}";; --purge) purge=1;; esac; port="$a"; done
. "$conf"
top="$TREE_PATH/.."
mode=$(cat "$top/mode" 2>/dev/null || echo ok)
if [ "$purge" = 1 ]; then
  echo "purge $port" >> "$top/sequence.log"
  [ "$mode" = purgefail ] && { echo "error: cannot purge" >&2; exit 4; }
  exit 0
fi
echo "build $port" >> "$top/sequence.log"
tty=no; [ -t 1 ] && tty=yes; echo "$tty" > "$top/tty.log"
printf '%s\n' "$@" > "$top/argv.log"
ls "$PACKAGES_PATH" > "$top/visible.log"
echo "building $port in $(pwd)"
case "$mode" in
  fail) echo "error: the recipe failed" >&2; exit 3;;
  missing) exit 0;;
  hang) echo "working"; sleep 600; exit 0;;
esac
name="${port%-*}"; version="${port##*-}"
claimed="$version"; [ "$mode" = wrongname ] && claimed="9.9"
tree="$top/tree-$name"; mkdir -p "$tree/data"; echo "$name $version" > "$tree/data/readme"
cat > "$tree/.PackageInfo" <<EOF
name $name
version $claimed-1
architecture x86_64
summary "$name"
description "$name built by the stand-in"
packager "$PACKAGER"
vendor "Haiku Project"
copyrights { c }
licenses { MIT }
provides { $name = $claimed-1 }
EOF
"@BIN@" hpkg create -C "$tree" "$PACKAGES_PATH/$name-$version-1-x86_64.hpkg"
echo "done"
"#;

/// A builder under test: its sshd, spec and the stand-in tool.
struct TestBuilder {
    sshd: Sshd,
    spec: BuilderSpec,
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        keepalive_interval: Duration::from_secs(1),
        keepalive_max: 2,
        idle_output: Some(Duration::from_secs(60)),
        build: Some(Duration::from_secs(120)),
        command: Duration::from_secs(60),
    }
}

fn test_builder(name: &str) -> TestBuilder {
    let sshd = Sshd::start();
    let tool = sshd.dir.path().join("haikuporter");
    std::fs::write(&tool, STAND_IN.replace("@BIN@", BIN)).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&tool)
        .status()
        .unwrap();
    let ports = sshd.work.join("ports");
    std::fs::create_dir_all(&ports).unwrap();
    let spec = BuilderSpec {
        name: name.into(),
        ssh: Some(sshd.target()),
        paths: BuilderPaths::new(ports.to_str().unwrap(), None, None, None),
        haikuporter: tool.to_str().unwrap().into(),
        haikuporter_args: Vec::new(),
        timeouts: timeouts(),
        build_command: default_build_command(),
        purge_command: default_purge_command(),
        network: Default::default(),
    };
    TestBuilder { sshd, spec }
}

fn remote(tb: &TestBuilder, storage: Option<Arc<dyn StorageBackend>>, results: &Path) -> RemoteBuilder {
    let policy = ReconnectPolicy {
        base: Duration::from_millis(100),
        max: Duration::from_millis(500),
        lost_after: 3,
        reprobe_lost: Duration::from_millis(500),
    };
    let dirs = ResultDirs {
        staging: results.join("staging"),
        commit: results.join("committed"),
    };
    RemoteBuilder::new(
        tb.spec.clone(),
        storage,
        BuilderConfValues::default(),
        dirs,
        policy,
    )
}

/// Makes `name-1.0-1-x86_64.hpkg` in `dir` with the real `hpkg create`; returns its path.
fn make_package(dir: &Path, name: &str) -> PathBuf {
    let tree = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("data/readme"), format!("{name} payload\n").repeat(1000)).unwrap();
    let info = format!(
        "name {name}\nversion 1.0-1\narchitecture x86_64\nsummary \"{name}\"\ndescription \"{name}\"\n\
         packager p\nvendor \"Haiku Project\"\ncopyrights {{ c }}\nlicenses {{ MIT }}\nprovides {{ {name} = 1.0-1 }}\n"
    );
    std::fs::write(tree.join(".PackageInfo"), info).unwrap();
    let out = dir.join(format!("{name}-1.0-1-x86_64.hpkg"));
    let status = std::process::Command::new(BIN)
        .args(["hpkg", "create", "-C"])
        .arg(&tree)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn wanted(path: &Path, key: Option<ObjectKey>, system: bool, bytes: &[u8]) -> WantedPackage {
    WantedPackage {
        file_name: path.file_name().unwrap().to_str().unwrap().into(),
        size: bytes.len() as u64,
        sha256: Sha256Digest::of(bytes),
        local: Some(path.into()),
        key,
        system,
    }
}

fn request(port: &str, deps: &[WantedPackage], results: &[&str]) -> BuildRequest {
    BuildRequest {
        number: 1,
        port: port.into(),
        dependencies: deps.to_vec(),
        inputs: Vec::new(),
        results: results.iter().map(|s| s.to_string()).collect(),
        ports_tree: PortsTreeSync::Skip,
    }
}

/// Three dependencies: one real in the spool, one only in storage (the spool file is a stub), one
/// system package.
struct Deps {
    _dir: tempfile::TempDir,
    storage: Arc<dyn StorageBackend>,
    spool: WantedPackage,
    stored: WantedPackage,
    system: WantedPackage,
}

async fn three_dependencies() -> Deps {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let system_dir = dir.path().join("system");
    std::fs::create_dir_all(&spool_dir).unwrap();
    std::fs::create_dir_all(&system_dir).unwrap();
    let spool_path = make_package(&spool_dir, "libspool");
    let stored_path = make_package(&spool_dir, "libstored");
    let system_path = make_package(&system_dir, "haiku");
    let storage: Arc<dyn StorageBackend> = Arc::new(FsBackend::new(dir.path().join("bucket")).unwrap());
    let stored_bytes = std::fs::read(&stored_path).unwrap();
    let key = ObjectKey::new("packages/libstored-1.0-1-x86_64.hpkg").unwrap();
    storage
        .put_bytes(
            &key,
            &stored_bytes,
            &PutOptions::package(Some(Sha256Digest::of(&stored_bytes))),
        )
        .await
        .unwrap();
    // Uploaded and verified: the spool copy becomes a zero-byte stub.
    std::fs::write(&stored_path, b"").unwrap();
    Deps {
        spool: wanted(&spool_path, None, false, &std::fs::read(&spool_path).unwrap()),
        stored: wanted(&stored_path, Some(key), false, &stored_bytes),
        system: wanted(&system_path, None, true, &std::fs::read(&system_path).unwrap()),
        storage,
        _dir: dir,
    }
}

fn no_output() -> impl FnMut(Stream, &[u8]) + Send {
    |_, _| {}
}

#[tokio::test]
async fn two_builders_get_exactly_the_missing_dependencies_verified_results_and_keep_system_packages() {
    let deps = three_dependencies().await;
    let all = [deps.spool.clone(), deps.stored.clone(), deps.system.clone()];
    let (b1, b2) = (test_builder("b1"), test_builder("b2"));
    // Builder 1 already has the system package cached (as after an earlier run).
    let cache1 = PathBuf::from(&b1.spec.paths.cache);
    std::fs::create_dir_all(&cache1).unwrap();
    std::fs::copy(
        deps.system.local.as_ref().unwrap(),
        cache1.join(&deps.system.file_name),
    )
    .unwrap();
    // And a stale upload from a connection lost mid-transfer.
    std::fs::write(cache1.join("junk-1-1-x86_64.hpkg.upload"), b"partial").unwrap();

    let out = tempfile::tempdir().unwrap();
    let mut r1 = remote(&b1, Some(deps.storage.clone()), &out.path().join("r1"));
    let mut r2 = remote(&b2, Some(deps.storage.clone()), &out.path().join("r2"));
    let cancel = CancellationToken::new();
    let req = request("app-2.0", &all, &["app-2.0-1-x86_64.hpkg"]);
    let mut log1 = Vec::new();
    let mut sink1 = |_: Stream, d: &[u8]| log1.extend_from_slice(d);
    let mut sink2 = no_output();
    // Both builders at once: transfers to different builders proceed in parallel.
    let (o1, o2) = tokio::join!(
        r1.build(&req, &mut sink1, &cancel),
        r2.build(&req, &mut sink2, &cancel)
    );
    let (o1, o2) = (o1.unwrap(), o2.unwrap());
    assert!(
        String::from_utf8_lossy(&log1).contains("building app-2.0"),
        "build output was not streamed"
    );
    assert!(
        !cache1.join("junk-1-1-x86_64.hpkg.upload").exists(),
        "stale upload was not removed"
    );

    let mut sent1 = o1.transfer.sent.clone();
    sent1.sort();
    assert_eq!(
        sent1,
        [deps.spool.file_name.clone(), deps.stored.file_name.clone()],
        "builder 1 sent"
    );
    assert_eq!(
        o1.transfer.already_cached,
        std::slice::from_ref(&deps.system.file_name)
    );
    assert_eq!(o2.transfer.sent.len(), 3, "builder 2 started empty");
    // The storage-only package arrived whole although its spool file is a stub.
    let stored_on_builder = std::fs::read(cache1.join(&deps.stored.file_name)).unwrap();
    assert_eq!(Sha256Digest::of(&stored_on_builder), deps.stored.sha256);
    // Exactly the dependencies were visible to the build.
    let visible = std::fs::read_to_string(b1.sshd.work.join("visible.log")).unwrap();
    let mut visible: Vec<&str> = visible.lines().collect();
    visible.sort();
    let mut expected: Vec<&str> = all.iter().map(|p| p.file_name.as_str()).collect();
    expected.sort();
    assert_eq!(visible, expected);

    // Results: verified and committed.
    for o in [&o1, &o2] {
        assert_eq!(o.results.len(), 1);
        let r = &o.results[0];
        assert_eq!(r.file_name, "app-2.0-1-x86_64.hpkg");
        assert_eq!(Sha256Digest::of(&std::fs::read(&r.path).unwrap()), r.sha256);
    }

    // A second build needs nothing new.
    let again = r1
        .build(
            &request("app-2.0", &all, &["app-2.0-1-x86_64.hpkg"]),
            &mut no_output(),
            &cancel,
        )
        .await
        .unwrap();
    assert!(
        again.transfer.sent.is_empty(),
        "second build sent {:?}",
        again.transfer.sent
    );

    // Pruning with an empty repository keeps only system packages.
    let system: HashSet<String> = [deps.system.file_name.clone()].into();
    let mut pruned = r1.prune(&HashSet::new(), &system).await.unwrap();
    pruned.sort();
    assert_eq!(
        pruned,
        [
            "app-2.0-1-x86_64.hpkg",
            deps.spool.file_name.as_str(),
            deps.stored.file_name.as_str()
        ]
    );
    let left: Vec<String> = std::fs::read_dir(&cache1)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, std::slice::from_ref(&deps.system.file_name));
}

#[tokio::test]
async fn failed_missing_or_mislabelled_results_are_build_failures_and_commit_nothing() {
    let tb = test_builder("b1");
    let out = tempfile::tempdir().unwrap();
    let mut r = remote(&tb, None, out.path());
    let cancel = CancellationToken::new();
    let mode = tb.sshd.work.join("mode");
    for (m, expect) in [
        ("fail", "exit status 3"),
        ("missing", "did not produce"),
        ("ok", "did not produce"),
    ] {
        std::fs::write(&mode, m).unwrap();
        // Two results expected; the stand-in makes only the first (or none): nothing may be committed.
        let req = request(
            "tool-1.5",
            &[],
            &["tool-1.5-1-x86_64.hpkg", "tool_devel-1.5-1-x86_64.hpkg"],
        );
        let err = r.build(&req, &mut no_output(), &cancel).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::BuildFailure, "{m}: {err}");
        assert!(!err.is_transient());
        assert!(err.to_string().contains(expect), "{m}: {err}");
        assert_eq!(
            r.state(),
            BuilderState::Available,
            "a build failure must not count against the builder"
        );
        let committed = out.path().join("committed");
        assert!(!committed.exists() || std::fs::read_dir(&committed).unwrap().next().is_none());
    }
    // With one result expected and produced, the same tool succeeds: the failures above were real.
    std::fs::write(&mode, "ok").unwrap();
    let req = request("tool-1.5", &[], &["tool-1.5-1-x86_64.hpkg"]);
    r.build(&req, &mut no_output(), &cancel).await.unwrap();
    // A result claiming another version under the expected name is refused.
    std::fs::write(&mode, "wrongname").unwrap();
    let err = r.build(&req, &mut no_output(), &cancel).await.unwrap_err();
    assert!(matches!(err, BuilderError::Verify { .. }), "{err}");
    assert!(err.to_string().contains("tool-9.9-1-x86_64.hpkg"), "{err}");
    assert_eq!(err.class(), ErrorClass::BuildFailure);
}

#[tokio::test]
async fn killed_and_stopped_builders_mid_build_are_transient_and_come_back() {
    let (mut killed, stopped) = (test_builder("killed"), test_builder("stopped"));
    for tb in [&killed, &stopped] {
        std::fs::write(tb.sshd.work.join("mode"), "hang").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let mut rk = remote(&killed, None, &out.path().join("k"));
    let mut rs = remote(&stopped, None, &out.path().join("s"));
    let cancel = CancellationToken::new();
    let req = request("slow-1.0", &[], &["slow-1.0-1-x86_64.hpkg"]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let (txk, txs) = (tx.clone(), tx);
    let mut sink_k = move |_: Stream, d: &[u8]| {
        if d.windows(7).any(|w| w == b"working") {
            let _ = txk.send("killed");
        }
    };
    let mut sink_s = move |_: Stream, d: &[u8]| {
        if d.windows(7).any(|w| w == b"working") {
            let _ = txs.send("stopped");
        }
    };
    let faults = async {
        let mut injected = Vec::new();
        for _ in 0..2 {
            let which = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
            match which.expect("the builds never started printing").unwrap() {
                "killed" => killed.sshd.kill(),
                _ => stopped.sshd.stop(),
            }
            injected.push(Instant::now());
        }
        injected.into_iter().max().unwrap()
    };
    let (ek, es, injected) = tokio::join!(
        async { (rk.build(&req, &mut sink_k, &cancel).await, Instant::now()) },
        async { (rs.build(&req, &mut sink_s, &cancel).await, Instant::now()) },
        faults
    );
    // Keepalive 1 s × 2 (and a 2 s probe): both must be noticed well before the 60 s idle timeout.
    for (name, (result, at)) in [("killed", ek), ("stopped", es)] {
        let err = result.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transport, "{name}: {err}");
        assert!(err.is_transient());
        let after = at.saturating_duration_since(injected);
        assert!(after < Duration::from_secs(10), "{name} noticed after {after:?}");
    }
    assert_eq!(rk.state(), BuilderState::Reconnecting);
    assert_eq!(rs.state(), BuilderState::Reconnecting);

    // While down, reconnect attempts fail until the builder is lost; then it is re-probed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rk.state() != BuilderState::Lost {
        assert!(Instant::now() < deadline, "killed builder never became lost");
        let _ = rk.reprobe_if_due().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    killed.sshd.restart();
    stopped.sshd.cont();
    // The background health task brings both back (reconnect with backoff / periodic re-probe).
    let stop = CancellationToken::new();
    let shared: Vec<_> = [rk, rs]
        .into_iter()
        .map(|r| Arc::new(tokio::sync::Mutex::new(r)))
        .collect();
    let tasks: Vec<_> = shared
        .iter()
        .map(|r| spawn_health_task(r.clone(), stop.clone()))
        .collect();
    for r in &shared {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let b = r.lock().await;
                if b.state() == BuilderState::Available {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} did not come back: {:?}",
                    b.name(),
                    b.health().last_error
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    let mut rk = Arc::try_unwrap(shared.into_iter().next().unwrap())
        .ok()
        .unwrap()
        .into_inner();
    // And it builds again.
    std::fs::write(killed.sshd.work.join("mode"), "ok").unwrap();
    rk.build(&req, &mut no_output(), &cancel).await.unwrap();
}

#[tokio::test]
async fn a_port_name_full_of_metacharacters_runs_nothing_but_the_build_tool() {
    let tb = test_builder("b1");
    let out = tempfile::tempdir().unwrap();
    let mut r = remote(&tb, None, out.path());
    let canary = tb.sshd.work.join("pwned");
    let c = canary.display();
    let port =
        format!("x'; touch {c}; echo '$(touch {c})`touch {c}`\"; touch {c}\n|| touch {c} && >{c} #-1.0");
    std::fs::write(tb.sshd.work.join("mode"), "missing").unwrap();
    let req = request(&port, &[], &["x-1.0-1-x86_64.hpkg"]);
    let err = r
        .build(&req, &mut no_output(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, BuilderError::MissingResult { .. }), "{err}");
    assert!(
        !canary.exists(),
        "a metacharacter in the port name reached a shell"
    );
    // The tool received the port name as one argument, byte for byte.
    let argv = std::fs::read_to_string(tb.sshd.work.join("argv.log")).unwrap();
    assert!(
        argv.ends_with(&format!("--ignore-messages\n{port}\n")),
        "{argv:?}"
    );
}

#[tokio::test]
async fn walled_builder_gets_the_ports_tree_as_a_bundle() {
    let tb = test_builder("b1");
    let master = tempfile::tempdir().unwrap();
    let repo = master.path().join("haikuports");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    std::fs::create_dir_all(&repo).unwrap();
    git(&["init", "-q"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "one",
    ]);
    let first = git(&["rev-parse", "HEAD"]);
    // The builder has no tree yet: the spec points at a fresh directory.
    let mut tb = tb;
    let tree = tb.sshd.work.join("haikuports");
    tb.spec.paths = BuilderPaths::new(
        tree.to_str().unwrap(),
        Some(tb.sshd.work.join("packages").to_str().unwrap()),
        None,
        None,
    );
    std::fs::write(tb.sshd.work.join("mode"), "missing").unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut r = remote(&tb, None, out.path());
    let head_on_builder = || {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&tree)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    for rev in [first.clone(), {
        std::fs::write(repo.join("recipe"), "x").unwrap();
        git(&["add", "recipe"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "two",
        ]);
        git(&["rev-parse", "HEAD"])
    }] {
        let mut req = request("p-1.0", &[], &["p-1.0-1-x86_64.hpkg"]);
        req.ports_tree = PortsTreeSync::Bundle {
            repo: repo.clone(),
            revision: rev.clone(),
        };
        let err = r
            .build(&req, &mut no_output(), &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, BuilderError::MissingResult { .. }), "{err}");
        assert_eq!(head_on_builder(), rev);
    }
    assert!(tree.join("recipe").exists());
    assert!(
        !PathBuf::from(format!("{}.bundle", tree.display())).exists(),
        "bundle left behind"
    );
}

#[tokio::test]
async fn a_stubbed_dependency_streams_from_s3_garage_straight_to_the_builder() {
    use buildmaster_storage_s3::S3Backend;
    use support::garage::Garage;
    let garage = Garage::start();
    let s3: Arc<dyn StorageBackend> =
        Arc::new(S3Backend::new(&garage.s3_settings("builders/")).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    // Larger than one SFTP chunk and than the test settings' multipart/range sizes.
    let path = make_package(dir.path(), "libbig");
    let noise: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&noise); // The cache checks size and SHA-256, not package structure.
    let key = ObjectKey::new("packages/libbig-1.0-1-x86_64.hpkg").unwrap();
    s3.put_bytes(&key, &bytes, &PutOptions::package(Some(Sha256Digest::of(&bytes))))
        .await
        .unwrap();
    std::fs::write(&path, b"").unwrap(); // the spool copy is a stub
    let dep = wanted(&path, Some(key), false, &bytes);

    let tb = test_builder("b1");
    let out = tempfile::tempdir().unwrap();
    let mut r = remote(&tb, Some(s3), out.path());
    let req = request(
        "user-1.0",
        std::slice::from_ref(&dep),
        &["user-1.0-1-x86_64.hpkg"],
    );
    let outcome = r
        .build(&req, &mut no_output(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.transfer.sent, std::slice::from_ref(&dep.file_name));
    assert_eq!(outcome.transfer.bytes, bytes.len() as u64);
    let on_builder = std::fs::read(Path::new(&tb.spec.paths.cache).join(&dep.file_name)).unwrap();
    assert_eq!(Sha256Digest::of(&on_builder), dep.sha256);
    // The spool file is still the zero-byte stub: nothing was materialised in the spool.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

/// HaikuPorter purges the port before and after every build, failed or not, and ignores the purge's
/// exit status (`RemoteBuilderSSH.runBuild`, `_purgePort`); builds run under a PTY (`get_pty`).
#[tokio::test]
async fn every_build_is_purged_before_and_after_and_runs_under_a_pty() {
    let tb = test_builder("b1");
    let out = tempfile::tempdir().unwrap();
    let mut r = remote(&tb, None, out.path());
    let cancel = CancellationToken::new();
    let work = &tb.sshd.work;
    let req = request("tool-1.5", &[], &["tool-1.5-1-x86_64.hpkg"]);
    let sequence = || std::fs::read_to_string(work.join("sequence.log")).unwrap_or_default();

    let mut log = Vec::new();
    let mut sink = |_: Stream, d: &[u8]| log.extend_from_slice(d);
    r.build(&req, &mut sink, &cancel).await.unwrap();
    assert_eq!(sequence(), "purge tool-1.5\nbuild tool-1.5\npurge tool-1.5\n");
    assert_eq!(std::fs::read_to_string(work.join("tty.log")).unwrap(), "yes\n");
    let text = String::from_utf8_lossy(&log).to_string();
    assert!(text.contains("building tool-1.5 in"), "{text}");
    // Lines arrive as the tool wrote them: the PTY's CR-LF translation is off.
    assert!(!text.contains('\r'), "{text:?}");

    // A failed build is purged afterwards too; its stderr reached the log through the PTY.
    std::fs::write(work.join("sequence.log"), "").unwrap();
    std::fs::write(work.join("mode"), "fail").unwrap();
    let mut log = Vec::new();
    let mut sink = |_: Stream, d: &[u8]| log.extend_from_slice(d);
    let err = r.build(&req, &mut sink, &cancel).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::BuildFailure, "{err}");
    assert_eq!(sequence(), "purge tool-1.5\nbuild tool-1.5\npurge tool-1.5\n");
    assert!(String::from_utf8_lossy(&log).contains("the recipe failed"));

    // A purge that fails is logged and ignored, as HaikuPorter ignores it.
    std::fs::write(work.join("sequence.log"), "").unwrap();
    std::fs::write(work.join("mode"), "purgefail").unwrap();
    let mut log = Vec::new();
    let mut sink = |_: Stream, d: &[u8]| log.extend_from_slice(d);
    r.build(&req, &mut sink, &cancel).await.unwrap();
    assert_eq!(sequence(), "purge tool-1.5\nbuild tool-1.5\npurge tool-1.5\n");
    let text = String::from_utf8_lossy(&log).to_string();
    assert!(text.contains("purge exited with status 4"), "{text}");
}

/// On every connect the cache loses what left the repository, never a system package (HaikuPorter's
/// `_setupForBuilding` → `_removeObsoletePackages`); a keep source that fails skips the prune.
#[tokio::test]
async fn the_cache_is_pruned_on_every_connect_keeping_repository_and_system_packages() {
    use buildmaster::builders::cache::KeepSet;
    let tb = test_builder("b1");
    let cache = PathBuf::from(&tb.spec.paths.cache);
    std::fs::create_dir_all(&cache).unwrap();
    let names = [
        "gone-1-1-x86_64.hpkg",
        "kept-1-1-x86_64.hpkg",
        "haiku-r1-1-x86_64.hpkg",
    ];
    for name in names {
        std::fs::write(cache.join(name), name).unwrap();
    }
    let listed = || {
        let mut left: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        left
    };
    let out = tempfile::tempdir().unwrap();

    let failing = remote(&tb, None, out.path())
        .with_prune_on_connect(Arc::new(|| Err("state database unreadable".to_string())));
    let mut failing = failing;
    failing.connect().await.unwrap();
    assert_eq!(listed().len(), 3, "a failed keep source must not prune");
    failing.disconnect().await;

    let keep = Arc::new(|| {
        Ok(KeepSet {
            repository: ["kept-1-1-x86_64.hpkg".to_string()].into(),
            system: ["haiku-r1-1-x86_64.hpkg".to_string()].into(),
        })
    });
    let mut r = remote(&tb, None, out.path()).with_prune_on_connect(keep);
    r.connect().await.unwrap();
    assert_eq!(listed(), ["haiku-r1-1-x86_64.hpkg", "kept-1-1-x86_64.hpkg"]);
    let holds: Vec<&String> = r.cache_listing().unwrap().packages.keys().collect();
    assert_eq!(holds, ["haiku-r1-1-x86_64.hpkg", "kept-1-1-x86_64.hpkg"]);
}
