//! Issue 12, acceptance 1, in CI: `bench/real-tree/run.sh` compares our evaluation of the whole real
//! HaikuPorts tree with HaikuPorter's (80–100 s of HaikuPorter alone); this test does the same for a
//! fixed sample of 50 real ports, each evaluated by HaikuPorter in the same run (a few seconds).
//!
//! The sample is every 1/50th port directory of the tree in sorted order, copied with its patches and
//! licences into a tree of its own. HaikuPorter's view comes from `bench/real-tree/haikuporter_view.py`
//! (its `--repository-update` with the buildmaster bootstrap's config), ours from `buildmaster ports
//! dump`, and `bench/real-tree/compare.py` must find no difference of a class the full-tree comparison
//! does not keep (`bench/real-tree/known-differences.tsv`, docs/real-tree.md).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::farm::{assert_success, copy_tree, run_with_timeout, BIN};

const VIEW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/real-tree/haikuporter_view.py");
const COMPARE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/real-tree/compare.py");
const KNOWN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/bench/real-tree/known-differences.tsv"
);
/// Ports in the sample.
const SAMPLE: usize = 50;
/// Extracting the real inputs the first time on a loaded machine; HaikuPorter on the sample takes seconds.
const SLOW_STEP: Duration = Duration::from_secs(600);

fn real_inputs() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/real-inputs.sh");
    let out = run_with_timeout(Command::new("bash").arg(script), SLOW_STEP);
    assert_success(&out, "scripts/real-inputs.sh");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every port directory (`category/port` with a recipe) of the tree, as HaikuPorter finds them: a
/// category has a `-` in its name and does not start with a dot.
fn port_dirs(tree: &Path) -> Vec<PathBuf> {
    let mut ports = Vec::new();
    for category in sorted_dirs(tree) {
        let name = category.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.contains('-') {
            continue;
        }
        for port in sorted_dirs(&category) {
            let has_recipe = std::fs::read_dir(&port)
                .unwrap()
                .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "recipe"));
            if has_recipe {
                ports.push(port);
            }
        }
    }
    ports
}

/// The sample tree: every `len / SAMPLE`-th port directory, and the tree's `FormatVersions`
/// (HaikuPorter refuses a tree without it).
fn sample_tree(real_tree: &Path, into: &Path) -> usize {
    let ports = port_dirs(real_tree);
    assert!(
        ports.len() > SAMPLE,
        "only {} ports in {}",
        ports.len(),
        real_tree.display()
    );
    for i in 0..SAMPLE {
        let port = &ports[i * ports.len() / SAMPLE];
        let relative = port.strip_prefix(real_tree).unwrap();
        copy_tree(port, &into.join(relative));
    }
    std::fs::copy(real_tree.join("FormatVersions"), into.join("FormatVersions")).unwrap();
    ports.len()
}

/// The lines HaikuPorter's buildmaster bootstrap writes into `haikuports.conf` (x86_64, nothing
/// secondary, ALLOW_UNTESTED unset), as bench/real-tree/haikuporter-env.sh does.
fn haikuports_conf(tree: &Path, licenses: &Path) -> String {
    format!(
        "TREE_PATH=\"{}\"\nLICENSES_DIRECTORY=\"{}\"\nPACKAGE_COMMAND=\"package\"\n\
         PACKAGE_REPO_COMMAND=\"package_repo\"\nPACKAGER=\"buildmaster x86_64 <buildmaster@haiku-os.org>\"\n\
         TARGET_ARCHITECTURE=\"x86_64\"\n",
        tree.display(),
        licenses.display()
    )
}

#[test]
fn a_sample_of_real_recipes_evaluates_as_haikuporter_evaluates_it() {
    let real = real_inputs();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("haikuports");
    let all = sample_tree(&real.join("haikuports"), &tree);
    eprintln!("sample: {SAMPLE} of {all} port directories");

    let conf = work.path().join("haikuports.conf");
    std::fs::write(&conf, haikuports_conf(&tree, &real.join("licenses"))).unwrap();
    let hp_view = work.path().join("haikuporter-view.json");
    let out = run_with_timeout(
        Command::new("python3")
            .arg(VIEW)
            .arg("--haikuporter")
            .arg(real.join("haikuporter"))
            .arg("--config")
            .arg(&conf)
            .arg("--out")
            .arg(&hp_view),
        SLOW_STEP,
    );
    assert_success(&out, "haikuporter_view.py on the sample");

    // Ours reads a tree HaikuPorter has not written into (it leaves work directories in the tree).
    let our_tree = work.path().join("ours-tree");
    sample_tree(&real.join("haikuports"), &our_tree);
    let state = work.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("buildmaster.toml"),
        format!(
            "[ports]\ntree = \"{}\"\ntarget_architecture = \"x86_64\"\nallow_untested = false\n\
             licenses_directory = \"{}\"\n",
            our_tree.display(),
            real.join("licenses").display()
        ),
    )
    .unwrap();
    let out = run_with_timeout(
        Command::new(BIN)
            .arg("--state-dir")
            .arg(&state)
            .args(["ports", "dump"]),
        SLOW_STEP,
    );
    assert_success(&out, "buildmaster ports dump on the sample");
    let ours = work.path().join("ours.json");
    std::fs::write(&ours, &out.stdout).unwrap();

    let out = run_with_timeout(
        Command::new("python3")
            .arg(COMPARE)
            .arg("--haikuporter")
            .arg(&hp_view)
            .arg("--ours")
            .arg(&ours)
            .arg("--known")
            .arg(KNOWN)
            .args(["--examples", "20"]),
        SLOW_STEP,
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert_success(
        &out,
        "compare.py on the sample (differences HaikuPorter does not have)",
    );
}
