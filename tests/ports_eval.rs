//! Ports trees end to end: recipes written to a temporary tree, evaluated by real bash through
//! `PortsTree::load`, checked against HaikuPorter's rules (subpackages, architectures, secondary
//! architectures, active versions), failure handling (syntax errors, failing commands, stdin, hangs),
//! the recipe cache, and the generated tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use buildmaster::haiku::attributes::ResolvableOperator;
use buildmaster::haiku::version::Version;
use buildmaster::ports::generate::{generate_tree, GenOptions};
use buildmaster::ports::model::ArchStatus;
use buildmaster::ports::{EvalOptions, PortsError, PortsTree};

fn options() -> EvalOptions {
    EvalOptions {
        target_arch: "x86_64".into(),
        secondary_archs: Vec::new(),
        allow_untested: true,
        licenses_dir: None,
        cache: None,
        jobs: 2,
    }
}

/// Writes `category/name/name-version.recipe` with the given attribute lines plus the usual
/// boilerplate.
fn recipe(root: &Path, category: &str, name: &str, version: &str, body: &str) -> PathBuf {
    let dir = root.join(category).join(name);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{version}.recipe"));
    let text = format!(
        "SUMMARY=\"A port for the tests\"\nDESCRIPTION=\"Test port.\"\nHOMEPAGE=\"https://example.org\"\n\
         COPYRIGHT=\"2024 The authors\"\nLICENSE=\"MIT\"\n\
         SOURCE_URI=\"https://example.org/$portName-$portVersion.tar.gz\"\n{body}\n\
         BUILD()\n{{\n\tmake $jobArgs\n}}\n\nINSTALL()\n{{\n\tmake install\n}}\n"
    );
    fs::write(&path, text).unwrap();
    path
}

fn simple(root: &Path, category: &str, name: &str, version: &str, archs: &str) -> PathBuf {
    let body = format!("REVISION=\"1\"\nARCHITECTURES=\"{archs}\"\nPROVIDES=\"{name} = $portVersion\"\n");
    recipe(root, category, name, version, &body)
}

fn problem_for<'a>(tree: &'a PortsTree, relative: &str) -> Option<&'a str> {
    tree.problems
        .iter()
        .find(|p| p.recipe_path == Path::new(relative))
        .map(|p| p.message.as_str())
}

#[test]
fn subpackages_come_from_suffixed_provides() {
    let dir = tempfile::tempdir().unwrap();
    recipe(
        dir.path(),
        "dev-libs",
        "libfoo",
        "1.2.3",
        "REVISION=\"2\"\nARCHITECTURES=\"all !x86_gcc2\"\n\
         PROVIDES=\"\n\tlibfoo$secondaryArchSuffix = $portVersion\n\tlib:libfoo$secondaryArchSuffix = 1.2\n\t\"\n\
         REQUIRES=\"\n\thaiku$secondaryArchSuffix\n\t\"\n\
         PROVIDES_devel=\"\n\tlibfoo${secondaryArchSuffix}_devel = $portVersion\n\tdevel:libfoo$secondaryArchSuffix = 1.2\n\t\"\n\
         REQUIRES_devel=\"\n\tlibfoo$secondaryArchSuffix == $portVersion base\n\t\"\n\
         PROVIDES_tools=\"libfoo_tools = $portFullVersion\"\n\
         ARCHITECTURES_tools=\"!x86_64\"\n\
         BUILD_REQUIRES=\"haiku${secondaryArchSuffix}_devel\"\n\
         BUILD_PREREQUIRES=\"\n\tcmd:gcc$secondaryArchSuffix\n\tcmd:make\n\t\"\n",
    );
    let tree = PortsTree::load(dir.path(), &options()).unwrap();
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let port = tree.active("libfoo").expect("libfoo is active");
    assert_eq!(port.revision, 2);
    let names: Vec<&str> = port.packages.iter().map(|p| p.name.as_str()).collect();
    // `_tools` is broken on x86_64 (its own ARCHITECTURES): not one of the port's packages.
    assert_eq!(names, ["libfoo", "libfoo_devel"]);
    assert_eq!(port.packages[0].version, Version::parse("1.2.3-2").unwrap());
    assert_eq!(port.packages[0].requires[0].name, "haiku");
    // Subpackages inherit ARCHITECTURES unless they set their own; REQUIRES does not inherit.
    assert_eq!(port.packages[1].status, ArchStatus::Stable);
    assert_eq!(port.packages[1].requires[0].name, "libfoo");
    assert_eq!(
        port.packages[1].requires[0].operator,
        Some(ResolvableOperator::Equal)
    );
    assert!(port.packages[1].requires[0].base, "the base flag is kept");
    assert_eq!(port.packages[1].provides[1].name, "devel:libfoo");
    assert_eq!(port.build_requires[0].name, "haiku_devel");
    assert_eq!(port.build_prerequires.len(), 2);
}

#[test]
fn architectures_decide_status_and_package_architecture() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), "app-misc", "stable", "1", "x86_64 x86_gcc2");
    simple(dir.path(), "app-misc", "broken", "1", "!x86_64 x86_gcc2");
    simple(dir.path(), "app-misc", "untested", "1", "?x86_64");
    simple(dir.path(), "app-misc", "anyarch", "1", "any");
    simple(dir.path(), "app-misc", "elsewhere", "1", "x86_gcc2 arm64");
    simple(dir.path(), "app-misc", "everywhere", "1", "all !x86_gcc2");
    simple(dir.path(), "app-misc", "unknown", "1", "vax");
    let tree = PortsTree::load(dir.path(), &options()).unwrap();
    let status = |name: &str| tree.find(&format!("{name}-1")).map(|p| p.status);
    assert_eq!(status("stable"), Some(ArchStatus::Stable));
    assert_eq!(status("broken"), Some(ArchStatus::Broken));
    assert_eq!(status("untested"), Some(ArchStatus::Untested));
    assert_eq!(status("anyarch"), Some(ArchStatus::Stable));
    assert_eq!(status("everywhere"), Some(ArchStatus::Stable));
    // A package whose ARCHITECTURES does not mention the target at all cannot be made: HaikuPorter
    // calls the recipe broken.
    let elsewhere = problem_for(&tree, "app-misc/elsewhere/elsewhere-1.recipe").expect("reported");
    assert!(
        elsewhere.contains("cannot be built for architecture x86_64"),
        "{elsewhere}"
    );
    assert_eq!(tree.find("anyarch-1").unwrap().packages[0].architecture, "any");
    assert_eq!(tree.find("stable-1").unwrap().packages[0].architecture, "x86_64");
    assert!(tree.active("broken").is_none() && tree.active("elsewhere").is_none());
    assert!(tree.active("untested").is_some());
    let message = problem_for(&tree, "app-misc/unknown/unknown-1.recipe").expect("unknown arch reported");
    assert!(message.contains("vax"), "{message}");
}

#[test]
fn secondary_architecture_evaluates_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    recipe(
        dir.path(),
        "dev-libs",
        "libbar",
        "2.0",
        "REVISION=\"1\"\nARCHITECTURES=\"x86_gcc2 ?x86\"\nSECONDARY_ARCHITECTURES=\"?x86\"\n\
         PROVIDES=\"\n\tlibbar$secondaryArchSuffix = $portVersion\n\tlib:libbar$secondaryArchSuffix\n\t\"\n\
         REQUIRES=\"haiku$secondaryArchSuffix\"\n\
         PROVIDES_devel=\"libbar${secondaryArchSuffix}_devel = $portVersion\"\n\
         BUILD_PREREQUIRES=\"cmd:gcc$secondaryArchSuffix\"\n\
         LIBDIR_SEEN=\"$libDir\"\n",
    );
    simple(dir.path(), "app-misc", "plain", "1", "x86_gcc2");
    let mut options = options();
    options.target_arch = "x86_gcc2".into();
    options.secondary_archs = vec!["x86".into()];
    let tree = PortsTree::load(dir.path(), &options).unwrap();
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let primary = tree.active("libbar").unwrap();
    assert_eq!(primary.secondary_arch, None);
    assert_eq!(primary.packages[0].provides[1].name, "lib:libbar");
    let secondary = tree
        .active("libbar_x86")
        .expect("the secondary-arch port is active");
    assert_eq!(secondary.secondary_arch.as_deref(), Some("x86"));
    assert_eq!(secondary.versioned_name(), "libbar_x86-2.0");
    assert_eq!(secondary.status, ArchStatus::Untested);
    let names: Vec<&str> = secondary.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["libbar_x86", "libbar_x86_devel"]);
    assert_eq!(secondary.packages[0].provides[1].name, "lib:libbar_x86");
    assert_eq!(secondary.packages[0].requires[0].name, "haiku_x86");
    assert_eq!(secondary.packages[0].architecture, "x86_gcc2");
    assert_eq!(secondary.build_prerequires[0].name, "cmd:gcc_x86");
    assert!(tree.find("libbar_x86-2.0").is_some());
    assert!(
        tree.active("plain_x86").is_none(),
        "a recipe without SECONDARY_ARCHITECTURES is not evaluated twice"
    );
    assert_eq!(tree.stats().evaluated, 3);
}

#[test]
fn active_version_is_the_highest_buildable_one() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), "app-misc", "tool", "1.9", "x86_64");
    simple(dir.path(), "app-misc", "tool", "1.10", "?x86_64");
    simple(dir.path(), "app-misc", "tool", "2.0", "!x86_64");
    let tree = PortsTree::load(dir.path(), &options()).unwrap();
    assert_eq!(tree.active("tool").unwrap().version, "1.10");
    assert_eq!(tree.find("tool").unwrap().version, "1.10");
    assert_eq!(tree.find("tool-2.0").unwrap().status, ArchStatus::Broken);
    assert_eq!(tree.active_ports().count(), 1);

    let mut strict = options();
    strict.allow_untested = false;
    let tree = PortsTree::load(dir.path(), &strict).unwrap();
    assert_eq!(tree.active("tool").unwrap().version, "1.9");
}

#[test]
fn multi_line_provides_with_compat_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    recipe(
        dir.path(),
        "dev-libs",
        "libbaz",
        "3.4.5",
        "REVISION=\"1\"\nARCHITECTURES=\"x86_64\"\n\
         PROVIDES=\"\n\tlibbaz = $portVersion compat >= 3\n\t# the library\n\tlib:libbaz = 3.4.5 compat >= 3 # soname 3\n\
         \tcmd:baz\n\tcmd:BazTool=1.0\n\t\"\n\
         REQUIRES=\"\n\thaiku >= r1~beta4\n\tlib:libz<2\n\t\"\n",
    );
    let tree = PortsTree::load(dir.path(), &options()).unwrap();
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let provides = &tree.active("libbaz").unwrap().packages[0].provides;
    assert_eq!(provides.len(), 5);
    assert_eq!(provides[0].version, Version::parse("3.4.5"));
    assert_eq!(provides[0].compatible_version, Version::parse("3"));
    // HaikuPorter keeps a comment line of PROVIDES as a provides named `#` (its DependencyInfo has
    // it); a comment after an entry is ignored.
    assert_eq!(provides[1].name, "#");
    assert_eq!(provides[2].compatible_version, Version::parse("3"));
    assert_eq!(provides[3].name, "cmd:baz");
    assert_eq!(provides[3].version, None);
    assert_eq!(
        provides[4].name, "cmd:baztool",
        "names are lower-cased as HaikuPorter does"
    );
    let requires = &tree.active("libbaz").unwrap().packages[0].requires;
    assert_eq!(requires[0].operator, Some(ResolvableOperator::GreaterEqual));
    assert_eq!(requires[0].version, Version::parse("r1~beta4"));
    assert_eq!(requires[1].operator, Some(ResolvableOperator::Less));
}

#[test]
fn broken_recipes_are_reported_and_never_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), "app-misc", "before", "1", "x86_64");
    recipe(
        dir.path(),
        "app-misc",
        "syntax",
        "1",
        "REVISION=\"1\"\nARCHITECTURES=\"x86_64\"\nPROVIDES=(\n",
    );
    recipe(
        dir.path(),
        "app-misc",
        "failing",
        "1",
        "REVISION=\"1\"\nfalse\nARCHITECTURES=\"x86_64\"\n",
    );
    recipe(
        dir.path(),
        "app-misc",
        "stdin",
        "1",
        "read -r line\nREVISION=\"1\"\nARCHITECTURES=\"x86_64\"\n",
    );
    recipe(
        dir.path(),
        "app-misc",
        "norevision",
        "1",
        "ARCHITECTURES=\"x86_64\"\nPROVIDES=\"norevision\"\n",
    );
    recipe(
        dir.path(),
        "app-misc",
        "leaky",
        "1",
        // Everything a recipe could do to the shell that evaluates it: none of it may corrupt the
        // reply or reach the next recipe on the same worker.
        "REVISION=\"1\"\nARCHITECTURES=\"x86_64\"\nPROVIDES=\"leaky = 1\n\tcmd:l\u{e9}aky\"\nLEAK=1\nset -u\ncd /\n\
         IFS=\nLC_ALL=C.UTF-8\nprintf() { echo hijacked; }\nbuildArchitecture=vax\n",
    );
    simple(dir.path(), "app-misc", "zafter", "1", "x86_64");
    fs::write(dir.path().join("app-misc/before/before-1-2.recipe"), "REVISION=1").unwrap();

    let tree = PortsTree::load(dir.path(), &options()).unwrap();
    let syntax = problem_for(&tree, "app-misc/syntax/syntax-1.recipe").expect("syntax error reported");
    assert!(
        syntax.starts_with("app-misc/syntax/syntax-1.recipe: line "),
        "{syntax}"
    );
    assert!(
        syntax.contains("unexpected end of file") || syntax.contains("syntax error"),
        "{syntax}"
    );
    let failing = problem_for(&tree, "app-misc/failing/failing-1.recipe").expect("failing command reported");
    assert!(failing.contains("`false' failed with status 1"), "{failing}");
    let stdin = problem_for(&tree, "app-misc/stdin/stdin-1.recipe").expect("stdin read reported");
    assert!(stdin.contains("read -r line"), "{stdin}");
    assert!(problem_for(&tree, "app-misc/norevision/norevision-1.recipe")
        .unwrap()
        .contains("REVISION"));
    assert!(problem_for(&tree, "app-misc/before/before-1-2.recipe")
        .unwrap()
        .contains("file name"));
    // Everything else evaluated, including the recipes after the broken ones on the same worker.
    for name in ["before", "leaky", "zafter"] {
        assert!(
            tree.active(name).is_some(),
            "{name} evaluated: {:?}",
            tree.problems
        );
    }
    assert_eq!(tree.stats().problems, 5);
    assert_eq!(tree.stats().recipes, 7);
}

#[test]
fn a_hanging_recipe_times_out() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), "app-misc", "aaa", "1", "x86_64");
    recipe(dir.path(), "app-misc", "hang", "1", "REVISION=\"1\"\nsleep 600\n");
    recipe(
        dir.path(),
        "app-misc",
        "hang2",
        "1",
        "REVISION=\"1\"\nwhile :; do :; done\n",
    );
    simple(dir.path(), "app-misc", "zzz", "1", "x86_64");
    let mut options = options();
    options.jobs = 1; // the good recipe after the hang must run on the replacement worker
    let started = Instant::now();
    let tree = PortsTree::load_with_timeout(dir.path(), &options, Duration::from_secs(1)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    for name in ["hang", "hang2"] {
        let message = problem_for(&tree, &format!("app-misc/{name}/{name}-1.recipe")).expect("reported");
        assert!(message.contains("did not finish within 1 s"), "{message}");
    }
    assert!(
        tree.active("aaa").is_some() && tree.active("zzz").is_some(),
        "{:?}",
        tree.problems
    );
}

#[test]
fn the_cache_reevaluates_only_changed_recipes() {
    let dir = tempfile::tempdir().unwrap();
    let tree_dir = dir.path().join("tree");
    for i in 0..12 {
        simple(&tree_dir, "app-misc", &format!("port{i}"), "1.0", "x86_64");
    }
    recipe(
        &tree_dir,
        "app-misc",
        "broken",
        "1.0",
        "REVISION=\"1\"\nPROVIDES=(\n",
    );
    let mut options = options();
    options.cache = Some(dir.path().join("recipe-cache.sqlite"));

    let cold = PortsTree::load(&tree_dir, &options).unwrap();
    assert_eq!((cold.stats().evaluated, cold.stats().cached), (13, 0));
    let warm = PortsTree::load(&tree_dir, &options).unwrap();
    assert_eq!((warm.stats().evaluated, warm.stats().cached), (0, 13));
    assert_eq!(warm.ports, cold.ports);
    assert_eq!(warm.problems, cold.problems, "failures are cached too");

    // A changed recipe is evaluated again, alone.
    let changed = tree_dir.join("app-misc/port3/port3-1.0.recipe");
    let text = fs::read_to_string(&changed)
        .unwrap()
        .replace("REVISION=\"1\"", "REVISION=\"7\"");
    fs::write(&changed, text).unwrap();
    let after_edit = PortsTree::load(&tree_dir, &options).unwrap();
    assert_eq!((after_edit.stats().evaluated, after_edit.stats().cached), (1, 12));
    assert_eq!(after_edit.active("port3").unwrap().revision, 7);

    // Touching without changing the content re-hashes but does not re-evaluate.
    let file = fs::File::options()
        .append(true)
        .open(tree_dir.join("app-misc/port5/port5-1.0.recipe"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    let after_touch = PortsTree::load(&tree_dir, &options).unwrap();
    assert_eq!(
        (after_touch.stats().evaluated, after_touch.stats().cached),
        (0, 13)
    );

    // Another architecture is another cache entry.
    let mut other = options.clone();
    other.target_arch = "x86_gcc2".into();
    let other_arch = PortsTree::load(&tree_dir, &other).unwrap();
    assert_eq!(other_arch.stats().evaluated, 13);
}

#[test]
fn cached_ports_follow_patch_and_licence_files() {
    let dir = tempfile::tempdir().unwrap();
    let tree_dir = dir.path().join("tree");
    simple(&tree_dir, "app-misc", "alpha", "1.0", "x86_64");
    let haiku_licenses = dir.path().join("licenses");
    fs::create_dir_all(&haiku_licenses).unwrap();
    fs::write(haiku_licenses.join("GNU GPL v2"), "").unwrap();
    let mut options = options();
    options.cache = Some(dir.path().join("recipe-cache.sqlite"));
    options.licenses_dir = Some(haiku_licenses.clone());
    let recipe = "app-misc/alpha/alpha-1.0.recipe";
    let load = |options: &EvalOptions| {
        let tree = PortsTree::load(&tree_dir, options).unwrap();
        assert_eq!(tree.stats().evaluated, 0, "the evaluation itself stays cached");
        tree
    };

    let cold = PortsTree::load(&tree_dir, &options).unwrap();
    assert!(problem_for(&cold, recipe)
        .unwrap()
        .starts_with("No match found for license MIT"));
    // The port's own licences directory gains the file: the cached verdict is not reused.
    let port_licenses = tree_dir.join("app-misc/alpha/licenses");
    fs::create_dir_all(&port_licenses).unwrap();
    fs::write(port_licenses.join("MIT"), "").unwrap();
    assert_eq!(problem_for(&load(&options), recipe), None);
    fs::remove_file(port_licenses.join("MIT")).unwrap();
    assert!(problem_for(&load(&options), recipe).is_some());
    // So does Haiku's.
    fs::write(haiku_licenses.join("MIT"), "").unwrap();
    assert_eq!(problem_for(&load(&options), recipe), None);

    // An unreferenced patch set appears, then goes.
    let patches = tree_dir.join("app-misc/alpha/patches");
    fs::create_dir_all(&patches).unwrap();
    fs::write(patches.join("alpha-1.0.patchset"), "").unwrap();
    assert!(problem_for(&load(&options), recipe)
        .unwrap()
        .contains("alpha-1.0.patchset is not referenced"));
    fs::remove_file(patches.join("alpha-1.0.patchset")).unwrap();
    assert_eq!(problem_for(&load(&options), recipe), None);

    // allow_untested decides whether an untested port is active.
    simple(&tree_dir, "app-misc", "beta", "1.0", "?x86_64");
    let _ = PortsTree::load(&tree_dir, &options).unwrap();
    assert!(load(&options).active("beta").is_some());
    options.allow_untested = false;
    assert!(load(&options).active("beta").is_none());
}

#[test]
fn changed_files_map_to_active_ports() {
    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), "app-misc", "alpha", "1", "x86_64");
    simple(dir.path(), "app-misc", "alpha", "2", "x86_64");
    simple(dir.path(), "dev-libs", "beta", "1", "x86_64");
    let tree = PortsTree::load(dir.path(), &options()).unwrap();
    let names = |changed: &[&str]| -> Vec<String> {
        let paths: Vec<PathBuf> = changed.iter().map(PathBuf::from).collect();
        tree.ports_for_files(&paths)
            .iter()
            .map(|p| p.versioned_name())
            .collect()
    };
    assert_eq!(names(&["app-misc/alpha/alpha-2.recipe"]), ["alpha-2"]);
    assert!(
        names(&["app-misc/alpha/alpha-1.recipe"]).is_empty(),
        "an inactive version changes nothing"
    );
    assert_eq!(
        names(&["dev-libs/beta/patches/beta-1.patchset", "README.md"]),
        ["beta-1"]
    );
    let absolute = dir.path().join("dev-libs/beta/beta-1.recipe");
    assert_eq!(tree.ports_for_files(&[absolute]).len(), 1);
}

#[test]
fn whole_tree_failures_name_the_path() {
    let missing = Path::new("/nonexistent/ports-tree");
    let err = PortsTree::load(missing, &options()).unwrap_err();
    assert!(matches!(err, PortsError::RootMissing { .. }));
    assert!(err.to_string().contains("/nonexistent/ports-tree"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    simple(dir.path(), "app-misc", "one", "1", "x86_64");
    let mut options = options();
    options.cache = Some(dir.path().join("no/such/dir/cache.sqlite"));
    let err = PortsTree::load(dir.path(), &options).unwrap_err();
    assert!(err.to_string().contains("no/such/dir/cache.sqlite"), "{err}");
}

#[test]
fn the_generated_tree_loads_without_problems() {
    let dir = tempfile::tempdir().unwrap();
    let tree_dir = dir.path().join("tree");
    let summary = generate_tree(
        &tree_dir,
        &GenOptions {
            recipes: 600,
            seed: 3,
        },
    )
    .unwrap();
    assert_eq!(summary.recipes, 600);
    let mut options = options();
    options.secondary_archs = vec!["x86".into()];
    let tree = PortsTree::load(&tree_dir, &options).unwrap();
    // The only problems are HaikuPorts' own kind: recipes for other architectures only (`x86
    // ?x86_gcc2`), which HaikuPorter cannot make packages of on x86_64.
    let foreign: Vec<_> = tree
        .problems
        .iter()
        .filter(|p| !p.message.contains("cannot be built for architecture x86_64"))
        .collect();
    assert!(foreign.is_empty(), "{:?}", &foreign[..foreign.len().min(3)]);
    assert!(tree.problems.len() < 600 / 10, "{} problems", tree.problems.len());
    let primary: Vec<_> = tree.ports.iter().filter(|p| p.secondary_arch.is_none()).collect();
    assert_eq!(primary.len() + tree.problems.len(), 600);
    let packages: usize = primary.iter().map(|p| p.packages.len()).sum();
    assert!(packages <= summary.packages, "{packages} > {}", summary.packages);
    // HaikuPorts' proportions: about 1.7 packages per recipe.
    assert!(
        (1.5..1.9).contains(&(summary.packages as f64 / 600.0)),
        "{} packages",
        summary.packages
    );
    // Every requirement but the system's own is provided by some package of the tree, or names a
    // port that is not built.
    let provided: std::collections::HashSet<&str> = tree
        .ports
        .iter()
        .flat_map(|p| &p.packages)
        .flat_map(|p| &p.provides)
        .map(|p| p.name.as_str())
        .collect();
    // Ports that are not built (broken here, or recipes HaikuPorter refuses) provide nothing; their
    // dependents' requirements name them.
    let unbuilt: Vec<String> = tree
        .problems
        .iter()
        .filter_map(|p| p.recipe_path.parent()?.file_name()?.to_str().map(str::to_owned))
        .chain(
            tree.ports
                .iter()
                .filter(|p| p.packages.is_empty())
                .map(|p| p.name.clone()),
        )
        .collect();
    for port in &primary {
        let requires = port.packages.iter().flat_map(|p| &p.requires);
        for requirement in requires
            .chain(&port.build_requires)
            .chain(&port.build_prerequires)
        {
            assert!(
                provided.contains(requirement.name.as_str())
                    || requirement.name.starts_with("haiku")
                    || unbuilt
                        .iter()
                        .any(|name| requirement.name.contains(name.as_str())),
                "{} requires {} which nothing provides",
                port.versioned_name(),
                requirement.name
            );
        }
    }
    // Deterministic: the same seed writes the same bytes.
    let again = dir.path().join("again");
    generate_tree(
        &again,
        &GenOptions {
            recipes: 600,
            seed: 3,
        },
    )
    .unwrap();
    let first = &primary[primary.len() / 2].recipe_path;
    assert_eq!(
        fs::read(tree_dir.join(first)).unwrap(),
        fs::read(again.join(first)).unwrap()
    );
}
