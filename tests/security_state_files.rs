//! What a buildrun leaves on disk keeps secrets and other users out: a ports tree cloned with a token
//! in its origin URL (`https://user:pass@…`) puts the token neither into `buildmaster.sqlite` nor into
//! status.json, and the database, status.json and build logs are readable by their owner only; a
//! database and logs an older version left world-readable are closed to others.
//! Through the binary, with the default local builder running the HaikuPorter stand-in.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use support::farm::{assert_success, copy_tree, haikuporter_dir};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
const SECRET: &str = "ghp_s3cretTokenThatMustNotLeak";

fn git(tree: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert_success(&out, &format!("git {args:?}"));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` (symlinks not followed).
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

#[test]
fn an_origin_token_never_reaches_state_files_and_they_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = dir.path().join("tree");
    copy_tree(&root.join("examples/ports"), &tree);
    git(&tree, &["init", "-q"]);
    git(&tree, &["add", "-A"]);
    git(&tree, &["commit", "-q", "-m", "ports"]);
    let origin = format!("https://builder:{SECRET}@git.example.invalid/haikuports.git");
    git(&tree, &["remote", "add", "origin", &origin]);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // What an older version left behind: a database and a build log readable by others.
    let old_log = state.join("output/buildruns/0/builds/1.log");
    std::fs::create_dir_all(old_log.parent().unwrap()).unwrap();
    std::fs::write(&old_log, "old build output").unwrap();
    std::fs::write(state.join("buildmaster.sqlite"), "").unwrap();
    for path in [&old_log, &state.join("buildmaster.sqlite")] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o604)).unwrap();
    }
    let config = dir.path().join("buildmaster.toml");
    std::fs::write(
        &config,
        format!(
            "[ports]\ntree = \"{}\"\nsystem_packages = \"{}\"\n[buildrun]\nlocal_haikuporter = \"{}\"\nports_tree_sync = \"skip\"\n",
            tree.display(),
            root.join("examples/system-packages").display(),
            root.join("tools/haikuporter-standin").display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(&state)
        .args(["buildrun", "--config"])
        .arg(&config)
        .args(["--everything", "--no-publish"])
        .env("BUILDMASTER", BIN)
        .env("HAIKUPORTER_DIR", haikuporter_dir())
        .env_remove("BUILDMASTER_CONFIG")
        .env_remove("STORAGE_BACKEND_CONFIG")
        .output()
        .unwrap();
    assert_success(&out, "buildmaster buildrun");

    let status_path = state.join("output/buildruns/1/status.json");
    let status = std::fs::read_to_string(&status_path).unwrap();
    assert!(
        status.contains("git.example.invalid/haikuports.git"),
        "the origin is recorded: {status}"
    );
    let mut all = Vec::new();
    files(&state, &mut all);
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        let hit = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
        assert!(!hit, "{} holds the origin's token", path.display());
    }
    for path in [status_path, state.join("buildmaster.sqlite")] {
        assert_eq!(mode(&path) & 0o077, 0, "{} is {:o}", path.display(), mode(&path));
    }
    // Left by the older version: closed to others (the log is also checked with all logs below).
    assert_eq!(mode(&old_log), 0o600, "{}", old_log.display());
    let logs: Vec<_> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert!(!logs.is_empty());
    for log in logs {
        assert_eq!(mode(log) & 0o077, 0, "{} is {:o}", log.display(), mode(log));
    }
}
