//! `buildmaster buildrun` through the binary with the default local builder running the HaikuPorter
//! stand-in on a copy of the example ports tree: a whole run, "nothing to do" the second time, and a
//! SIGTERM mid-build (exit 130, interrupted) resumed by running the command again, with nothing that
//! completed built twice; and the cron loop: `--everything` once, then `--update` follows the tree. A
//! typo'd port name is refused, with a suggestion, before any buildrun exists.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::farm::{assert_success, copy_tree, git_commit_all, haikuporter_dir};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
const DEADLINE: Duration = Duration::from_secs(60);

/// A state dir and a config whose local builder runs the stand-in on a copy of `examples/ports`, plus
/// a port `slowpoke` (needing `hello`) whose BUILD sleeps `slow_secs`.
fn instance(dir: &Path, slow_secs: u32) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = dir.join("tree");
    copy_tree(&root.join("examples/ports"), &tree);
    let slow = tree.join("app-misc/slowpoke");
    std::fs::create_dir_all(&slow).unwrap();
    std::fs::write(
        slow.join("slowpoke-1.0.recipe"),
        format!(
            "SUMMARY=\"Takes its time to build\"\nDESCRIPTION=\"Takes its time.\"\nHOMEPAGE=\"https://example.org\"\n\
             SOURCE_URI=\"https://example.org/$portName-$portVersion.tar.gz\"\n\
             COPYRIGHT=\"2026 x\"\nLICENSE=\"MIT\"\nREVISION=\"1\"\nARCHITECTURES=\"x86_64\"\n\
             PROVIDES=\"\n\tslowpoke = $portVersion\n\t\"\nREQUIRES=\"\n\tcmd:hello\n\t\"\n\
             BUILD_REQUIRES=\"\n\tcmd:hello\n\t\"\n\
             BUILD()\n{{\n\tsleep {slow_secs}\n}}\nINSTALL()\n{{\n\tmkdir -p \"$dataDir\"\n\techo slow > \"$dataDir/slow\"\n}}\n"
        ),
    )
    .unwrap();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = dir.join("buildmaster.toml");
    std::fs::write(
        &config,
        format!(
            "[ports]\ntree = \"{}\"\nsystem_packages = \"{}\"\n[buildrun]\nlocal_haikuporter = \"{}\"\n",
            tree.display(),
            root.join("examples/system-packages").display(),
            root.join("tools/haikuporter-standin").display()
        ),
    )
    .unwrap();
    (state, config)
}

fn buildrun(state: &Path, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--state-dir")
        .arg(state)
        .arg("buildrun")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("BUILDMASTER", BIN)
        .env("HAIKUPORTER_DIR", haikuporter_dir())
        .env_remove("BUILDMASTER_CONFIG")
        .env_remove("STORAGE_BACKEND_CONFIG");
    cmd
}

fn wait_with_deadline(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("buildmaster buildrun did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status_json(state: &Path, id: u64) -> serde_json::Value {
    let path = state.join(format!("output/buildruns/{id}/status.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// How many records (ended attempts) name each port.
fn attempts(state: &Path, port: &str) -> usize {
    std::fs::read_dir(state.join("output/records"))
        .unwrap()
        .filter(|e| {
            let record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.as_ref().unwrap().path()).unwrap()).unwrap();
            record["port"]["name"] == port && record["buildSuccess"] == true
        })
        .count()
}

#[test]
fn a_whole_buildrun_on_the_local_builder_then_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = instance(dir.path(), 0);
    let out = buildrun(&state, &config, &["--everything", "--no-publish"])
        .output()
        .unwrap();
    assert_success(&out, "buildmaster buildrun");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("buildrun 1: complete\n"), "{stdout}");
    assert!(stdout.contains("built: slowpoke-1.0"), "{stdout}");
    for file in ["hello-2.1-1-x86_64.hpkg", "slowpoke-1.0-1-x86_64.hpkg"] {
        assert!(
            std::fs::metadata(state.join("packages").join(file))
                .unwrap()
                .len()
                > 0,
            "{file} in the spool"
        );
    }
    let status = status_json(&state, 1);
    assert_eq!(status["buildStatus"], "complete");
    assert_eq!(status["builders"]["idle"][0]["name"], "local");
    assert_eq!(status["builds"]["complete"].as_array().unwrap().len(), 7);

    let again = buildrun(&state, &config, &["--everything", "--no-publish"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3), "{:?}", again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
}

#[test]
fn sigterm_interrupts_resumably_and_the_next_run_finishes_without_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = instance(dir.path(), 30);
    let mut child = buildrun(&state, &config, &["slowpoke", "--no-publish"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until slowpoke (the last build, after hello and libgreet) is running.
    let start = Instant::now();
    loop {
        let running = std::fs::read(state.join("output/buildruns/1/status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|s| s["builds"]["active"][0]["port"]["name"] == "slowpoke");
        if running {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "slowpoke never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped_at = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_with_deadline(&mut child);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(10),
        "the 30 s build was killed, not waited for"
    );
    assert_eq!(status.code(), Some(130));
    let json = status_json(&state, 1);
    assert_eq!(json["buildStatus"], "interrupted (resumable)");
    assert_eq!(json["builds"]["scheduled"][0]["port"]["name"], "slowpoke");

    // Run again with a fast slowpoke: the buildrun resumes and only slowpoke is built.
    let recipe = dir.path().join("tree/app-misc/slowpoke/slowpoke-1.0.recipe");
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("sleep 30", "sleep 0");
    std::fs::write(&recipe, text).unwrap();
    let out = buildrun(&state, &config, &["slowpoke", "--no-publish"])
        .output()
        .unwrap();
    assert_success(&out, "buildmaster buildrun");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("resumed buildrun 1: complete"), "{stdout}");
    for port in ["libgreet", "hello", "slowpoke"] {
        assert_eq!(attempts(&state, port), 1, "{port} built once");
    }
}

/// Commits every change of the git tree `dir` (after [`git_commit_all`] made it one).
fn git_commit_changes(dir: &Path, message: &str) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Tests", "-c", "user.email=tests@example.org"])
        .args(["commit", "-q", "-a", "-m", message])
        .output()
        .unwrap();
    assert_success(&out, "git commit");
}

fn git_head(dir: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    assert_success(&out, "git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn everything_once_then_update_from_cron_follows_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = instance(dir.path(), 0);
    let tree = dir.path().join("tree");
    git_commit_all(&tree);
    let first = git_head(&tree);

    let out = buildrun(&state, &config, &["--everything", "--no-publish"])
        .output()
        .unwrap();
    assert_success(&out, "buildmaster buildrun --everything");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("processed revision {first}")),
        "{stdout}"
    );

    // Nothing changed: --update has nothing to do (exit 3), and does not ask for --everything.
    let out = buildrun(&state, &config, &["--update", "--no-publish"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "{out:?}"
    );

    // A recipe change is built by the next --update, which records the new HEAD.
    let recipe = tree.join("app-misc/slowpoke/slowpoke-1.0.recipe");
    let text = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("REVISION=\"1\"", "REVISION=\"2\"");
    std::fs::write(&recipe, text).unwrap();
    git_commit_changes(&tree, "slowpoke revision 2");
    let second = git_head(&tree);
    let out = buildrun(&state, &config, &["--update", "--no-publish"])
        .output()
        .unwrap();
    assert_success(&out, "buildmaster buildrun --update");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("built: slowpoke-1.0"), "{stdout}");
    assert!(
        stdout.contains(&format!("processed revision {second}")),
        "{stdout}"
    );
    assert!(state.join("packages/slowpoke-1.0-2-x86_64.hpkg").exists());
}

#[test]
fn a_typo_in_a_port_name_is_refused_before_a_buildrun_exists() {
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = instance(dir.path(), 0);
    for (typo, suggestion) in [("slowpok", "slowpoke"), ("slowpoke-9.9", "slowpoke-1.0")] {
        let out = buildrun(&state, &config, &[typo, "--no-publish"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{typo}: {stderr}");
        assert!(
            stderr.contains(&format!("no recipe for {typo:?} (did you mean {suggestion}?)"))
                && stderr.contains("nothing was built"),
            "{typo}: {stderr}"
        );
        assert!(
            !state.join("output/buildruns/1").exists(),
            "{typo}: a buildrun was created"
        );
    }
    // Nothing alike in the tree: refused all the same, without a suggestion.
    let out = buildrun(&state, &config, &["zzzqqq", "--no-publish"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no recipe for \"zzzqqq\"; nothing was built"),
        "{stderr}"
    );
}

#[test]
fn a_terminal_shows_the_builds_bar_and_a_pipe_does_not() {
    let has_bar_codes = |text: &str| text.contains('\r') || text.contains("\x1b[");
    let piped_dir = tempfile::tempdir().unwrap();
    let (state, config) = instance(piped_dir.path(), 2);
    let piped = buildrun(&state, &config, &["slowpoke", "--no-publish"])
        .output()
        .unwrap();
    assert_success(&piped, "buildmaster buildrun on a pipe");
    let piped_out = String::from_utf8_lossy(&piped.stdout).into_owned();
    let piped_err = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !has_bar_codes(&piped_out) && !has_bar_codes(&piped_err),
        "{piped_err}"
    );

    // The same run on a pseudo-terminal (util-linux `script`): the bar is drawn, then cleared before
    // the summary.
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = instance(dir.path(), 2);
    let cmd = buildrun(&state, &config, &["slowpoke", "--no-publish"]);
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env("TERM", "xterm");
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let shown = script.output().expect("util-linux `script`");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("buildrun ["), "no buildrun bar in {shown:?}");
    assert!(shown.contains("builds: ") && shown.contains("busy"), "{shown:?}");
    assert!(shown.contains("buildrun 1: complete"), "{shown:?}");
}
