//! A build that prints without end does not fill the master's disk: through the binary, a local build
//! printing 24 MB with `[buildrun] max_build_log_bytes = 1048576` leaves a build log under the cap, with
//! its start, the cut marked, and its last line.

mod support;

use std::path::Path;
use std::process::Command;

use support::farm::{copy_tree, haikuporter_dir};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
const CAP: u64 = 1 << 20;

#[test]
fn a_build_printing_24_mb_leaves_a_log_under_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = dir.path().join("tree");
    copy_tree(&root.join("examples/ports"), &tree);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // The build tool: a first line, 24 MB of output, a last line, and failure (no package needed).
    let tool = dir.path().join("noisy");
    std::fs::write(
        &tool,
        "#!/bin/sh\necho FIRST-LINE\nhead -c 24000000 /dev/zero | tr '\\0' 'x'\necho\necho LAST-LINE\nexit 1\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&tool)
        .status()
        .unwrap();
    let config = dir.path().join("buildmaster.toml");
    std::fs::write(
        &config,
        format!(
            "[ports]\ntree = \"{}\"\nsystem_packages = \"{}\"\n[buildrun]\nlocal_haikuporter = \"{}\"\n\
             max_build_log_bytes = {CAP}\nmax_attempts = 1\n",
            tree.display(),
            root.join("examples/system-packages").display(),
            tool.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(&state)
        .args(["buildrun", "--config"])
        .arg(&config)
        .args(["--no-publish", "hello"])
        .env("HAIKUPORTER_DIR", haikuporter_dir())
        .env_remove("BUILDMASTER_CONFIG")
        .env_remove("STORAGE_BACKEND_CONFIG")
        .output()
        .unwrap();
    let builds = state.join("output/buildruns/1/builds");
    let logs: Vec<_> = std::fs::read_dir(&builds)
        .unwrap_or_else(|e| panic!("{}: {e}; {out:?}", builds.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!logs.is_empty(), "no build ran: {out:?}");
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            (text.len() as u64) < CAP + 4096,
            "{} is {} bytes",
            log.display(),
            text.len()
        );
        // The log opens with the master's own lines (the job manifest's summary), then the build's
        // output from its first line: the head of the output is kept.
        let first_output = text.lines().find(|l| !l.starts_with("job manifest recorded:"));
        assert!(
            first_output.is_some_and(|l| l.starts_with("FIRST-LINE")),
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(text.contains("reached its cap of 1048576 bytes"));
        assert!(text.contains("bytes of output skipped"));
        assert!(
            text.trim_end().ends_with("LAST-LINE"),
            "{}",
            &text[text.len() - 200..]
        );
    }
}
