//! A forgotten `--state-dir`: commands that work on an existing instance refuse a state directory that
//! does not exist, name it and say what to do — and create nothing (before, `storage ls` silently made
//! `./buildmaster-state/storage`, and `publish` an empty instance). `recover` still creates one.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// Runs the binary in `cwd` with no state directory given and no storage config.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("BUILDMASTER_STATE_DIR")
        .env_remove("STORAGE_BACKEND_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_refused(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
    assert!(
        stderr.contains("the state directory buildmaster-state does not exist")
            && stderr.contains("--state-dir"),
        "{what}: {stderr}"
    );
}

#[test]
fn operator_commands_refuse_a_missing_default_state_dir_and_create_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        &["storage", "ls"][..],
        &["storage", "rm", "packages/x.hpkg"],
        &["publish"],
        &["prune", "--dry-run"],
    ] {
        let output = run_in(cwd.path(), args);
        assert_refused(&output, &args.join(" "));
        assert!(
            !cwd.path().join("buildmaster-state").exists(),
            "{args:?} created the state directory"
        );
    }
}

#[test]
fn a_missing_explicit_state_dir_is_named() {
    let cwd = tempfile::tempdir().unwrap();
    let output = run_in(cwd.path(), &["--state-dir", "typo-state", "storage", "ls"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("typo-state does not exist"), "{stderr}");
    assert!(!cwd.path().join("typo-state").exists());
}

#[test]
fn an_existing_state_dir_works() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("buildmaster-state")).unwrap();
    let output = run_in(cwd.path(), &["storage", "ls"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
