//! The packages a build makes, decided by HaikuPorter on both sides (issue 12;
//! `docs/builder-contract.md` row 16a): the master expects the packages its own reading of Port.py
//! gives (`src/ports/attributes.rs`), and the HaikuPorter stand-in (`tools/haikuporter-standin`) makes
//! the ones HaikuPorter's Port.py itself lists (`tools/haikuporter-resolve.py packages`). The port is
//! `tests/fixtures/standin-packages/dev-libs/libsplit`, added to a copy of the fixture tree: a
//! subpackage renamed and re-versioned with `PACKAGE_NAME_tools` / `PACKAGE_VERSION_tools`, an
//! architecture-independent subpackage, and an untested subpackage.
//!
//! The first test runs the stand-in directly and compares with `buildmaster plan` under each setting
//! that changes the set (`ALLOW_UNTESTED`, `CREATE_SOURCE_PACKAGES`, `--no-source-packages`); the
//! second builds the port on a real sshd builder (its build step without network) through the
//! buildmaster and checks, against the builder's own ledger, that exactly the expected packages were
//! made, accepted and published.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::farm::{
    copy_tree, git_commit_all, haikuporter_dir, make_system_packages, run_with_timeout, Farm, LedgerEntry,
    BIN, FIXTURE_TREE, STAND_IN,
};
use support::pkgman::refresh_and_download;

/// The ports added to the fixture tree (`category/port/…`).
const EXTRA_PORTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/standin-packages");
/// Limit for one stand-in build (its BUILD() sleeps a second).
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);
/// Limit for `buildmaster plan` and for the one-port buildrun.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// What HaikuPorter makes of libsplit-1.3 on x86_64 by default (untested packages not allowed, no
/// source packages): the untested libsplit_tests is missing, the tools are splittools-0.7.
const DEFAULT_PACKAGES: &[&str] = &[
    "libsplit-1.3-2-x86_64.hpkg",
    "libsplit_data-1.3-2-any.hpkg",
    "libsplit_devel-1.3-2-x86_64.hpkg",
    "splittools-0.7-2-x86_64.hpkg",
];
/// The untested subpackage, made only with `ALLOW_UNTESTED`.
const UNTESTED_PACKAGE: &str = "libsplit_tests-1.3-2-x86_64.hpkg";
/// The source package, made only with `CREATE_SOURCE_PACKAGES` and without `--no-source-packages`.
const SOURCE_PACKAGE: &str = "libsplit_source-1.3-2-source.hpkg";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Adds the extra ports to the ports tree at `tree` and commits them.
fn add_extra_ports(tree: &Path) {
    copy_tree(Path::new(EXTRA_PORTS), tree);
    git_commit_all(tree);
}

/// The master's expected results for libsplit: `buildmaster plan --json libsplit` over `tree`.
fn master_expects(dir: &Path, tree: &Path, system: &Path, allow_untested: bool) -> BTreeSet<String> {
    let state = dir.join(format!("state-{allow_untested}"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("buildmaster.toml"),
        format!(
            "[ports]\ntree = \"{}\"\ntarget_architecture = \"x86_64\"\nsystem_packages = \"{}\"\n\
             allow_untested = {allow_untested}\n",
            tree.display(),
            system.display()
        ),
    )
    .unwrap();
    let out = run_with_timeout(
        Command::new(BIN)
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("STORAGE_BACKEND_CONFIG")
            .arg("--state-dir")
            .arg(&state)
            .args(["plan", "--json", "libsplit"]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "plan: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let builds = plan["builds"].as_array().expect("a builds list");
    assert_eq!(builds.len(), 1, "plan libsplit: {plan:#}");
    builds[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// A builder's packages directory with the system packages visible, as the master leaves it.
struct Builder {
    packages: PathBuf,
    conf: PathBuf,
}

impl Builder {
    fn new(dir: &Path, tree: &Path, system: &Path, settings: &str) -> Builder {
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages).unwrap();
        for entry in std::fs::read_dir(system).unwrap() {
            let file = entry.unwrap().path();
            std::os::unix::fs::symlink(&file, packages.join(file.file_name().unwrap())).unwrap();
        }
        let conf = dir.join("builder.conf");
        std::fs::write(
            &conf,
            format!(
                "TREE_PATH=\"{}\"\nPACKAGES_PATH=\"{}\"\nPACKAGER=\"Builder t <hpkg-builder@haiku-os.org>\"\n\
                 TARGET_ARCHITECTURE=\"x86_64\"\n{settings}",
                tree.display(),
                packages.display()
            ),
        )
        .unwrap();
        Builder { packages, conf }
    }

    /// Builds libsplit-1.3 with the stand-in (plus `args`); returns the package files it made,
    /// which it leaves in place.
    fn build(&self, tree: &Path, args: &[&str]) -> BTreeSet<String> {
        let out = run_with_timeout(
            Command::new(STAND_IN)
                .current_dir(tree)
                .env("BUILDMASTER", BIN)
                .env("HAIKUPORTER_DIR", haikuporter_dir())
                .env("NO_COLOR", "1")
                .arg(format!("--config={}", self.conf.display()))
                .args([
                    "--no-system-packages",
                    "--no-package-obsoletion",
                    "--ignore-messages",
                ])
                .args(args)
                .arg("libsplit-1.3"),
            BUILD_TIMEOUT,
        );
        assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
        std::fs::read_dir(&self.packages)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.is_symlink())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// `hpkg list` of one of the packages made (attributes and contents).
    fn list(&self, file: &str) -> String {
        let out = run_with_timeout(
            Command::new(BIN)
                .args(["hpkg", "list"])
                .arg(self.packages.join(file)),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "hpkg list {file}: {}", text(&out.stderr));
        text(&out.stdout)
    }
}

#[test]
fn the_standin_makes_exactly_the_packages_haikuporter_names_and_the_master_expects() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("haikuports");
    copy_tree(Path::new(FIXTURE_TREE), &tree);
    add_extra_ports(&tree);
    let system = dir.path().join("system");
    make_system_packages(&system, &dir.path().join("system-src"));

    // HaikuPorter's defaults, as the master writes them into builder.conf.
    let b = Builder::new(
        &dir.path().join("b-default"),
        &tree,
        &system,
        "ALLOW_UNTESTED=\"no\"\n",
    );
    let made = b.build(&tree, &[]);
    assert_eq!(made, set(DEFAULT_PACKAGES), "stand-in, untested not allowed");
    let expected = master_expects(dir.path(), &tree, &system, false);
    assert_eq!(
        made, expected,
        "the stand-in and the master disagree (allow_untested = false)"
    );

    // What is in them is what HaikuPorter names: the renamed tools package, the `any` data package.
    let tools = b.list("splittools-0.7-2-x86_64.hpkg");
    for line in [
        "name: splittools",
        "version: 0.7-2",
        "provides: cmd:splitcat = 0.7",
        "splitcat",
    ] {
        assert!(tools.contains(line), "splittools lacks {line:?}:\n{tools}");
    }
    let data = b.list("libsplit_data-1.3-2-any.hpkg");
    for line in ["name: libsplit_data", "architecture: any", "defaults"] {
        assert!(data.contains(line), "libsplit_data lacks {line:?}:\n{data}");
    }
    let main = b.list("libsplit-1.3-2-x86_64.hpkg");
    assert!(
        !main.contains("splitcat"),
        "the tools stayed in the main package:\n{main}"
    );

    // Untested subpackages allowed: HaikuPorter adds libsplit_tests, and so does the master.
    let b = Builder::new(
        &dir.path().join("b-untested"),
        &tree,
        &system,
        "ALLOW_UNTESTED=\"yes\"\n",
    );
    let made = b.build(&tree, &[]);
    let mut with_untested = set(DEFAULT_PACKAGES);
    with_untested.insert(UNTESTED_PACKAGE.to_string());
    assert_eq!(made, with_untested, "stand-in, untested allowed");
    let expected = master_expects(dir.path(), &tree, &system, true);
    assert_eq!(
        made, expected,
        "the stand-in and the master disagree (allow_untested = true)"
    );

    // Source packages: HaikuPorter makes libsplit_source when CREATE_SOURCE_PACKAGES is on, and not
    // with --no-source-packages. (The master never asks for them: it writes CREATE_SOURCE_PACKAGES="no".)
    let settings = "ALLOW_UNTESTED=\"no\"\nCREATE_SOURCE_PACKAGES=\"yes\"\n";
    let b = Builder::new(&dir.path().join("b-source"), &tree, &system, settings);
    let made = b.build(&tree, &[]);
    let mut with_source = set(DEFAULT_PACKAGES);
    with_source.insert(SOURCE_PACKAGE.to_string());
    assert_eq!(made, with_source, "stand-in, CREATE_SOURCE_PACKAGES=yes");
    let source = b.list(SOURCE_PACKAGE);
    assert!(
        source.contains("libsplit-1.3.recipe"),
        "the source package lacks the recipe:\n{source}"
    );
    let b = Builder::new(&dir.path().join("b-nosource"), &tree, &system, settings);
    let made = b.build(&tree, &["--no-source-packages"]);
    assert_eq!(made, set(DEFAULT_PACKAGES), "stand-in, --no-source-packages");
}

#[test]
fn a_build_on_an_sshd_builder_through_the_standin_ends_with_exactly_the_expected_packages() {
    let farm = Farm::start(1);
    add_extra_ports(&farm.tree());
    // HaikuPorter's default: untested packages are not built (the farm's config allows them).
    let toml_path = farm.state().join("buildmaster.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    assert!(toml.contains("allow_untested = true\n"), "{toml}");
    // And the build step runs without network (`unshare --net`): the stand-in needs none, as a
    // builder whose sources come from the master needs none.
    assert!(toml.contains("[[builders]]\n"), "{toml}");
    std::fs::write(
        &toml_path,
        toml.replace("allow_untested = true\n", "allow_untested = false\n")
            .replace("[[builders]]\n", "[[builders]]\nnetwork = \"none\"\n"),
    )
    .unwrap();

    let out = farm.run(&["plan", "--json", "libsplit"], RUN_TIMEOUT);
    assert!(
        out.status.success(),
        "plan: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: BTreeSet<String> = plan["builds"][0]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no planned build of libsplit: {plan:#}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected, set(DEFAULT_PACKAGES), "the master's expected results");

    // Without network its source must come from the source cache: an operator's upload (the recipe's
    // example.org URI is never fetched; with no CHECKSUM_SHA256 the upload is the source's pin).
    let source_dir = farm.dir.path().join("libsplit-source");
    std::fs::create_dir_all(source_dir.join("libsplit-1.3")).unwrap();
    let tarball = farm.dir.path().join("libsplit-1.3.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&source_dir)
        .arg("libsplit-1.3")
        .status()
        .unwrap();
    assert!(status.success());
    let out = farm.run(
        &["sources", "add", tarball.to_str().unwrap(), "--port", "libsplit"],
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "sources add: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let out = farm.run(&["buildrun", "libsplit"], RUN_TIMEOUT);
    assert!(
        out.status.success(),
        "buildrun failed:\n{}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        farm.diagnostics()
    );

    // The builder's own ledger: one build of libsplit, successful, that made exactly the expected
    // packages (so nothing was missing and nothing unexpected was left on the builder).
    let builds = farm.ledger_builds();
    assert_eq!(builds.len(), 1, "builds: {builds:?}\n{}", farm.diagnostics());
    assert_eq!(builds[0].port, "libsplit-1.3");
    assert!(
        matches!(builds[0].end, Some((0, _))),
        "{:?}\n{}",
        builds[0],
        farm.diagnostics()
    );
    let made: BTreeSet<String> = farm
        .ledger()
        .into_iter()
        .filter_map(|e| match e {
            LedgerEntry::Result(_, port, file, _) if port == "libsplit-1.3" => Some(file),
            _ => None,
        })
        .collect();
    assert_eq!(
        made,
        expected,
        "made on the builder vs expected\n{}",
        farm.diagnostics()
    );

    // The master accepted the build: one successful record, and exactly those packages published.
    let records = farm.records();
    let successful = records
        .iter()
        .filter(|r| r["buildSuccess"].as_bool() == Some(true))
        .count();
    assert_eq!(successful, 1, "records: {records:#?}\n{}", farm.diagnostics());
    let published = refresh_and_download(&farm.web_base())
        .unwrap_or_else(|e| panic!("pkgman refresh failed: {e:?}\n{}", farm.diagnostics()));
    let published: BTreeSet<String> = published.packages.into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        published,
        expected,
        "published vs expected\n{}",
        farm.diagnostics()
    );
}
