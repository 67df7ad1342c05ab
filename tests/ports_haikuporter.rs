//! Recipe evaluation as HaikuPorter's: one small tree per fault class we once had against HaikuPorter
//! on the real HaikuPorts tree — port names from recipe file names, HaikuPorter's shell helpers,
//! lenient resolvables, ports whose packages are all suffixed, licences, unreferenced patch files,
//! `PACKAGE_NAME_*`, untested subpackages, and HaikuPorter's default for untested ports.

use std::fs;
use std::path::Path;

use buildmaster::config::instance::PortsSection;
use buildmaster::haiku::attributes::ResolvableOperator;
use buildmaster::haiku::version::Version;
use buildmaster::ports::{EvalOptions, PortsTree};

fn options() -> EvalOptions {
    EvalOptions {
        target_arch: "x86_64".into(),
        secondary_archs: Vec::new(),
        allow_untested: false,
        licenses_dir: None,
        cache: None,
        jobs: 2,
    }
}

/// Writes `category/dir/file` with HaikuPorter's required attributes plus `body`.
fn write(root: &Path, category: &str, dir: &str, file: &str, body: &str) {
    let dir = root.join(category).join(dir);
    fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "SUMMARY=\"A port for the tests\"\nDESCRIPTION=\"Test port.\"\nHOMEPAGE=\"https://example.org\"\n\
         COPYRIGHT=\"2024 The authors\"\nLICENSE=\"MIT\"\nREVISION=\"2\"\n\
         SOURCE_URI=\"https://example.org/src.tar.gz\"\nARCHITECTURES=\"all\"\n{body}\n"
    );
    fs::write(dir.join(file), text).unwrap();
}

fn load(root: &Path, options: &EvalOptions) -> PortsTree {
    PortsTree::load(root, options).unwrap()
}

#[test]
fn the_port_name_comes_from_the_recipe_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let provides = "PROVIDES=\"$portName = $portVersion\"";
    write(
        dir.path(),
        "dev-lang",
        "python",
        "python3.14-3.14.0.recipe",
        provides,
    );
    write(
        dir.path(),
        "app-benchmarks",
        "stress-ng",
        "stress_ng-0.17.recipe",
        provides,
    );
    // HaikuPorter's categories have a dash; anything else at the top is not a category.
    write(dir.path(), "packages", "junk", "junk-1.recipe", provides);
    let tree = load(dir.path(), &options());
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let python = tree.active("python3.14").expect("python3.14 is a port");
    assert_eq!(python.packages[0].name, "python3.14");
    assert_eq!(python.packages[0].provides[0].name, "python3.14");
    assert!(tree.active("python").is_none());
    assert_eq!(tree.active("stress_ng").unwrap().packages[0].name, "stress_ng");
    assert!(tree.active("junk").is_none());
    // A change to another file in the port's directory still concerns the port.
    let touched = tree.ports_for_files(&["dev-lang/python/patches/x.patchset".into()]);
    assert_eq!(touched.len(), 1);
}

#[test]
fn haikuporters_shell_helpers_and_variables_are_defined() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dev-libs",
        "libhelp",
        "libhelp-1.5.recipe",
        "PROVIDES=\"libhelp = $portVersion\n\tcmd:help = $portFullVersion\"\n\
         PROVIDES_devel=\"libhelp_devel = $portVersion\"\n\
         devPrefix=$(getPackagePrefix devel)\n\
         REQUIRES_devel=\"libhelp == $portVersion base\n\tcmd:prefix_$portBaseName${devPrefix//[^a-z0-9]/_}\"\n\
         defineDebugInfoPackage libhelp \"$libDir\"/libhelp.so.1 \"$binDir/help-tool\"\n\
         [ -n \"$fileToParse\" ]\nPROVIDES=\"$PROVIDES\n\tcmd:first_${supportedKeysPattern%%|*}\"\n",
    );
    let tree = load(dir.path(), &options());
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let port = tree.active("libhelp").unwrap();
    let names: Vec<&str> = port.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["libhelp", "libhelp_debuginfo", "libhelp_devel"]);
    // portFullVersion follows REVISION (updateRevisionVariables after `REVISION="2"`).
    assert_eq!(port.packages[0].provides[1].version, Version::parse("1.5-2"));
    // ConfigParser's own variables are visible too.
    assert_eq!(port.packages[0].provides[2].name, "cmd:first_additional_files");
    let debuginfo = &port.packages[1];
    assert_eq!(debuginfo.provides[0].name, "libhelp_debuginfo");
    assert_eq!(debuginfo.provides[1].name, "\"debuginfo:libhelp.so.1(libhelp)\"");
    assert_eq!(debuginfo.provides[2].name, "\"debuginfo:help_tool(libhelp)\"");
    assert!(debuginfo.requires[0].base);
    // getPackagePrefix: /packages/<package>-<version>-<revision>/.self
    assert_eq!(
        port.packages[2].requires[1].name,
        "cmd:prefix_libhelp_packages_libhelp_devel_1_5_2__self"
    );
}

#[test]
fn resolvables_are_read_as_leniently_as_haikuporter() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dev-libs",
        "libsigc",
        "libsigc-2.10.recipe",
        "PROVIDES=\"libsigc = $portVersion\n\tlib:libsigc_2.0 = 0.0.0 compat = 0\"\n\
         REQUIRES=\"haiku\\nlibktorrent_devel = 2.1.1 base\n\tlib:libz # the zlib\n\tlib:libz\"\n",
    );
    let tree = load(dir.path(), &options());
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let package = &tree.active("libsigc").unwrap().packages[0];
    assert_eq!(package.provides[1].version, Version::parse("0.0.0"));
    assert_eq!(package.provides[1].compatible_version, None);
    let requires: Vec<&str> = package.requires.iter().map(|r| r.name.as_str()).collect();
    // The literal `\n` is a line break; the comment is cut and the repeated entry dropped.
    assert_eq!(requires, ["haiku", "libktorrent_devel", "lib:libz"]);
    assert_eq!(package.requires[1].operator, Some(ResolvableOperator::Equal));
    assert!(package.requires[1].base);
}

#[test]
fn a_port_whose_packages_are_all_suffixed_is_a_port() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dev-python",
        "pygments",
        "pygments-2.19.recipe",
        "PROVIDES_python314=\"pygments_python314 = $portVersion\"\n\
         REQUIRES_python314=\"cmd:python3.14\"\n",
    );
    let tree = load(dir.path(), &options());
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let port = tree
        .active("pygments")
        .expect("active with only a suffixed package");
    let names: Vec<&str> = port.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["pygments_python314"]);
}

#[test]
fn licences_must_be_haikus_or_shipped_with_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let licenses = dir.path().join("licenses");
    fs::create_dir(&licenses).unwrap();
    fs::write(licenses.join("MIT"), "text").unwrap();
    let tree_dir = dir.path().join("tree");
    let provides = "PROVIDES=\"$portName = $portVersion\"\nLICENSE=\"MIT\n\tOwn Licence\"";
    write(&tree_dir, "app-misc", "own", "own-1.recipe", provides);
    fs::create_dir(tree_dir.join("app-misc/own/licenses")).unwrap();
    fs::write(tree_dir.join("app-misc/own/licenses/Own Licence"), "text").unwrap();
    write(&tree_dir, "app-misc", "unknown", "unknown-1.recipe", provides);
    let mut options = options();
    let unchecked = load(&tree_dir, &options);
    assert!(unchecked.problems.is_empty(), "{:?}", unchecked.problems);
    options.licenses_dir = Some(licenses);
    let tree = load(&tree_dir, &options);
    assert!(tree.active("own").is_some(), "{:?}", tree.problems);
    assert_eq!(tree.problems.len(), 1);
    assert!(tree.problems[0]
        .message
        .starts_with("No match found for license Own Licence"));
    options.licenses_dir = Some(dir.path().join("missing"));
    assert!(PortsTree::load(&tree_dir, &options).is_err());
}

#[test]
fn a_recipe_that_is_not_utf8_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app-misc",
        "latin",
        "latin-1.recipe",
        "PROVIDES=\"latin = 1\"\n# caf\u{e9}",
    );
    let path = dir.path().join("app-misc/latin/latin-1.recipe");
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - 3;
    bytes.splice(at.., [0xe9, b'\n']);
    fs::write(&path, bytes).unwrap();
    let tree = load(dir.path(), &options());
    assert!(tree.active("latin").is_none());
    assert!(
        tree.problems[0].message.contains("not valid UTF-8"),
        "{:?}",
        tree.problems
    );
}

#[test]
fn an_unreferenced_patchset_breaks_the_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let provides = "PROVIDES=\"$portName = $portVersion\"";
    write(dir.path(), "app-misc", "patched", "patched-1.recipe", provides);
    write(
        dir.path(),
        "app-misc",
        "listed",
        "listed-1.recipe",
        &format!("{provides}\nPATCHES=\"listed-$portVersion.patchset\""),
    );
    for name in ["patched", "listed"] {
        let patches = dir.path().join(format!("app-misc/{name}/patches"));
        fs::create_dir(&patches).unwrap();
        fs::write(patches.join(format!("{name}-1.patchset")), "").unwrap();
    }
    let tree = load(dir.path(), &options());
    assert!(tree.active("listed").is_some());
    assert_eq!(tree.problems.len(), 1, "{:?}", tree.problems);
    assert!(tree.problems[0]
        .message
        .contains("patched-1.patchset is not referenced in PATCHES"));
}

#[test]
fn package_names_and_untested_subpackages() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app-misc",
        "named",
        "named-1.recipe",
        "PROVIDES=\"named = $portVersion\"\n\
         PROVIDES_tools=\"other_tools = $portVersion\"\nPACKAGE_NAME_tools=other_tools\n\
         PACKAGE_VERSION_tools=7.1\n\
         PROVIDES_extra=\"named_extra = $portVersion\"\nARCHITECTURES_extra=\"?x86_64\"\n",
    );
    let mut options = options();
    let tree = load(dir.path(), &options);
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let port = tree.active("named").unwrap();
    let names: Vec<&str> = port.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["named", "other_tools"],
        "the untested subpackage is not built"
    );
    assert_eq!(port.packages[1].version, Version::parse("7.1-2").unwrap());
    options.allow_untested = true;
    let tree = load(dir.path(), &options);
    assert_eq!(tree.active("named").unwrap().packages.len(), 3);
    // HaikuPorter's ALLOW_UNTESTED is off unless configured.
    assert!(!PortsSection::default().allow_untested);
    let parsed: buildmaster::config::instance::InstanceConfig = toml::from_str("[ports]\n").unwrap();
    assert!(!parsed.ports.allow_untested);
}
