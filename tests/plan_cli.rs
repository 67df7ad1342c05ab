//! `buildmaster plan` through the binary, on a small real ports tree evaluated with bash.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use buildmaster::plan::model::{Plan, SkipReason};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// A recipe with `provides`/`build_requires` lines and an `ARCHITECTURES` value.
fn recipe(architectures: &str, provides: &str, build_requires: &str) -> String {
    format!(
        "SUMMARY=\"Test port for planning\"\nDESCRIPTION=\"A test port.\"\nHOMEPAGE=\"https://example.org\"\n\
         SOURCE_URI=\"https://example.org/$portName-$portVersion.tar.gz\"\n\
         COPYRIGHT=\"2026 Tests\"\nLICENSE=\"MIT\"\nREVISION=\"1\"\nARCHITECTURES=\"{architectures}\"\n\
         PROVIDES=\"\n\t$portName = $portVersion\n\t{provides}\n\t\"\n\
         REQUIRES=\"\"\nBUILD_REQUIRES=\"\n\t{build_requires}\n\t\"\nBUILD_PREREQUIRES=\"\"\n\
         BUILD()\n{{\n\ttrue\n}}\n\nINSTALL()\n{{\n\ttrue\n}}\n"
    )
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A tree: `app` needs `liba`; `off` is broken on x86_64; `bad` has a syntax error.
fn make_tree(root: &Path) {
    write(
        root,
        "dev-libs/liba/liba-1.0.recipe",
        &recipe("x86_64", "lib:liba = $portVersion", ""),
    );
    write(
        root,
        "app-misc/app/app-2.0.recipe",
        &recipe("x86_64", "cmd:app = $portVersion", "lib:liba >= 1"),
    );
    write(root, "app-misc/off/off-1.0.recipe", &recipe("!x86_64", "", ""));
    write(
        root,
        "app-misc/bad/bad-1.0.recipe",
        "REVISION=\"1\"\nBUILD()\n{\n\tif (\n}\n",
    );
}

struct Instance {
    _dir: tempfile::TempDir,
    state: PathBuf,
    config: PathBuf,
    tree: PathBuf,
}

fn instance() -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = dir.path().join("buildmaster.toml");
    // The example system package provides what every build needs besides its recipe (the `haiku`
    // package and HaikuPorter's scriptlet prerequirements).
    let system = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/system-packages");
    std::fs::write(
        &config,
        format!(
            "[ports]\ntree = \"{}\"\nsystem_packages = \"{}\"\n",
            tree.display(),
            system.display()
        ),
    )
    .unwrap();
    Instance {
        _dir: dir,
        state,
        config,
        tree,
    }
}

fn run_plan(instance: &Instance, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(&instance.state)
        .arg("plan")
        .args(args)
        .env("BUILDMASTER_CONFIG", &instance.config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn plan_everything_as_json_and_text() {
    let inst = instance();
    let out = run_plan(&inst, &["--everything", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = plan.builds.iter().map(|b| b.port.versioned_name()).collect();
    assert_eq!(names, ["liba-1.0", "app-2.0"]);
    assert_eq!(plan.builds[1].after, [0]);
    assert_eq!(plan.builds[0].results, ["liba-1.0-1-x86_64.hpkg"]);
    // Every build ships the haiku package HaikuPorter needs on the builder, even liba with no
    // build requirements of its own.
    for build in &plan.builds {
        let present: Vec<&str> = build.present.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(
            present,
            ["haiku-r1~beta5-1-x86_64.hpkg"],
            "{}",
            build.port.versioned_name()
        );
    }
    let bad = plan
        .skipped
        .iter()
        .find(|s| s.port == "bad-1.0")
        .expect("bad listed");
    assert!(matches!(&bad.reason, SkipReason::BrokenRecipe { message } if message.contains("syntax error")));
    assert_eq!(
        bad.recipe_path.as_deref(),
        Some(Path::new("app-misc/bad/bad-1.0.recipe"))
    );
    assert!(plan.skipped.iter().any(|s| s.port == "off-1.0"
        && s.reason
            == SkipReason::NotBuildableOnArchitecture {
                status: "broken".into()
            }));

    let text = run_plan(&inst, &["app", "off", "missing"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(
        text.contains("1. liba-1.0\n2. app-2.0  (needs: liba-1.0)\n"),
        "{text}"
    );
    assert!(
        text.contains("skipped: off — Port off is broken on this architecture."),
        "{text}"
    );
    assert!(
        text.contains("skipped: missing — missing not found in tree"),
        "{text}"
    );
    assert!(
        text.contains("recipe problem: app-misc/bad/bad-1.0.recipe"),
        "{text}"
    );
}

#[test]
fn plan_update_uses_the_processed_revision() {
    let inst = instance();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&inst.tree)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    let out = run_plan(&inst, &["--update"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--everything"), "{}", stderr(&out));

    let db = inst.state.join("buildmaster.sqlite");
    buildmaster::plan::set_processed_revision(&db, &git(&["rev-parse", "HEAD"])).unwrap();
    write(
        &inst.tree,
        "dev-libs/liba/liba-1.0.recipe",
        &recipe("x86_64", "lib:liba = $portVersion\n\tcmd:liba", ""),
    );
    git(&["commit", "-qam", "two"]);
    let out = run_plan(&inst, &["--update", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Plan = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = plan.builds.iter().map(|b| b.port.versioned_name()).collect();
    assert_eq!(names, ["liba-1.0"], "only the changed port");
}

#[test]
fn plan_reports_a_missing_tree_and_a_bad_config() {
    let inst = instance();
    std::fs::write(&inst.config, "[ports]\ntree = \"/nonexistent/ports\"\n").unwrap();
    let out = run_plan(&inst, &["--everything"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/ports"), "{}", stderr(&out));

    std::fs::write(&inst.config, "[ports]\ntre = \"x\"\n").unwrap();
    let out = run_plan(&inst, &["--everything"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("tre") && err.contains("buildmaster.toml"), "{err}");

    let out = run_plan(&inst, &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nothing to plan"), "{}", stderr(&out));
}
