//! HaikuPorter's `TEST()` in the buildrun gate (issue 15, tests on a builder, Haiku's convention):
//! a real farm (git ports tree, a real sshd builder running the HaikuPorter stand-in, garage) whose
//! `[publish.policy.test] on = "builder"`. libbase's recipe gets a `TEST()` that passes, toolbox's one
//! that fails; `buildmaster buildrun toolbox` builds libbase, libleft, libright and toolbox and its
//! publish runs each package's test: the package's recorded build job again with HaikuPorter's
//! `--test`, on the builder. From the builder side (the stand-in's own output in the check's log, the
//! farm's ledger of builds the builder ran): the tests ran there, after a build, and printed what the
//! recipes' TEST() printed; toolbox's failed with HaikuPorter's "Test has failed - stopping." and it
//! stays staged (not served); libbase's passed. Ports without a TEST() pass (HaikuPorter's default
//! TEST is `true`).

#[allow(dead_code)]
mod gate_scratch_common;
mod support;

use std::path::Path;
use std::time::Duration;

use gate_scratch_common::staging_config;
use support::farm::{git_commit_all, Farm, LedgerEntry};

/// Limit for a buildrun of a few one-second ports, each built again for its test.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `gate pipelines N` of every pipeline, with the checks' logs.
fn every_pipeline(farm: &Farm) -> String {
    let mut shown = String::new();
    for n in 1.. {
        let out = farm.run(&["gate", "pipelines", &n.to_string()], Duration::from_secs(60));
        if !out.status.success() {
            break;
        }
        shown.push_str(&text(&out.stdout));
    }
    shown
}

/// Appends `function` to the recipe at `relative` in the farm's tree.
fn add_to_recipe(tree: &Path, relative: &str, function: &str) {
    let recipe = tree.join(relative);
    let old = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, format!("{old}\n{function}")).unwrap();
}

#[test]
fn a_recipes_test_runs_with_its_build_on_the_builder_and_a_failing_one_keeps_the_package_staged() {
    let farm = Farm::start(1);
    let tree = farm.tree();
    add_to_recipe(
        &tree,
        "sys-libs/libbase/libbase-1.0.recipe",
        "TEST()\n{\n\techo \"libbase TEST: checking the build of $portVersion\"\n\ttest -f src/base.c\n}\n",
    );
    add_to_recipe(
        &tree,
        "app-misc/toolbox/toolbox-1.0.recipe",
        "TEST()\n{\n\techo 'toolbox TEST: expected 3 tools, found 2'\n\tfalse\n}\n",
    );
    git_commit_all(&tree);
    let staging_json = staging_config(&farm, "tests-staging");
    let config_path = farm.state().join("buildmaster.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        format!(
            "[gate]\nstaging = \"{}\"\n\n[publish.policy.test]\non = \"builder\"\ntimeout_seconds = 300\n\n{config}",
            staging_json.display()
        ),
    )
    .unwrap();

    let out = farm.run(&["buildrun", "toolbox"], BUILD_TIMEOUT);
    let buildrun = format!("{}{}", text(&out.stdout), text(&out.stderr));

    let shown = every_pipeline(&farm);
    let toolbox = shown
        .find("--- toolbox-1.0-1-x86_64.hpkg test log ---")
        .map(|at| &shown[at..])
        .unwrap_or_else(|| panic!("no test log for toolbox:\n{shown}\n{buildrun}"));
    assert!(toolbox.contains("TESTING toolbox-1.0"), "{toolbox}");
    assert!(
        toolbox.contains("toolbox TEST: expected 3 tools, found 2"),
        "{toolbox}"
    );
    assert!(toolbox.contains("Test has failed - stopping."), "{toolbox}");
    assert!(
        shown.contains("toolbox-1.0-1-x86_64.hpkg test: FAILED: TEST() failed: toolbox-1.0"),
        "{shown}"
    );
    let libbase = shown
        .find("--- libbase-1.0-1-x86_64.hpkg test log ---")
        .map(|at| &shown[at..])
        .unwrap_or_else(|| panic!("no test log for libbase:\n{shown}"));
    assert!(
        libbase.contains("libbase TEST: checking the build of 1.0"),
        "{libbase}"
    );
    assert!(
        shown.contains("libbase-1.0-1-x86_64.hpkg test: passed: TEST() passed: libbase-1.0"),
        "{shown}"
    );
    assert!(
        shown.contains("libleft-2.1-1-x86_64.hpkg test: passed: TEST() passed"),
        "a recipe without TEST() passes (HaikuPorter's default TEST is true): {shown}"
    );

    // Builder side: each port was built by the builder twice — the buildrun's build, then its test's.
    let builds = farm.ledger_builds();
    for port in ["libbase-1.0", "toolbox-1.0"] {
        let on_builder: Vec<_> = builds.iter().filter(|b| b.port == port).collect();
        assert_eq!(on_builder.len(), 2, "{port}: {on_builder:?}");
        assert_eq!(
            on_builder[0].end.map(|e| e.0),
            Some(0),
            "{port}'s build: {on_builder:?}"
        );
    }
    let toolbox_test = builds.iter().filter(|b| b.port == "toolbox-1.0").nth(1).unwrap();
    assert_ne!(
        toolbox_test.end.map(|e| e.0),
        Some(0),
        "toolbox's TEST() fails on the builder"
    );

    // The tests' builds are not left in the builder's cache: what it holds of these ports is the
    // first build's bytes (the buildrun's, which the repository has), never a test's build's.
    let mut first_build: std::collections::HashMap<String, String> = Default::default();
    let mut rebuilt_differs = false;
    for entry in farm.ledger() {
        if let LedgerEntry::Result(_, _, file, sha) = entry {
            match first_build.get(&file) {
                Some(first) => rebuilt_differs |= *first != sha,
                None => {
                    first_build.insert(file, sha);
                }
            }
        }
    }
    let cache = farm.builders[0].work.join("haikuports/packages/.cache");
    let mut compared = 0;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(first) = first_build.get(&name) {
            assert_eq!(&sha256(&path), first, "{name} in the builder's cache");
            compared += 1;
        }
    }
    assert!(compared > 0, "no built package in the builder's cache to compare");
    eprintln!("a rebuild made other bytes than the first build: {rebuilt_differs}");

    // toolbox stays staged: not served.
    let path = format!("/{}/packages/toolbox-1.0-1-x86_64.hpkg", farm.prefix);
    let (status, _) = farm.garage.web_get("localhost", &path);
    assert_eq!(status, 404, "{path} is served");

    // The recipe fixed (revision 2): the next buildrun's test runs the new build again, its
    // dependencies now published — their spool files stubs — so sent from storage.
    let recipe = tree.join("app-misc/toolbox/toolbox-1.0.recipe");
    let fixed = std::fs::read_to_string(&recipe)
        .unwrap()
        .replace("REVISION=\"1\"", "REVISION=\"2\"")
        .replace("\tfalse\n", "\ttrue\n");
    std::fs::write(&recipe, fixed).unwrap();
    git_commit_all(&tree);
    let stub = farm.state().join("packages/libleft-2.1-1-x86_64.hpkg");
    assert_eq!(
        std::fs::metadata(&stub).map(|m| m.len()).ok(),
        Some(0),
        "libleft is published, its spool file a stub"
    );
    // Built without publishing, then the builder's cache emptied (a builder that was replaced):
    // the test's build must be sent every dependency again.
    let out = farm.run(&["buildrun", "toolbox", "--no-publish"], BUILD_TIMEOUT);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let out = farm.run(&["publish"], BUILD_TIMEOUT);
    let buildrun = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let shown = every_pipeline(&farm);
    assert!(
        shown.contains("toolbox-1.0-2-x86_64.hpkg test: passed: TEST() passed: toolbox-1.0"),
        "{shown}\n{buildrun}"
    );
    let path = format!("/{}/packages/toolbox-1.0-2-x86_64.hpkg", farm.prefix);
    assert_eq!(
        farm.garage.web_get("localhost", &path).0,
        200,
        "{path} is not served: {buildrun}"
    );
}
