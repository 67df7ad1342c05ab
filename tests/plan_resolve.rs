//! The planner on hand-made ports: closure, provider preference, skip reasons, order, requests.

use std::path::{Path, PathBuf};

use buildmaster::haiku::attributes::ResolvableOperator;
use buildmaster::haiku::resolvable::{Provides, ResolvableExpression};
use buildmaster::haiku::version::Version;
use buildmaster::plan::builder_prerequires::HAIKUPORTER_BUILDER_PREREQUIRES;
use buildmaster::plan::catalog::active_key;
use buildmaster::plan::existing::{ExistingPackage, ExistingPackages};
use buildmaster::plan::model::{PackageOrigin, Plan, SkipReason};
use buildmaster::plan::{plan, PortCatalog, Request};
use buildmaster::ports::model::{ArchStatus, Port, PortPackage, RecipeProblem};

/// A hand-made tree: active = the newest buildable version of a name.
#[derive(Default)]
struct Tree {
    ports: Vec<Port>,
    problems: Vec<RecipeProblem>,
    /// What every build needs besides its recipe (none unless a test asks for HaikuPorter's).
    builder_prerequires: Vec<ResolvableExpression>,
}

impl PortCatalog for Tree {
    fn ports(&self) -> &[Port] {
        &self.ports
    }
    fn problems(&self) -> &[RecipeProblem] {
        &self.problems
    }
    fn active(&self, name: &str) -> Option<&Port> {
        self.ports
            .iter()
            .filter(|p| active_key(p) == name && p.status.is_buildable())
            .max_by(|a, b| {
                Version::parse(&a.version)
                    .unwrap()
                    .compare(&Version::parse(&b.version).unwrap())
            })
    }
    fn find(&self, spec: &str) -> Option<&Port> {
        self.ports
            .iter()
            .find(|p| p.versioned_name() == spec)
            .or_else(|| self.active(spec))
    }
    fn ports_for_files(&self, changed: &[PathBuf]) -> Vec<&Port> {
        self.ports
            .iter()
            .filter(|p| changed.contains(&p.recipe_path) && self.active(&active_key(p)) == Some(*p))
            .collect()
    }
    fn builder_prerequires(&self) -> &[ResolvableExpression] {
        &self.builder_prerequires
    }
}

/// `name [op version]`.
fn req(text: &str) -> ResolvableExpression {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let operator = parts.get(1).map(|op| match *op {
        ">=" => ResolvableOperator::GreaterEqual,
        ">" => ResolvableOperator::Greater,
        "==" => ResolvableOperator::Equal,
        "<" => ResolvableOperator::Less,
        "<=" => ResolvableOperator::LessEqual,
        "!=" => ResolvableOperator::NotEqual,
        other => panic!("operator {other}"),
    });
    ResolvableExpression {
        name: parts[0].into(),
        operator,
        version: parts.get(2).map(|v| Version::parse(v).unwrap()),
        ..Default::default()
    }
}

/// `name [= version [compat >= version]]`.
fn prov(text: &str) -> Provides {
    let parts: Vec<&str> = text.split_whitespace().collect();
    Provides {
        name: parts[0].into(),
        version: parts.get(2).map(|v| Version::parse(v).unwrap()),
        compatible_version: parts.get(5).map(|v| Version::parse(v).unwrap()),
    }
}

/// A port whose main package provides `name = version` plus `provides`, requires `requires`, and
/// build-requires `build`.
fn port(name: &str, version: &str, provides: &[&str], requires: &[&str], build: &[&str]) -> Port {
    let mut all = vec![prov(&format!("{name} = {version}"))];
    all.extend(provides.iter().map(|p| prov(p)));
    Port {
        name: name.into(),
        version: version.into(),
        revision: 1,
        category: "dev-libs".into(),
        recipe_path: PathBuf::from(format!("dev-libs/{name}/{name}-{version}.recipe")),
        secondary_arch: None,
        status: ArchStatus::Stable,
        packages: vec![package(name, version, all, requires)],
        build_requires: build.iter().map(|r| req(r)).collect(),
        build_prerequires: Vec::new(),
    }
}

fn package(name: &str, version: &str, provides: Vec<Provides>, requires: &[&str]) -> PortPackage {
    PortPackage {
        name: name.into(),
        version: Version::parse(&format!("{version}-1")).unwrap(),
        architecture: "x86_64".into(),
        status: ArchStatus::Stable,
        provides,
        requires: requires.iter().map(|r| req(r)).collect(),
    }
}

/// Adds a `_suffix` subpackage.
fn with_sub(mut port: Port, suffix: &str, provides: &[&str], requires: &[&str]) -> Port {
    let name = format!("{}_{suffix}", port.name);
    let provides = provides.iter().map(|p| prov(p)).collect();
    let sub = package(&name, &port.version, provides, requires);
    port.packages.push(sub);
    port
}

fn existing(name: &str, version: &str, provides: &[&str], origin: PackageOrigin) -> ExistingPackage {
    ExistingPackage {
        file_name: format!("{name}-{version}-x86_64.hpkg"),
        name: name.into(),
        origin,
        provides: provides.iter().map(|p| prov(p)).collect(),
        requires: Vec::new(),
    }
}

fn ports(names: &[&str]) -> Request {
    Request::Ports(names.iter().map(|n| n.to_string()).collect())
}

/// Versioned names of the builds, in order.
fn order(plan: &Plan) -> Vec<String> {
    plan.builds.iter().map(|b| b.port.versioned_name()).collect()
}

fn position(plan: &Plan, name: &str) -> usize {
    plan.builds
        .iter()
        .position(|b| b.port.name == name)
        .unwrap_or_else(|| panic!("{name} not planned: {plan:#?}"))
}

fn skip_reason<'a>(plan: &'a Plan, port: &str) -> &'a SkipReason {
    &plan
        .skipped
        .iter()
        .find(|s| s.port == port)
        .unwrap_or_else(|| panic!("{port} not skipped: {plan:#?}"))
        .reason
}

#[test]
fn chain_is_built_bottom_up_with_edges() {
    let tree = Tree {
        ports: vec![
            port("a", "1.0", &[], &[], &["b"]),
            port("b", "1.0", &[], &[], &["c"]),
            port("c", "1.0", &[], &[], &[]),
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["a"]));
    assert_eq!(order(&plan), ["c-1.0", "b-1.0", "a-1.0"]);
    assert_eq!(plan.builds[2].after, [1]);
    assert_eq!(plan.builds[2].missing_ids, ["b-1.0-1"]);
    assert_eq!(plan.builds[1].after, [0]);
    assert!(plan.builds[0].after.is_empty());
    assert!(plan.skipped.is_empty());
}

#[test]
fn diamond_orders_both_middles_before_the_top() {
    let tree = Tree {
        ports: vec![
            port("top", "1", &[], &[], &["left", "right"]),
            port("left", "1", &[], &[], &["base"]),
            port("right", "1", &[], &[], &["base"]),
            port("base", "1", &[], &[], &[]),
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["top"]));
    assert_eq!(plan.builds.len(), 4, "each port once: {plan:#?}");
    let (top, left, right, base) = (
        position(&plan, "top"),
        position(&plan, "left"),
        position(&plan, "right"),
        position(&plan, "base"),
    );
    assert!(base < left && base < right && left < top && right < top);
    let mut after = plan.builds[top].after.clone();
    after.sort();
    assert_eq!(after, {
        let mut v = vec![left, right];
        v.sort();
        v
    });
}

#[test]
fn subpackage_requirement_pulls_the_main_package_of_the_same_port() {
    let libfoo = with_sub(
        port("libfoo", "2.0", &["lib:libfoo = 2.0"], &["haiku"], &[]),
        "devel",
        &["devel:libfoo = 2.0"],
        &["lib:libfoo == 2.0"],
    );
    let app = port("app", "1", &[], &["lib:libfoo"], &["devel:libfoo >= 2"]);
    let tree = Tree {
        ports: vec![app, libfoo],
        ..Default::default()
    };
    let mut have = ExistingPackages::new();
    have.add(existing("haiku", "r1-1", &["haiku = r1"], PackageOrigin::System));
    let plan = plan(&tree, &have, &ports(&["app"]));
    assert_eq!(order(&plan), ["libfoo-2.0", "app-1"]);
    let app = &plan.builds[1];
    assert_eq!(app.missing_ids, ["libfoo_devel-2.0-1", "libfoo-2.0-1"]);
    assert_eq!(app.after, [0]);
    // libfoo's runtime requirement (haiku) is in app's closure, from the system packages.
    assert_eq!(app.present.len(), 1);
    assert_eq!(app.present[0].origin, PackageOrigin::System);
    assert_eq!(
        plan.builds[0].results,
        ["libfoo-2.0-1-x86_64.hpkg", "libfoo_devel-2.0-1-x86_64.hpkg"]
    );
}

#[test]
fn compatible_versions_decide_whether_an_existing_package_satisfies() {
    let tree = Tree {
        ports: vec![
            port("newer", "1", &[], &[], &["lib:libbar >= 2.1"]),
            port("older", "1", &[], &[], &["lib:libbar >= 1.9"]),
        ],
        ..Default::default()
    };
    let mut have = ExistingPackages::new();
    have.add(existing(
        "libbar",
        "2.5-1",
        &["lib:libbar = 2.5 compat >= 2"],
        PackageOrigin::Repository,
    ));
    let plan = plan(&tree, &have, &ports(&["newer", "older"]));
    assert_eq!(order(&plan), ["newer-1"]);
    assert_eq!(plan.builds[0].present[0].file_name, "libbar-2.5-1-x86_64.hpkg");
    // 1.9 predates the compatible floor 2: the ABI broke in between.
    assert_eq!(
        skip_reason(&plan, "older"),
        &SkipReason::Unresolvable {
            requires: "lib:libbar>=1.9".into(),
            required_by: "older-1".into()
        }
    );
}

#[test]
fn an_existing_package_is_preferred_over_building_its_port() {
    let tree = Tree {
        ports: vec![
            port("app", "1", &[], &[], &["lib:libz"]),
            port("zlib", "1.3", &["lib:libz = 1.3"], &[], &[]),
        ],
        ..Default::default()
    };
    let built = plan(&tree, &ExistingPackages::new(), &ports(&["app"]));
    assert_eq!(order(&built), ["zlib-1.3", "app-1"], "no zlib yet: an edge");
    assert_eq!(built.builds[1].missing_ids, ["zlib-1.3-1"]);

    let mut have = ExistingPackages::new();
    have.add(existing(
        "zlib",
        "1.2-1",
        &["lib:libz = 1.2"],
        PackageOrigin::Repository,
    ));
    let present = plan(&tree, &have, &ports(&["app"]));
    assert_eq!(order(&present), ["app-1"], "an existing zlib satisfies it");
    assert!(present.builds[0].missing_ids.is_empty());
    assert_eq!(present.builds[0].present[0].origin, PackageOrigin::Repository);
}

#[test]
fn among_ports_the_active_version_is_preferred() {
    let mut broken_new = port("libq", "3.0", &["lib:libq = 3.0"], &[], &[]);
    broken_new.status = ArchStatus::Broken;
    let tree = Tree {
        ports: vec![
            port("app", "1", &[], &[], &["lib:libq"]),
            port("libq", "1.0", &["lib:libq = 1.0"], &[], &[]),
            port("libq", "2.0", &["lib:libq = 2.0"], &[], &[]),
            broken_new,
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["app"]));
    assert_eq!(order(&plan), ["libq-2.0", "app-1"]);
}

#[test]
fn unsatisfiable_requirement_propagates_to_dependents() {
    let tree = Tree {
        ports: vec![
            port("x", "1", &["lib:libx = 1"], &["lib:nothing"], &[]),
            port("y", "1", &[], &[], &["lib:libx"]),
            port("z", "1", &[], &[], &["y"]),
            port("ok", "1", &[], &[], &[]),
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["z", "x", "ok"]));
    assert_eq!(order(&plan), ["ok-1"]);
    assert_eq!(
        skip_reason(&plan, "x"),
        &SkipReason::Unresolvable {
            requires: "lib:nothing".into(),
            required_by: "x-1-1".into()
        }
    );
    let SkipReason::DependencyCannotBeBuilt { dependency, reason } = skip_reason(&plan, "z") else {
        panic!("{plan:#?}")
    };
    assert_eq!(dependency, "y-1");
    assert!(
        reason.contains("x-1") && reason.contains("lib:nothing"),
        "{reason}"
    );
}

#[test]
fn cycles_name_their_ports_and_block_dependents() {
    let tree = Tree {
        ports: vec![
            port("p", "1", &[], &[], &["q"]),
            port("q", "1", &[], &[], &["r"]),
            port("r", "1", &[], &[], &["p"]),
            port("user", "1", &[], &[], &["p"]),
            port("selfish", "1", &["cmd:selfish"], &[], &["cmd:selfish"]),
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["user", "q", "selfish"]));
    assert!(plan.builds.is_empty(), "{plan:#?}");
    assert_eq!(
        skip_reason(&plan, "q"),
        &SkipReason::Cycle {
            ports: vec!["q-1".into(), "r-1".into(), "p-1".into()]
        }
    );
    assert!(matches!(
        skip_reason(&plan, "user"),
        SkipReason::DependencyCannotBeBuilt { dependency, .. } if dependency == "p-1"
    ));
    assert_eq!(
        skip_reason(&plan, "selfish"),
        &SkipReason::Cycle {
            ports: vec!["selfish-1".into()]
        }
    );
    assert!(
        plan.skipped[0].to_string().contains("dependency cycle"),
        "{}",
        plan.skipped[0]
    );
}

#[test]
fn existing_packages_require_a_revision_bump() {
    let tree = Tree {
        ports: vec![
            port("done", "1", &[], &[], &["dep"]),
            port("dep", "1", &[], &[], &[]),
        ],
        ..Default::default()
    };
    let mut have = ExistingPackages::new();
    have.add_file_name("done-1-1-x86_64.hpkg");
    let plan = plan(&tree, &have, &ports(&["done"]));
    assert!(
        plan.builds.is_empty(),
        "no dependency planned for a port that is not built"
    );
    assert_eq!(
        skip_reason(&plan, "done"),
        &SkipReason::AlreadyExists {
            packages: vec!["done-1-1-x86_64.hpkg".into()]
        }
    );
    assert!(plan.skipped[0].to_string().contains("revision bump required"));
}

#[test]
fn explicit_requests_report_not_found_broken_and_unbuildable() {
    let mut gone = port("gone", "1", &[], &[], &[]);
    gone.status = ArchStatus::Unsupported;
    let tree = Tree {
        ports: vec![gone],
        problems: vec![RecipeProblem {
            recipe_path: "dev-libs/bad/bad-1.0.recipe".into(),
            message: "line 3: syntax error near unexpected token `('".into(),
        }],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["nope", "bad", "gone"]));
    assert_eq!(skip_reason(&plan, "nope"), &SkipReason::NotFound);
    assert!(
        matches!(skip_reason(&plan, "bad"), SkipReason::BrokenRecipe { message } if message.contains("syntax error"))
    );
    assert_eq!(
        skip_reason(&plan, "gone"),
        &SkipReason::NotBuildableOnArchitecture {
            status: "unsupported".into()
        }
    );
    let words: Vec<String> = plan.skipped.iter().map(|s| s.to_string()).collect();
    assert!(
        words[2].contains("Port gone is unsupported on this architecture."),
        "{words:?}"
    );
    assert!(words[1].contains("dev-libs/bad/bad-1.0.recipe"), "{words:?}");
}

#[test]
fn everything_picks_only_active_ports_with_missing_packages() {
    let mut broken = port("broken", "1", &[], &[], &[]);
    broken.status = ArchStatus::Broken;
    let tree = Tree {
        ports: vec![
            port("old", "1.0", &[], &[], &[]),
            port("old", "2.0", &[], &[], &[]),
            port("published", "1", &[], &[], &[]),
            port("fresh", "1", &[], &[], &["old"]),
            broken,
        ],
        problems: vec![RecipeProblem {
            recipe_path: "dev-libs/bad/bad-1.0.recipe".into(),
            message: "boom".into(),
        }],
        ..Default::default()
    };
    let mut have = ExistingPackages::new();
    have.add(existing(
        "published",
        "1-1",
        &["published = 1"],
        PackageOrigin::Repository,
    ));
    let plan = plan(&tree, &have, &Request::Everything);
    assert_eq!(order(&plan), ["old-2.0", "fresh-1"]);
    assert_eq!(plan.skipped.len(), 2, "{plan:#?}");
    assert!(matches!(
        skip_reason(&plan, "broken-1"),
        SkipReason::NotBuildableOnArchitecture { .. }
    ));
    assert!(matches!(
        skip_reason(&plan, "bad-1.0"),
        SkipReason::BrokenRecipe { .. }
    ));
}

/// Writes a real `.hpkg` named `name-version-x86_64.hpkg` into `out`.
fn make_hpkg(scratch: &Path, out: &Path, name: &str, version: &str, provides: &str) {
    use buildmaster::haiku::heap_writer::Compression;
    use buildmaster::haiku::hpkg_writer::{create_package, CreateOptions};
    let content = scratch.join(format!("content-{name}"));
    std::fs::create_dir_all(content.join("lib")).unwrap();
    std::fs::write(content.join("lib/README"), name).unwrap();
    let info = scratch.join(format!("{name}.PackageInfo"));
    std::fs::write(
        &info,
        format!(
            "name {name}\nversion {version}\narchitecture x86_64\nsummary \"{name}\"\n\
             description \"test\"\npackager \"t <t@example.com>\"\nvendor \"Haiku\"\n\
             copyrights {{ \"2025 Haiku\" }}\nlicenses {{ MIT }}\nprovides {{\n\t{provides}\n}}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(out).unwrap();
    create_package(
        &CreateOptions {
            info_file: Some(info),
            directory: content,
            compression: Compression::Zlib,
            install_path: None,
        },
        &out.join(format!("{name}-{version}-x86_64.hpkg")),
    )
    .unwrap();
}

#[test]
fn system_and_spool_packages_from_real_hpkgs_satisfy_requirements() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system");
    make_hpkg(
        dir.path(),
        &system,
        "haiku",
        "r1~beta5-1",
        "haiku = r1~beta5-1\n\tlib:libroot = r1~beta5 compat >= r1~alpha1",
    );
    let spool = dir.path().join("packages");
    make_hpkg(dir.path(), &spool, "libspool", "1.0-1", "lib:libspool = 1.0");
    std::fs::write(spool.join("stub-1-1-x86_64.hpkg"), b"").unwrap();
    let db = buildmaster::state::Database::open(&dir.path().join("db.sqlite")).unwrap();
    let have = ExistingPackages::load(&db, &spool, Some(&system), None).unwrap();
    assert!(
        have.contains("stub-1-1-x86_64.hpkg"),
        "zero-byte spool stubs exist"
    );

    let tree = Tree {
        ports: vec![
            port(
                "app",
                "1",
                &[],
                &["lib:libroot >= r1~beta4"],
                &["haiku >= r1~beta5", "lib:libspool"],
            ),
            port("stub", "1", &[], &[], &[]),
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &have, &ports(&["app", "stub"]));
    assert_eq!(order(&plan), ["app-1"]);
    let present: Vec<(&str, PackageOrigin)> = plan.builds[0]
        .present
        .iter()
        .map(|p| (p.file_name.as_str(), p.origin))
        .collect();
    assert_eq!(
        present,
        [
            ("haiku-r1~beta5-1-x86_64.hpkg", PackageOrigin::System),
            ("libspool-1.0-1-x86_64.hpkg", PackageOrigin::Repository)
        ]
    );
    assert!(matches!(
        skip_reason(&plan, "stub"),
        SkipReason::AlreadyExists { .. }
    ));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn update_plans_the_ports_changed_since_the_processed_revision() {
    use buildmaster::plan::revision::{set_processed_revision, update_files, RevisionError};
    let dir = tempfile::tempdir().unwrap();
    let tree_dir = dir.path().join("tree");
    let db = dir.path().join("state.sqlite");
    let a = port("a", "1", &[], &[], &[]);
    let b = port("b", "1", &[], &[], &[]);
    for p in [&a, &b] {
        let path = tree_dir.join(&p.recipe_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "REVISION=1\n").unwrap();
    }
    git(&tree_dir, &["init", "-q"]);
    git(&tree_dir, &["add", "."]);
    git(&tree_dir, &["commit", "-qm", "first"]);
    assert!(matches!(
        update_files(&tree_dir, &db),
        Err(RevisionError::NoProcessedRevision { .. })
    ));
    let first = git(&tree_dir, &["rev-parse", "HEAD"]);
    set_processed_revision(&db, &first).unwrap();
    std::fs::write(tree_dir.join(&b.recipe_path), "REVISION=2\n").unwrap();
    git(&tree_dir, &["commit", "-qam", "bump b"]);

    let (files, head) = update_files(&tree_dir, &db).unwrap();
    assert_eq!(files, std::slice::from_ref(&b.recipe_path));
    assert_eq!(head, git(&tree_dir, &["rev-parse", "HEAD"]));
    let tree = Tree {
        ports: vec![a, b],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &Request::Update { files });
    assert_eq!(order(&plan), ["b-1"]);

    set_processed_revision(&db, &head).unwrap();
    assert!(update_files(&tree_dir, &db).unwrap().0.is_empty(), "nothing new");
}

#[test]
fn secondary_architecture_ports_are_planned_under_their_suffixed_names() {
    let secondary = |mut p: Port| {
        p.secondary_arch = Some("x86".into());
        for package in &mut p.packages {
            package.name = format!("{}_x86", package.name);
            package.architecture = "x86_gcc2".into();
        }
        p
    };
    let tree = Tree {
        ports: vec![
            port("libfoo", "1.0", &["lib:libfoo = 1.0"], &[], &[]),
            secondary(port("libfoo", "1.0", &["lib:libfoo_x86 = 1.0"], &[], &[])),
            secondary(port("app", "2", &[], &[], &["lib:libfoo_x86"])),
        ],
        ..Default::default()
    };
    let plan = plan(&tree, &ExistingPackages::new(), &ports(&["app_x86"]));
    assert_eq!(order(&plan), ["libfoo_x86-1.0", "app_x86-2"]);
    assert_eq!(plan.builds[1].missing_ids, ["libfoo_x86-1.0-1"]);
    assert_eq!(plan.builds[0].results, ["libfoo_x86-1.0-1-x86_gcc2.hpkg"]);
}

#[test]
fn untested_ports_are_built_only_when_the_instance_allows_them() {
    use buildmaster::plan::catalog::{BuildPolicy, WithPolicy};
    let mut tool = port("tool", "1", &["cmd:tool"], &[], &[]);
    tool.status = ArchStatus::Untested;
    tool.packages[0].status = ArchStatus::Untested;
    let tree = Tree {
        ports: vec![tool, port("user", "1", &[], &[], &["cmd:tool"])],
        ..Default::default()
    };
    let allowed = plan(&tree, &ExistingPackages::new(), &ports(&["user"]));
    assert_eq!(order(&allowed), ["tool-1", "user-1"]);

    let strict = WithPolicy {
        catalog: &tree,
        policy: BuildPolicy {
            allow_untested: false,
        },
    };
    let plan = plan(&strict, &ExistingPackages::new(), &ports(&["user", "tool"]));
    assert!(plan.builds.is_empty(), "{plan:#?}");
    assert_eq!(
        skip_reason(&plan, "tool"),
        &SkipReason::NotBuildableOnArchitecture {
            status: "untested".into()
        }
    );
    assert!(matches!(
        skip_reason(&plan, "user"),
        SkipReason::DependencyCannotBeBuilt { dependency, .. } if dependency == "tool-1"
    ));
}

#[test]
fn the_system_packages_index_rereads_only_changed_files() {
    use buildmaster::plan::system_index::indexed_system_packages;
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system");
    let db = dir.path().join("state.sqlite");
    make_hpkg(dir.path(), &system, "haiku", "r1-1", "haiku = r1-1");
    make_hpkg(dir.path(), &system, "other", "1-1", "other = 1-1");
    let names = |list: &[ExistingPackage]| -> Vec<Vec<String>> {
        list.iter()
            .map(|p| p.provides.iter().map(|v| v.name.clone()).collect())
            .collect()
    };
    let first = indexed_system_packages(&system, &db).unwrap();
    assert_eq!(names(&first), [vec!["haiku"], vec!["other"]]);
    assert_eq!(
        indexed_system_packages(&system, &db).unwrap(),
        first,
        "served from the index"
    );

    // Same file name, new contents: read again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    make_hpkg(
        dir.path(),
        &system,
        "haiku",
        "r1-1",
        "haiku = r1-1\n\tlib:libnew = 1",
    );
    std::fs::remove_file(system.join("other-1-1-x86_64.hpkg")).unwrap();
    let second = indexed_system_packages(&system, &db).unwrap();
    assert_eq!(names(&second), [vec!["haiku", "lib:libnew"]]);
    let rows: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM plan_system_packages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the vanished package's row is dropped");
}

/// The packages that provide HaikuPorter's scriptlet prerequirements on a real instance: the `haiku`
/// system package (`cmd:xres`, requiring `coreutils` and `cmd:sh`) and repository packages for the rest.
fn scriptlet_providers() -> ExistingPackages {
    let mut have = ExistingPackages::new();
    let mut haiku = existing(
        "haiku",
        "r1-1",
        &["haiku = r1", "cmd:xres"],
        PackageOrigin::System,
    );
    haiku.requires = vec![req("coreutils"), req("cmd:sh")];
    have.add(haiku);
    for (name, provides) in [
        ("coreutils", &["coreutils = 9", "cmd:ls"][..]),
        ("bash", &["bash = 5", "cmd:bash", "cmd:sh"]),
        ("findutils", &["findutils = 4", "cmd:find"]),
        ("grep", &["grep = 3", "cmd:grep"]),
        ("sed", &["sed = 4", "cmd:sed"]),
        (
            "binutils",
            &["binutils = 2", "cmd:objcopy", "cmd:readelf", "cmd:strip"],
        ),
    ] {
        have.add(existing(name, "1-1", provides, PackageOrigin::Repository));
    }
    have
}

fn haikuporter_tree(ports: Vec<Port>) -> Tree {
    Tree {
        ports,
        builder_prerequires: HAIKUPORTER_BUILDER_PREREQUIRES.clone(),
        ..Default::default()
    }
}

fn present_names(plan: &Plan, build: usize) -> Vec<&str> {
    let mut names: Vec<&str> = plan.builds[build]
        .present
        .iter()
        .map(|p| p.file_name.as_str())
        .collect();
    names.sort();
    names
}

#[test]
fn every_build_ships_haikuporters_scriptlet_prerequirements_and_the_haiku_package() {
    // No build requirements at all: HaikuPorter still needs its scriptlets' tools and `haiku`.
    let tree = haikuporter_tree(vec![port("bare", "1", &[], &[], &[])]);
    let have = scriptlet_providers();
    let plan = plan(&tree, &have, &ports(&["bare"]));
    assert_eq!(order(&plan), ["bare-1"], "{plan:#?}");
    assert_eq!(
        present_names(&plan, 0),
        [
            "bash-1-1-x86_64.hpkg",
            "binutils-1-1-x86_64.hpkg",
            "coreutils-1-1-x86_64.hpkg",
            "findutils-1-1-x86_64.hpkg",
            "grep-1-1-x86_64.hpkg",
            "haiku-r1-1-x86_64.hpkg",
            "sed-1-1-x86_64.hpkg",
        ]
    );
    let haiku = plan.builds[0]
        .present
        .iter()
        .find(|p| p.file_name.starts_with("haiku-"))
        .unwrap();
    assert_eq!(haiku.origin, PackageOrigin::System);

    // The same tree with no builder prerequirements ships nothing: the list is what adds them.
    let bare = Tree {
        ports: tree.ports.clone(),
        ..Default::default()
    };
    assert!(plan_present_is_empty(&bare, &have));
}

fn plan_present_is_empty(tree: &Tree, have: &ExistingPackages) -> bool {
    let plan = plan(tree, have, &ports(&["bare"]));
    plan.builds.len() == 1 && plan.builds[0].present.is_empty()
}

#[test]
fn a_missing_scriptlet_prerequirement_skips_the_port_in_haikuporters_words() {
    let tree = haikuporter_tree(vec![port("app", "1", &[], &[], &[])]);
    let mut have = ExistingPackages::new();
    for package in scriptlet_providers().packages {
        if package.name != "findutils" {
            have.add(package);
        }
    }
    let plan = plan(&tree, &have, &ports(&["app"]));
    assert!(plan.builds.is_empty(), "{plan:#?}");
    assert_eq!(
        skip_reason(&plan, "app"),
        &SkipReason::Unresolvable {
            requires: "cmd:find".into(),
            required_by: "app-1".into()
        }
    );
}

#[test]
fn a_scriptlet_prerequirement_a_port_provides_is_built_first_or_taken_from_the_repository() {
    // No grep package yet: the grep port is built first, and the other port waits for it.
    let grep = port("grep", "3.11", &["cmd:grep = 3.11"], &[], &[]);
    let tree = haikuporter_tree(vec![port("app", "1", &[], &[], &[]), grep]);
    let mut have = ExistingPackages::new();
    for package in scriptlet_providers().packages {
        if package.name != "grep" {
            have.add(package);
        }
    }
    let without = plan(&tree, &have, &ports(&["app"]));
    // grep needs cmd:grep to build, and only grep provides it: HaikuPorter's "depends on itself".
    assert!(without.builds.is_empty(), "{without:#?}");
    assert!(
        matches!(skip_reason(&without, "app"), SkipReason::DependencyCannotBeBuilt { dependency, .. } if dependency == "grep-3.11"),
        "{without:#?}"
    );

    // With an older grep published, it serves both app and the new grep's own build.
    let have = scriptlet_providers();
    let with = plan(&tree, &have, &ports(&["app", "grep"]));
    assert_eq!(order(&with), ["app-1", "grep-3.11"], "{with:#?}");
    for build in &with.builds {
        assert!(build.missing_ids.is_empty(), "{build:#?}");
        assert!(build
            .present
            .iter()
            .any(|p| p.file_name == "grep-1-1-x86_64.hpkg"));
    }
}
