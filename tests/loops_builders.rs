//! Operators' loops with builders that cannot work: a one-shot `buildmaster buildrun` whose only
//! builder (a real sshd on 127.0.0.1) offers another host key than the pinned one ends, within a
//! bounded time, with exit 4 and an error naming the builder and the refused key — instead of waiting
//! forever — and leaves the buildrun resumable.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::farm::{copy_tree, haikuporter_dir, run_with_timeout};
use support::sshd::{current_user, Sshd};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// The bound the run must end within: the first connection attempt and its refusal take well under a
/// second; the rest is planning the example tree on a loaded machine.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_one_shot_buildrun_whose_only_builder_has_a_changed_host_key_exits_non_zero() {
    let sshd = Sshd::start();
    let impostor = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = dir.path().join("tree");
    copy_tree(&root.join("examples/ports"), &tree);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = dir.path().join("buildmaster.toml");
    std::fs::write(
        &config,
        format!(
            "[ports]\ntree = \"{}\"\nsystem_packages = \"{}\"\n\
             [[builders]]\nname = \"b1\"\n[builders.ssh]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n\
             private_key_file = \"{}\"\nhost_key = \"{}\"\n[builders.portstree]\npath = \"{}\"\n\
             [builders.haikuporter]\npath = \"sh\"\n",
            tree.display(),
            root.join("examples/system-packages").display(),
            sshd.port,
            current_user(),
            sshd.client_key.display(),
            // The pinned key is another host's: as if the builder had been reinstalled (or spoofed).
            impostor.host_key_line(),
            sshd.work.display()
        ),
    )
    .unwrap();

    let started = Instant::now();
    let out = run_with_timeout(
        Command::new(BIN)
            .arg("--state-dir")
            .arg(&state)
            .args(["buildrun", "--config"])
            .arg(&config)
            .args(["hello", "--no-publish"])
            .env("HAIKUPORTER_DIR", haikuporter_dir())
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_BUILDERS_DIR")
            .env_remove("STORAGE_BACKEND_CONFIG"),
        BOUND,
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(took < BOUND, "took {took:?}");
    assert!(stderr.contains("builder b1"), "{stderr}");
    assert!(stderr.contains("changed host key"), "{stderr}");
    assert!(stderr.contains("run `buildmaster buildrun` again"), "{stderr}");

    // Resumable: the status says why it stopped, and the build is still queued, not failed.
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("output/buildruns/1/status.json")).unwrap())
            .unwrap();
    let text = status["buildStatus"].as_str().unwrap();
    assert!(text.starts_with("stopped (resumable): "), "{text}");
    assert!(
        status["builds"]["failed"].as_array().unwrap().is_empty(),
        "{status}"
    );
}
