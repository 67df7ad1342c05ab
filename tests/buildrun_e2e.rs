//! End to end: the test ports tree (`tests/fixtures/ports-tree`) planned and built by the real
//! `buildmaster` binary on two real sshd builders running the HaikuPorter stand-in
//! (`tools/haikuporter-standin`), published to garage and read back the way pkgman does — then the
//! same with a builder SIGKILLed mid-build and with the buildmaster itself SIGKILLed mid-buildrun.
//!
//! What the builders really did comes from the farm's ledger (written by the builders' build tool,
//! see `support/farm.rs`), so "built in parallel", "built once" and "these bytes came from that build"
//! are checked against evidence the buildmaster did not write. The first tests check the stand-in on
//! its own: that it refuses a build whose dependencies are not all visible is what makes "the master
//! sent exactly the dependencies" observable in the later ones.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::farm::{
    haikuporter_dir, make_system_packages, run_with_timeout, wait_child, wait_for, Farm, LedgerBuild,
    LedgerEntry, BIN, FIXTURE_TREE, STAND_IN,
};
use support::pkgman::refresh_and_download;

/// One farm at a time: the machine has two cores, and overlapping farms would blur the timings.
static SERIAL: Mutex<()> = Mutex::new(());

/// Limit for a whole buildrun of the fixture tree (about ten one-second builds on two builders).
const BUILDRUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Limit for `buildmaster plan`.
const PLAN_TIMEOUT: Duration = Duration::from_secs(60);

/// Ports the fixture tree must build for x86_64 (`name-version` of the active versions).
const BUILT: &[&str] = &[
    "libbase-1.0",
    "libleft-2.1",
    "libright-0.9",
    "toolbox-1.0",
    "libcore-1.4.2",
    "libmiddle-0.3",
    "frontend-2.0",
    "libtwo-1.2",
    "fontsdemo-1.0",
    "untestedtool-0.5",
];

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------------
// The stand-in on its own.

/// A packages directory with the system packages visible, and a builder config pointing at the
/// fixture tree, as the master would write them.
struct StandIn {
    dir: tempfile::TempDir,
}

impl StandIn {
    fn new() -> StandIn {
        let dir = tempfile::tempdir().unwrap();
        make_system_packages(&dir.path().join("system"), &dir.path().join("src"));
        std::fs::create_dir_all(dir.path().join("packages")).unwrap();
        std::fs::write(
            dir.path().join("builder.conf"),
            format!(
                "TREE_PATH=\"{FIXTURE_TREE}\"\nPACKAGES_PATH=\"{}\"\n\
                 PACKAGER=\"Builder t <hpkg-builder@haiku-os.org>\"\nTARGET_ARCHITECTURE=\"x86_64\"\n\
                 SECONDARY_TARGET_ARCHITECTURES=\"x86\"\nALLOW_UNTESTED=\"no\"\n",
                dir.path().join("packages").display()
            ),
        )
        .unwrap();
        let standin = StandIn { dir };
        for entry in std::fs::read_dir(standin.dir.path().join("system")).unwrap() {
            standin.make_visible(&entry.unwrap().path());
        }
        standin
    }

    fn packages(&self) -> std::path::PathBuf {
        self.dir.path().join("packages")
    }

    /// Symlinks `file` into the packages directory, as the master's cache does.
    fn make_visible(&self, file: &Path) {
        std::os::unix::fs::symlink(file, self.packages().join(file.file_name().unwrap())).unwrap();
    }

    /// Removes the visible system package `name` from the packages directory.
    fn hide(&self, name: &str) {
        for entry in std::fs::read_dir(self.packages()).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_symlink() && file.starts_with(&format!("{name}-")) {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }

    /// Moves the real files the last build produced out of sight into `built/`, returning them.
    fn take_results(&self) -> Vec<std::path::PathBuf> {
        let built = self.dir.path().join("built");
        std::fs::create_dir_all(&built).unwrap();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.packages()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_symlink() {
                continue;
            }
            let target = built.join(path.file_name().unwrap());
            std::fs::rename(&path, &target).unwrap();
            out.push(target);
        }
        out.sort();
        out
    }

    fn build(&self, port: &str) -> std::process::Output {
        run_with_timeout(
            Command::new(STAND_IN)
                .current_dir(FIXTURE_TREE)
                .env("BUILDMASTER", BIN)
                .env("HAIKUPORTER_DIR", haikuporter_dir())
                .env("NO_COLOR", "1")
                .arg(format!(
                    "--config={}",
                    self.dir.path().join("builder.conf").display()
                ))
                .args([
                    "--no-system-packages",
                    "--no-package-obsoletion",
                    "--ignore-messages",
                ])
                .arg(port),
            Duration::from_secs(60),
        )
    }
}

fn hpkg_info(file: &Path) -> String {
    let out = run_with_timeout(
        Command::new(BIN).args(["hpkg", "list", "-i"]).arg(file),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "hpkg list -i {}: {}",
        file.display(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn standin_builds_only_when_every_build_dependency_is_visible() {
    let s = StandIn::new();

    // libbase needs only system packages: two real packages, with the recipe's attributes.
    let out = s.build("libbase-1.0");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let results = s.take_results();
    let names: Vec<_> = results
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy())
        .collect();
    assert_eq!(
        names,
        ["libbase-1.0-1-x86_64.hpkg", "libbase_devel-1.0-1-x86_64.hpkg"]
    );
    let main = hpkg_info(&results[0]);
    for line in [
        "name: libbase",
        "version: 1.0-1",
        "architecture: x86_64",
        "packager: Builder t <hpkg-builder@haiku-os.org>",
        "provides: lib:libbase = 1.0.0 (compatible >= 1)",
        "requires: haiku",
        "URL: https://example.org/libbase",
    ] {
        assert!(main.contains(line), "libbase lacks {line:?}:\n{main}");
    }
    let devel = hpkg_info(&results[1]);
    assert!(devel.contains("base package: libbase"), "{devel}");
    assert!(
        devel.contains("provides: devel:libbase = 1.0.0 (compatible >= 1)"),
        "{devel}"
    );

    // libleft without libbase's packages: refused, naming what is missing, and nothing produced.
    let out = s.build("libleft-2.1");
    assert!(
        !out.status.success(),
        "built without its dependencies:\n{}",
        text(&out.stdout)
    );
    // HaikuPorter's resolver's own words.
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"build-requires "devel:libbase" of package "libleft-2.1" could not be resolved"#),
        "{err}"
    );
    assert!(s.take_results().is_empty());

    // Only libbase_devel visible: its own REQUIRES (libbase) is missing, so still refused.
    s.make_visible(&results[1]);
    let out = s.build("libleft-2.1");
    assert!(
        !out.status.success(),
        "built without libbase:\n{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"requires "libbase == 1.0" of package "libbase_devel-1.0-1" could not be resolved"#),
        "{err}"
    );

    // Both visible: built.
    s.make_visible(&results[0]);
    let out = s.build("libleft-2.1");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let built: Vec<_> = s
        .take_results()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        built,
        ["libleft-2.1-1-x86_64.hpkg", "libleft_devel-2.1-1-x86_64.hpkg"]
    );
}

#[test]
fn standin_refuses_without_haikuporters_scriptlet_tools_or_the_haiku_package() {
    // fontsdemo requires nothing itself: what it needs is what HaikuPorter needs on every builder.
    let s = StandIn::new();
    let out = s.build("fontsdemo-1.0");
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    s.take_results();

    // buildtools provides cmd:objcopy, cmd:readelf and cmd:strip here.
    s.hide("buildtools");
    let out = s.build("fontsdemo-1.0");
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        err.contains(
            r#"scriptlet-prerequires "cmd:objcopy" of package "fontsdemo-1.0" could not be resolved"#
        ),
        "{err}"
    );

    // Without a haiku package in PACKAGES_PATH HaikuPorter does not even start.
    s.hide("haiku");
    let out = s.build("fontsdemo-1.0");
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(err.contains("Failed to find Haiku system package"), "{err}");
    assert!(
        s.take_results().is_empty(),
        "a refused build left packages behind"
    );
}

#[test]
fn standin_fails_like_haikuporter_on_ports_it_must_not_build() {
    let s = StandIn::new();
    let cases = [
        ("brokenapp-1.0", "port brokenapp-1.0 is broken on x86_64"),
        (
            "riscvonly-1.0",
            "package riscvonly-1.0 cannot be built for architecture x86_64",
        ),
        // ALLOW_UNTESTED="no" in this builder config.
        ("untestedtool-0.5", "untested on x86_64"),
        ("brokenrecipe-1.0", "brokenrecipe-1.0.recipe: line"),
        (
            "ghostclient-0.1",
            r#"build-requires "devel:libghost" of package "ghostclient-0.1" could not be resolved"#,
        ),
        ("nosuchport-1.0", "no recipe for nosuchport-1.0"),
        ("libtwo-9.9", "no recipe for libtwo-9.9"),
    ];
    for (port, message) in cases {
        let out = s.build(port);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{port} was built:\n{}", text(&out.stdout));
        assert!(err.contains(message), "{port}: expected {message:?} in:\n{err}");
    }
    assert!(
        s.take_results().is_empty(),
        "a refused build left packages behind"
    );

    // An architecture-independent port makes an `-any` package; both libtwo versions build.
    for (port, file) in [
        ("fontsdemo-1.0", "fontsdemo-1.0-2-any.hpkg"),
        ("libtwo-1.0", "libtwo-1.0-3-x86_64.hpkg"),
        ("libtwo-1.2", "libtwo-1.2-1-x86_64.hpkg"),
    ] {
        let out = s.build(port);
        assert!(
            out.status.success(),
            "{port}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let built = s.take_results();
        assert!(
            built.iter().any(|p| p.file_name().unwrap() == file),
            "{port} made {built:?}"
        );
    }

    // Secondary architecture: libbase_x86 is the x86 build of libbase, and its requirements carry the
    // suffix — no x86 system packages are visible here, so HaikuPorter's resolver refuses it at the
    // first of them (it stops at the first requirement it cannot resolve).
    let out = s.build("libbase_x86-1.0");
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        err.contains(
            r#"build-requires "haiku_x86_devel" of package "libbase_x86-1.0" could not be resolved"#
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------------
// The example tree, exactly as examples/buildmaster.toml documents it: from the checkout's root, the
// default local builder running the stand-in, filesystem storage in the state directory.

#[test]
fn the_example_tree_builds_and_publishes_on_the_local_builder() {
    let state = tempfile::tempdir().unwrap();
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(state.path().join("repository")).unwrap();
    std::fs::copy(
        checkout.join("examples/repo.info"),
        state.path().join("repository/repo.info"),
    )
    .unwrap();
    let out = run_with_timeout(
        Command::new(BIN)
            .current_dir(checkout)
            .env_remove("STORAGE_BACKEND_CONFIG")
            .env_remove("BUILDMASTER_CONFIG")
            .env("BUILDMASTER", BIN)
            .env("HAIKUPORTER_DIR", haikuporter_dir())
            .arg("--state-dir")
            .arg(state.path())
            .args([
                "buildrun",
                "--config",
                "examples/buildmaster.toml",
                "--everything",
            ]),
        BUILDRUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let repo = std::fs::read(state.path().join("storage/repo")).expect("the published index");
    let index = buildmaster::haiku::hpkr_reader::read_repository_bytes(&repo).unwrap();
    let names: BTreeSet<String> = index.packages.iter().map(|p| p.canonical_file_name()).collect();
    let expected: BTreeSet<String> = [
        "libgreet-1.2.0-1-x86_64.hpkg",
        "libgreet_devel-1.2.0-1-x86_64.hpkg",
        "libfarewell-0.4-1-x86_64.hpkg",
        "libfarewell_devel-0.4-1-x86_64.hpkg",
        "hello-2.1-1-x86_64.hpkg",
        "goodbye-0.9-1-x86_64.hpkg",
        "wave-1.0-1-x86_64.hpkg",
        "greetings_data-1.0-1-any.hpkg",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected, "{}", text(&out.stdout));
}

// ---------------------------------------------------------------------------------------------------
// Planning.

/// `buildmaster plan --json ARGS`, parsed.
fn plan_json(farm: &Farm, args: &[&str]) -> Value {
    let mut full = vec!["plan", "--json"];
    full.extend_from_slice(args);
    let out = farm.run(&full, PLAN_TIMEOUT);
    assert!(
        out.status.success(),
        "plan {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan {args:?} printed no JSON plan ({e}):\n{}", text(&out.stdout)))
}

/// `name-version` of every planned build, in plan order.
fn planned_ports(plan: &Value) -> Vec<String> {
    plan["builds"]
        .as_array()
        .expect("the plan has a builds list")
        .iter()
        .map(|b| {
            format!(
                "{}-{}",
                b["port"]["name"].as_str().unwrap(),
                b["port"]["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// Every result file of every planned build.
fn planned_results(plan: &Value) -> BTreeSet<String> {
    plan["builds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["results"].as_array().unwrap().iter())
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// The skip entry for `port` (matched on the name before the version).
fn skipped<'a>(plan: &'a Value, port: &str) -> Option<&'a Value> {
    plan["skipped"].as_array()?.iter().find(|s| {
        let name = s["port"].as_str().unwrap_or_default();
        name == port || name.starts_with(&format!("{port}-"))
    })
}

fn assert_plan_order_and_skips(farm: &Farm) -> Value {
    let plan = plan_json(farm, &["--everything"]);
    let ports = planned_ports(&plan);
    let wanted: BTreeSet<String> = BUILT.iter().map(|s| s.to_string()).collect();
    let got: BTreeSet<String> = ports.iter().cloned().collect();
    assert_eq!(got, wanted, "planned builds differ; plan order: {ports:?}");
    let at = |port: &str| ports.iter().position(|p| p == port).unwrap();
    for (before, after) in [
        ("libbase-1.0", "libleft-2.1"),
        ("libbase-1.0", "libright-0.9"),
        ("libleft-2.1", "toolbox-1.0"),
        ("libright-0.9", "toolbox-1.0"),
        ("libcore-1.4.2", "libmiddle-0.3"),
        ("libmiddle-0.3", "frontend-2.0"),
        ("libtwo-1.2", "frontend-2.0"),
    ] {
        assert!(
            at(before) < at(after),
            "{before} must come before {after}: {ports:?}"
        );
        let edges: Vec<u64> = plan["builds"][at(after)]["after"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        // Direct dependencies are edges; libbase → toolbox is only transitive and is not checked.
        assert!(
            edges.contains(&(at(before) as u64)),
            "{after}'s `after` lacks {before} (index {}): {edges:?}",
            at(before)
        );
    }

    // Skip reasons. `--everything` may leave ports it does not want out of `skipped`; naming them
    // explicitly must give the reason.
    let explicit = plan_json(
        farm,
        &[
            "brokenapp",
            "riscvonly",
            "ghostclient",
            "ghostviewer",
            "brokenrecipe",
        ],
    );
    let reason = |port: &str| -> Value {
        skipped(&explicit, port)
            .or_else(|| skipped(&plan, port))
            .unwrap_or_else(|| panic!("{port} is not among the skipped ports:\n{explicit:#}"))
            .clone()
    };
    let broken = reason("brokenapp");
    assert_eq!(
        broken["reason"]["kind"], "not_buildable_on_architecture",
        "{broken}"
    );
    assert_eq!(broken["reason"]["status"], "broken", "{broken}");
    // A recipe whose ARCHITECTURES does not name the target at all is an error in HaikuPorter
    // (Package.py: "package X cannot be built for architecture Y"), not a status.
    let unsupported = reason("riscvonly");
    assert_eq!(unsupported["reason"]["kind"], "broken_recipe", "{unsupported}");
    assert!(
        unsupported["reason"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot be built for architecture x86_64"),
        "{unsupported}"
    );
    let ghost = reason("ghostclient");
    assert_eq!(ghost["reason"]["kind"], "unresolvable", "{ghost}");
    assert!(
        ghost["reason"]["requires"]
            .as_str()
            .unwrap()
            .contains("devel:libghost"),
        "{ghost}"
    );
    let viewer = reason("ghostviewer");
    assert_eq!(viewer["reason"]["kind"], "dependency_cannot_be_built", "{viewer}");
    assert!(
        viewer["reason"]["dependency"]
            .as_str()
            .unwrap()
            .starts_with("ghostclient"),
        "{viewer}"
    );
    let syntax = reason("brokenrecipe");
    assert_eq!(syntax["reason"]["kind"], "broken_recipe", "{syntax}");
    let message = syntax["reason"]["message"].as_str().unwrap();
    assert!(message.contains("syntax error"), "{syntax}");
    let path = format!(
        "{}{}",
        syntax["recipe_path"].as_str().unwrap_or_default(),
        message
    );
    assert!(
        path.contains("brokenrecipe-1.0.recipe"),
        "the broken recipe's path is not named: {syntax}"
    );
    // The skipped ports are not in the build list.
    for port in [
        "brokenapp",
        "riscvonly",
        "ghostclient",
        "ghostviewer",
        "brokenrecipe",
    ] {
        assert!(
            !ports.iter().any(|p| p.starts_with(&format!("{port}-"))),
            "{port} planned: {ports:?}"
        );
    }
    plan
}

// ---------------------------------------------------------------------------------------------------
// Buildruns.

/// Builds that ended with status 0, per port.
fn successful_builds(builds: &[LedgerBuild]) -> BTreeMap<String, Vec<&LedgerBuild>> {
    let mut out: BTreeMap<String, Vec<&LedgerBuild>> = BTreeMap::new();
    for build in builds {
        if matches!(build.end, Some((0, _))) {
            out.entry(build.port.clone()).or_default().push(build);
        }
    }
    out
}

/// Successful `records/<n>.json` per port name.
fn successful_records(farm: &Farm) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for record in farm.records() {
        if record["buildSuccess"].as_bool() == Some(true) {
            let name = record["port"]["name"].as_str().unwrap_or_default().to_string();
            *out.entry(name).or_default() += 1;
        }
    }
    out
}

/// Two builds on different builders whose run times overlap, from the records the buildmaster wrote.
fn overlapping_records(farm: &Farm) -> Option<(String, String)> {
    let spans: Vec<(String, String, f64, f64)> = farm
        .records()
        .iter()
        .filter_map(|r| {
            let start = r["startTime"].as_f64()?;
            let duration = r["duration"].as_f64()?;
            Some((
                r["port"]["name"].as_str()?.to_string(),
                r["builderId"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| r["builderId"].to_string()),
                start,
                start + duration,
            ))
        })
        .collect();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.1 != b.1 && a.2 < b.3 && b.2 < a.3 {
                return Some((format!("{} on {}", a.0, a.1), format!("{} on {}", b.0, b.1)));
            }
        }
    }
    None
}

/// Checks the bucket the way pkgman reads it and that it holds exactly `expected`; then that every
/// published package's bytes are those of exactly one build in the ledger. Ports in `in_flight` were
/// running when the buildmaster was killed: an orphaned build of theirs may have finished on its
/// builder too (possibly with identical bytes), so for them one or more producers are accepted.
fn assert_published(farm: &Farm, expected: &BTreeSet<String>, in_flight: &BTreeSet<String>) {
    let refreshed = refresh_and_download(&farm.web_base()).unwrap_or_else(|e| {
        panic!(
            "pkgman refresh of {} failed: {e:?}\n{}",
            farm.web_base(),
            farm.diagnostics()
        )
    });
    let published: BTreeSet<String> = refreshed.packages.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        &published, expected,
        "published packages differ from the plan's results"
    );
    let ledger = farm.ledger();
    for (file, checksum) in &refreshed.packages {
        let producers: Vec<(&String, &String)> = ledger
            .iter()
            .filter_map(|e| match e {
                LedgerEntry::Result(builder, port, f, sha)
                    if f == file && sha.eq_ignore_ascii_case(checksum) =>
                {
                    Some((builder, port))
                }
                _ => None,
            })
            .collect();
        let orphan_possible = producers.iter().any(|(_, port)| in_flight.contains(*port));
        assert!(
            producers.len() == 1 || (orphan_possible && !producers.is_empty()),
            "{file} (sha256 {checksum}) must come from exactly one build: {producers:?}\n{}",
            farm.diagnostics()
        );
    }
}

#[test]
fn e2e_plan_then_buildrun_builds_in_parallel_and_publishes_everything() {
    let _serial = serial();
    let started = Instant::now();
    let farm = Farm::start(2);
    let plan = assert_plan_order_and_skips(&farm);
    let expected = planned_results(&plan);

    let out = farm.run(&["buildrun", "--everything"], BUILDRUN_TIMEOUT);
    assert!(
        out.status.success(),
        "buildrun failed:\n{}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        farm.diagnostics()
    );

    let builds = farm.ledger_builds();
    let ok = successful_builds(&builds);
    let built: BTreeSet<String> = ok.keys().cloned().collect();
    let wanted: BTreeSet<String> = BUILT.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        built,
        wanted,
        "ports built differ from the plan\n{}",
        farm.diagnostics()
    );
    for (port, runs) in &ok {
        assert_eq!(runs.len(), 1, "{port} built {} times", runs.len());
    }
    // Nothing ran that must not: every build in the ledger succeeded (the master sent every
    // dependency, or the stand-in would have refused).
    let failed: Vec<_> = builds.iter().filter(|b| !matches!(b.end, Some((0, _)))).collect();
    assert!(
        failed.is_empty(),
        "builds failed on the builders: {failed:?}\n{}",
        farm.diagnostics()
    );
    // Both builders worked, at the same time.
    let used: BTreeSet<&str> = builds.iter().map(|b| b.builder.as_str()).collect();
    assert_eq!(used.len(), 2, "only {used:?} built anything");
    let overlap = overlapping_records(&farm);
    assert!(
        overlap.is_some(),
        "no two builds overlapped in records/*.json\n{}",
        farm.diagnostics()
    );
    for (port, count) in successful_records(&farm) {
        assert_eq!(count, 1, "{port} has {count} successful records");
    }
    assert_eq!(
        successful_records(&farm).len(),
        BUILT.len(),
        "records: {:?}",
        farm.records()
    );

    assert_published(&farm, &expected, &BTreeSet::new());

    // Nothing left to build: a second plan of everything is empty.
    let again = plan_json(&farm, &["--everything"]);
    assert!(
        planned_ports(&again).is_empty(),
        "after the buildrun the plan still builds {:?}",
        planned_ports(&again)
    );
    eprintln!("e2e buildrun test: {:.1} s wall", started.elapsed().as_secs_f64());
}

#[test]
fn e2e_a_builder_killed_mid_build_its_build_completes_on_the_other() {
    let _serial = serial();
    let started = Instant::now();
    let farm = Farm::start(2);
    let plan = plan_json(&farm, &["--everything"]);
    let expected = planned_results(&plan);

    let mut child = farm.spawn(&["buildrun", "--everything"], "buildrun");
    // A build running on b1 right now (started, not ended).
    let victim = wait_for(
        "a build running on b1",
        Duration::from_secs(120),
        || {
            farm.ledger_builds()
                .into_iter()
                .find(|b| b.builder == "b1" && b.end.is_none())
                .map(|b| b.port)
        },
        || farm.diagnostics(),
    );
    let mut farm = farm;
    farm.builders[0].kill();
    let killed_at = now();

    let status = wait_child(&mut child, BUILDRUN_TIMEOUT, "buildrun", || farm.diagnostics());
    assert!(
        status.success(),
        "buildrun failed: {status}\n{}",
        farm.diagnostics()
    );

    let builds = farm.ledger_builds();
    let ok = successful_builds(&builds);
    let rerun = ok
        .get(&victim)
        .unwrap_or_else(|| panic!("{victim} never completed\n{}", farm.diagnostics()));
    assert_eq!(rerun.len(), 1, "{victim} completed {} times", rerun.len());
    assert_eq!(
        rerun[0].builder, "b2",
        "{victim} completed on {}",
        rerun[0].builder
    );
    assert!(
        rerun[0].start > killed_at - 0.5,
        "{victim}'s completed build started before the kill"
    );
    for (port, runs) in &ok {
        assert_eq!(runs.len(), 1, "{port} built successfully {} times", runs.len());
    }
    let built: BTreeSet<String> = ok.keys().cloned().collect();
    let wanted: BTreeSet<String> = BUILT.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        built,
        wanted,
        "ports built differ from the plan\n{}",
        farm.diagnostics()
    );
    assert_published(&farm, &expected, &BTreeSet::new());
    eprintln!(
        "e2e builder-kill test: {:.1} s wall",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn e2e_the_buildmaster_killed_mid_buildrun_resumes_and_builds_nothing_twice() {
    let _serial = serial();
    let started = Instant::now();
    let farm = Farm::start(2);
    let plan = plan_json(&farm, &["--everything"]);
    let expected = planned_results(&plan);

    let mut child = farm.spawn(&["buildrun", "--everything"], "buildrun-killed");
    // Kill it once it has recorded some builds as complete and another is running on a builder.
    wait_for(
        "two builds recorded complete and one running",
        Duration::from_secs(120),
        || {
            // A build that started moments ago is still running when the kill lands (every fixture
            // build sleeps a second); one about to end could finish in between and void the scenario.
            let just_started = farm
                .ledger_builds()
                .iter()
                .any(|b| b.end.is_none() && now() - b.start < 0.4);
            (successful_records(&farm).len() >= 2 && just_started).then_some(())
        },
        || farm.diagnostics(),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = now();
    // Builds running on the builders when it died (they may finish there as orphans).
    let in_flight: BTreeSet<String> = farm
        .ledger_builds()
        .into_iter()
        .filter(|b| b.end.is_none())
        .map(|b| b.port)
        .collect();
    // What the buildmaster had recorded as complete when it died.
    let complete_before: BTreeSet<String> = successful_records(&farm).into_keys().collect();

    assert!(
        complete_before.len() >= 2,
        "records before the kill: {complete_before:?}"
    );
    assert!(!in_flight.is_empty(), "nothing was running at the kill");

    // The operator runs the same command again; it must resume the unfinished buildrun (checked
    // below: still one buildrun) rather than plan a new one.
    let out = farm.run(&["buildrun", "--everything"], BUILDRUN_TIMEOUT);
    assert!(
        out.status.success(),
        "the resumed buildrun failed:\n{}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        farm.diagnostics()
    );

    let builds = farm.ledger_builds();
    // Nothing recorded complete before the kill was built again.
    for build in builds.iter().filter(|b| b.start > killed_at) {
        let name = build.port.rsplit_once('-').map(|(n, _)| n).unwrap_or(&build.port);
        assert!(
            !complete_before.contains(name),
            "{} was complete before the kill and was built again on {}\n{}",
            build.port,
            build.builder,
            farm.diagnostics()
        );
    }
    // Every port completed, and has exactly one successful record.
    let wanted: BTreeSet<String> = BUILT
        .iter()
        .map(|p| p.rsplit_once('-').unwrap().0.to_string())
        .collect();
    let records = successful_records(&farm);
    assert_eq!(
        records.keys().cloned().collect::<BTreeSet<_>>(),
        wanted,
        "records: {records:?}"
    );
    for (port, count) in &records {
        assert_eq!(
            *count,
            1,
            "{port} has {count} successful records\n{}",
            farm.diagnostics()
        );
    }
    // The same buildrun was resumed and completed: one buildrun directory, its status complete.
    let runs = farm.buildrun_numbers();
    assert_eq!(runs.len(), 1, "buildruns: {runs:?}");
    let status = farm.status_json(runs[0]);
    assert!(
        status["buildStatus"]
            .as_str()
            .unwrap_or_default()
            .starts_with("complete"),
        "status.json: {status:#}"
    );
    // No package lost; the published bytes are those of exactly one build.
    assert_published(&farm, &expected, &in_flight);
    eprintln!("killed while recorded complete: {complete_before:?}; running: {in_flight:?}");
    eprintln!(
        "e2e master-kill test: {:.1} s wall",
        started.elapsed().as_secs_f64()
    );
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
