//! The real HaikuPorts tree (the snapshot in `../shared/real`, extracted by `scripts/real-inputs.sh`)
//! evaluated for x86_64 with Haiku's licence files and HaikuPorter's defaults, against what HaikuPorter
//! 1.4.0 itself makes of the same snapshot (`bench/real-tree/run.sh`): the same active ports and
//! packages, the same broken recipes. Skipped, with a message, when `../shared/real` is absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use buildmaster::ports::{EvalOptions, PortsTree};

/// HaikuPorter's figures for the snapshot (haikuports @785d8af8, x86_64, ALLOW_UNTESTED off):
/// `haikuporter_view.py` reports 3,532 active ports with 6,552 packages and 80 broken recipes among
/// the versions it looks at.
const HAIKUPORTER_ACTIVE: usize = 3532;
const HAIKUPORTER_PACKAGES: usize = 6552;
const HAIKUPORTER_BROKEN_LOOKED_AT: usize = 80;

/// The extracted inputs, or `None` when the shared folder is missing.
fn real_inputs() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("../shared/real").is_dir() {
        return None;
    }
    let output = Command::new("bash")
        .arg(root.join("scripts/real-inputs.sh"))
        .output()
        .expect("run scripts/real-inputs.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(PathBuf::from(String::from_utf8(output.stdout).unwrap().trim()))
}

#[test]
fn the_real_tree_evaluates_as_haikuporter_does() {
    let Some(real) = real_inputs() else {
        eprintln!("skipped: ../shared/real is absent (the real HaikuPorts snapshot)");
        return;
    };
    let options = EvalOptions {
        target_arch: "x86_64".into(),
        secondary_archs: Vec::new(),
        allow_untested: false,
        licenses_dir: Some(real.join("licenses")),
        cache: None,
        jobs: 0,
    };
    let tree = PortsTree::load(&real.join("haikuports"), &options).unwrap();
    let active: Vec<_> = tree.active_ports().collect();
    assert_eq!(active.len(), HAIKUPORTER_ACTIVE);
    let packages: usize = active.iter().map(|p| p.packages.len()).sum();
    assert_eq!(packages, HAIKUPORTER_PACKAGES);

    // Broken recipes: those HaikuPorter looks at (every version above the active one, or all of a
    // port without one) are its 80; the rest are older versions it never gets to.
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for problem in &tree.problems {
        let file = problem.recipe_path.file_name().unwrap().to_str().unwrap();
        let (name, version) = file.trim_end_matches(".recipe").split_once('-').unwrap();
        by_name.entry(name).or_default().push(version);
    }
    let looked_at = by_name
        .iter()
        .flat_map(|(name, versions)| versions.iter().map(move |v| (*name, *v)))
        .filter(|(name, version)| match tree.active(name) {
            None => true,
            Some(port) => buildmaster::ports::active::compare_port_versions(version, &port.version).is_gt(),
        })
        .count();
    assert_eq!(looked_at, HAIKUPORTER_BROKEN_LOOKED_AT, "{:?}", tree.problems);
    let licence = tree
        .problems
        .iter()
        .filter(|p| p.message.starts_with("No match found for license"))
        .count();
    assert!(licence > 0, "recipes with licences Haiku lacks are broken");

    // Port names come from recipe file names, not directories.
    let python = tree.active("python3.14").expect("python3.14");
    assert_eq!(python.recipe_path.parent(), Some(Path::new("dev-lang/python")));
    assert!(python.packages.iter().any(|p| p.name == "python3.14"));
    assert!(tree.active("python").is_none());
    let stress = tree.active("stress_ng").expect("stress_ng");
    assert_eq!(
        stress.recipe_path.parent(),
        Some(Path::new("app-benchmarks/stress-ng"))
    );
    // pygments builds only suffixed packages.
    let pygments = tree.active("pygments").expect("pygments");
    assert!(!pygments.packages.is_empty());
    assert!(pygments
        .packages
        .iter()
        .all(|p| p.name.starts_with("pygments_python")));
}
