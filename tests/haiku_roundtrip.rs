//! Acceptance tests of the writing half of Haiku's package formats, checked through the reading half
//! (proven against Haiku's own listings in `../shared/vectors/expected/`):
//! - every real repository re-encoded by our writer lists exactly as Haiku listed the original, and
//!   keeps its repository-info section byte for byte;
//! - every attribute kind of a `.PackageInfo` survives `hpkg create` → `hpkg list -i` for every heap
//!   compression, and licences of APPROVE_LICENSE packages are embedded by `repo create`;
//! - `repo update -t` reuses old entries without reading their files.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use buildmaster::haiku::attributes::{Architecture, ResolvableOperator, WritableFileUpdateType};
use buildmaster::haiku::hpkg_reader::read_package;
use buildmaster::haiku::hpkr_reader::{read_repository, repository_info_section_bytes};
use buildmaster::haiku::hpkr_writer::encode_repository;
use buildmaster::haiku::package_scan::sha256_hex;
use buildmaster::haiku::version::Version;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors");
const REPOSITORIES: [&str; 3] = ["repo.hpkr", "sample-repo.hpkr", "hpkg-crate-sample-repo.hpkr"];

/// Runs the `buildmaster` binary; returns stdout, failing the test with stderr on a non-zero exit.
fn buildmaster(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "buildmaster {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the binary expecting failure; returns stderr.
fn buildmaster_fails(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "buildmaster {args:?} unexpectedly succeeded"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn reencoded_vector_repositories_list_identically_and_keep_the_info_section() {
    let dir = tempfile::tempdir().unwrap();
    for name in REPOSITORIES {
        let original = std::fs::read(Path::new(VECTORS).join(name)).unwrap();
        let repository = read_repository(&Path::new(VECTORS).join(name)).unwrap();
        let bytes = encode_repository(&repository.info, &repository.packages).unwrap();
        let out = dir.path().join(name);
        std::fs::write(&out, &bytes).unwrap();

        let mut expected = String::new();
        let gz = std::fs::File::open(format!("{VECTORS}/expected/{name}.list-v.txt.gz")).unwrap();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut expected)
            .unwrap();
        let listed = buildmaster(&["repo", "list", "-v", s(&out)]);
        assert!(
            listed == expected,
            "{name}: re-encoded listing differs from Haiku's listing of the original"
        );

        let original_info = repository_info_section_bytes(&original).unwrap();
        assert_eq!(
            repository_info_section_bytes(&bytes).unwrap(),
            original_info,
            "{name}: info section"
        );
        assert_eq!(
            repository.info.encode(),
            original_info,
            "{name}: BMessage encoder"
        );

        // Container invariants of what we wrote.
        assert_eq!(&bytes[..4], b"hpkr");
        assert_eq!(
            u64::from_be_bytes(bytes[8..16].try_into().unwrap()),
            bytes.len() as u64
        );
        assert_eq!(u16::from_be_bytes([bytes[16], bytes[17]]), 1, "minor version");
    }
}

/// A `.PackageInfo` using every attribute kind Haiku's parser accepts.
const PACKAGE_INFO: &str = r#"name roundtrip
version 1.2.3~beta1-4
architecture x86_64
summary "Exercises every package attribute"
description "First line
second line with \"quotes\""
packager "Test Packager <test@example.com>"
vendor "Haiku Project"
copyrights {
	"2024 Someone"
	"2025 Someone Else"
}
licenses { MyLicense "MIT" }
urls { https://example.com/ }
source-urls { "https://example.com/src.tar.gz" }
flags { approve_license system_package }
provides {
	roundtrip = 1.2.3~beta1-4 compat >= 1.0
	cmd:roundtrip
	lib:libroundtrip = 1.2 compatible >= 1
}
requires {
	haiku >= r1~beta4
	lib:libz < 2 base
	a == 1
	b != 2.0.1
	c <= 3_x
	d > 4~rc1-2
	lib:libnoversion
}
supplements { other_pkg >= 2 }
conflicts { bad_pkg < 1.5 }
freshens { old_pkg }
replaces { roundtrip_legacy }
global-writable-files {
	settings/roundtrip.conf keep-old
	settings/roundtrip.d directory manual
	var/roundtrip.state auto-merge
	var/not-included
}
user-settings-files {
	config/settings/roundtrip template data/roundtrip/template
	config/settings/roundtrip.d directory
	config/settings/plain
}
users {
	rtuser real-name "Roundtrip User" home /boot/home/rt shell /bin/bash groups rtgroup wheel
	plainuser
}
groups { rtgroup }
post-install-scripts { boot/post-install/roundtrip.sh }
pre-uninstall-scripts { boot/pre-uninstall/roundtrip.sh }
"#;

const LICENSE_TEXT: &str = "My licence.\nYou may do anything.\n";

/// A package directory with files of every kind and size class.
fn package_tree(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("data/licenses")).unwrap();
    std::fs::create_dir_all(root.join("data/roundtrip/empty-dir")).unwrap();
    std::fs::write(
        root.join("bin/roundtrip"),
        "#!/bin/sh\necho roundtrip\n".repeat(50),
    )
    .unwrap();
    std::fs::set_permissions(root.join("bin/roundtrip"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("data/licenses/MyLicense"), LICENSE_TEXT).unwrap();
    std::fs::write(root.join("data/roundtrip/template"), "key value\n").unwrap();
    std::fs::write(root.join("data/roundtrip/tiny"), "8 bytes!").unwrap();
    std::fs::write(root.join("data/roundtrip/empty"), "").unwrap();
    // Several 64 KiB chunks, partly incompressible, so both stored forms occur.
    let mut big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut rng = fastrand::Rng::with_seed(3);
    big[70_000..140_000].iter_mut().for_each(|b| *b = rng.u8(..));
    std::fs::write(root.join("data/roundtrip/big.bin"), big).unwrap();
    std::os::unix::fs::symlink("../bin/roundtrip", root.join("data/roundtrip/link")).unwrap();
}

/// Lines Haiku's `package list -i` prints for the fixture, derived by hand from [`PACKAGE_INFO`].
const EXPECTED_LINES: &[&str] = &[
    "\tname: roundtrip",
    "\tsummary: Exercises every package attribute",
    "\tdescription: First line\nsecond line with \"quotes\"",
    "\tvendor: Haiku Project",
    "\tpackager: Test Packager <test@example.com>",
    "\tbase package: lib:libz",
    "\tflags:\n\t\tapprove_license\n\t\tsystem_package",
    "\tarchitecture: x86_64",
    "\tversion: 1.2.3~beta1-4",
    "\tcopyright: 2024 Someone\n\tcopyright: 2025 Someone Else",
    "\tlicense: MyLicense\n\tlicense: MIT",
    "\tURL: https://example.com/",
    "\tsource URL: https://example.com/src.tar.gz",
    "\tprovides: roundtrip = 1.2.3~beta1-4 (compatible >= 1.0)",
    "\tprovides: cmd:roundtrip\n",
    "\tprovides: lib:libroundtrip = 1.2 (compatible >= 1)",
    "\trequires: haiku>=r1~beta4",
    "\trequires: lib:libz<2",
    "\trequires: a==1",
    "\trequires: b!=2.0.1",
    "\trequires: c<=3_x",
    "\trequires: d>4~rc1-2",
    "\trequires: lib:libnoversion\n",
    "\tsupplements: other_pkg>=2",
    "\tconflicts: bad_pkg<1.5",
    "\tfreshens: old_pkg\n",
    "\treplaces: roundtrip_legacy",
    "\tglobal writable file: settings/roundtrip.conf keep-old",
    "\tglobal writable file: settings/roundtrip.d directory manual",
    "\tglobal writable file: var/roundtrip.state auto-merge",
    "\tglobal writable file: var/not-included\n",
    "\tuser settings file: config/settings/roundtrip template data/roundtrip/template",
    "\tuser settings file: config/settings/roundtrip.d directory",
    "\tuser settings file: config/settings/plain\n",
    "\tuser: rtuser\n\t\treal name: Roundtrip User\n\t\thome:      /boot/home/rt\n\t\tshell:     /bin/bash\n\t\tgroup:     rtgroup\n\t\tgroup:     wheel",
    "\tuser: plainuser\n",
    "\tgroup: rtgroup",
    "\tpost-install script: boot/post-install/roundtrip.sh",
    "\tpre-uninstall script: boot/pre-uninstall/roundtrip.sh",
    "\tinstall path: /boot/system/apps/roundtrip",
];

fn create_package(dir: &Path, compression: &str) -> PathBuf {
    let tree = dir.join(format!("tree-{compression}"));
    package_tree(&tree);
    let info = dir.join("roundtrip.PackageInfo");
    std::fs::write(&info, PACKAGE_INFO).unwrap();
    let out = dir.join(format!("roundtrip-{compression}.hpkg"));
    buildmaster(&[
        "hpkg",
        "create",
        "-i",
        s(&info),
        "-C",
        s(&tree),
        "--compression",
        compression,
        "-I",
        "/boot/system/apps/roundtrip",
        s(&out),
    ]);
    out
}

#[test]
fn every_attribute_kind_survives_hpkg_create_and_list_for_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let mut listings = Vec::new();
    for compression in ["zlib", "zstd", "none"] {
        let package = create_package(dir.path(), compression);
        let bytes = std::fs::read(&package).unwrap();
        let expected_code = ["none", "zlib", "zstd"]
            .iter()
            .position(|c| *c == compression)
            .unwrap() as u16;
        assert_eq!(
            u16::from_be_bytes([bytes[18], bytes[19]]),
            expected_code,
            "heap compression field"
        );
        assert_eq!(u16::from_be_bytes([bytes[16], bytes[17]]), 1, "minor version");

        let listing = buildmaster(&["hpkg", "list", "-i", s(&package)]);
        for line in EXPECTED_LINES {
            assert!(
                listing.contains(line),
                "{compression}: missing {line:?} in\n{listing}"
            );
        }

        // The model the reader decodes matches the fixture field by field.
        let info = read_package(&package).unwrap().info;
        assert_eq!(info.version, Version::new("1", "2", "3", "beta1", 4));
        assert_eq!(info.architecture, Architecture::X86_64);
        assert_eq!(info.flags, 3);
        assert_eq!(info.requires.len(), 7);
        assert_eq!(info.requires[1].operator, Some(ResolvableOperator::Less));
        assert_eq!(info.requires[6].version, None);
        assert_eq!(
            info.provides[0].compatible_version,
            Some(Version::new("1", "0", "", "", 0))
        );
        assert_eq!(
            info.global_writable_files[0].update_type,
            Some(WritableFileUpdateType::KeepOld)
        );
        assert_eq!(info.global_writable_files[3].update_type, None);
        assert_eq!(info.users[0].groups, ["rtgroup", "wheel"]);
        assert_eq!(info.install_path, "/boot/system/apps/roundtrip");
        listings.push(listing);

        // The full listing (TOC included) shows every entry kind.
        let full = buildmaster(&["hpkg", "list", s(&package)]);
        for entry in [
            "roundtrip",
            "big.bin",
            "tiny",
            "empty",
            "empty-dir",
            "link",
            "MyLicense",
            ".PackageInfo",
        ] {
            assert!(full.contains(entry), "{compression}: TOC lacks {entry}\n{full}");
        }
        assert!(full.contains("-> ../bin/roundtrip"), "{full}");
        assert!(full.contains("-rwxr-xr-x"), "{full}");
    }
    assert!(
        listings.windows(2).all(|w| w[0] == w[1]),
        "listings differ between compressions"
    );
}

fn write_repo_info(path: &Path) {
    std::fs::write(
        path,
        "name TestRepo\nvendor \"haiku project\"\nsummary \"Round-trip test repository\"\npriority 7\n\
         baseurl https://example.com/repo\nidentifier tag:example.com,2025:test\narchitecture x86_64\n",
    )
    .unwrap();
}

#[test]
fn repo_create_embeds_licences_and_checksums_packages() {
    let dir = tempfile::tempdir().unwrap();
    let package = create_package(dir.path(), "zstd");
    let info_file = dir.path().join("repo.info");
    write_repo_info(&info_file);
    let sha_file = dir.path().join("repo.sha256");
    buildmaster(&[
        "repo",
        "create",
        "--checksum-file",
        s(&sha_file),
        s(&info_file),
        s(&package),
    ]);
    let repo = dir.path().join("repo");

    let repository = read_repository(&repo).unwrap();
    assert_eq!(repository.info.licenses.len(), 1);
    assert_eq!(repository.info.licenses[0].name, "MyLicense");
    assert_eq!(repository.info.licenses[0].text, LICENSE_TEXT);
    assert_eq!(
        repository.packages[0].checksum,
        sha256_hex(&std::fs::read(&package).unwrap())
    );
    let mut expected = read_package(&package).unwrap().info;
    expected.checksum = repository.packages[0].checksum.clone();
    assert_eq!(
        repository.packages[0], expected,
        "repository entry keeps every attribute"
    );

    let listing = buildmaster(&["repo", "list", "-v", s(&repo)]);
    assert!(listing.contains("\tlicenses:\n\t\tMyLicense\n"), "{listing}");
    assert!(
        listing.contains("\tbase-url: https://example.com/repo\n"),
        "{listing}"
    );
    assert!(listing.contains("\tpriority: 7\n"), "{listing}");
    for line in EXPECTED_LINES {
        assert!(listing.contains(line), "missing {line:?}");
    }

    let sha = std::fs::read_to_string(&sha_file).unwrap();
    assert_eq!(sha, sha256_hex(&std::fs::read(&repo).unwrap()));
    assert_eq!(sha.len(), 64);

    // A vendor mismatch is refused and names the package.
    std::fs::write(
        &info_file,
        std::fs::read_to_string(&info_file)
            .unwrap()
            .replace("haiku project", "Other Vendor"),
    )
    .unwrap();
    let err = buildmaster_fails(&["repo", "create", s(&info_file), s(&package)]);
    assert!(
        err.contains("roundtrip-zstd.hpkg") && err.contains("vendor"),
        "{err}"
    );
}

/// Builds a small package `name-1.0-1-x86_64.hpkg` in `dir/packages`.
fn small_package(dir: &Path, name: &str, version: &str) -> String {
    let tree = dir.join(format!("tree-{name}"));
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("data/readme"), format!("{name} {version}\n")).unwrap();
    let info = format!(
        "name {name}\nversion {version}\narchitecture x86_64\nsummary \"{name}\"\ndescription \"{name} package\"\n\
         packager p\nvendor \"Haiku Project\"\ncopyrights {{ c }}\nlicenses {{ MIT }}\nprovides {{ {name} = {version} }}\n"
    );
    std::fs::write(tree.join(".PackageInfo"), info).unwrap();
    let file_name = format!("{name}-{version}-x86_64.hpkg");
    std::fs::create_dir_all(dir.join("packages")).unwrap();
    buildmaster(&[
        "hpkg",
        "create",
        "-C",
        s(&tree),
        s(&dir.join("packages").join(&file_name)),
    ]);
    file_name
}

#[test]
fn repo_update_with_t_reuses_entries_and_reads_only_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let packages = dir.path().join("packages");
    let one = small_package(dir.path(), "one", "1.0-1");
    let two = small_package(dir.path(), "two", "2.0-1");
    let info_file = dir.path().join("repo.info");
    write_repo_info(&info_file);
    buildmaster(&["repo", "create", "-C", s(&packages), s(&info_file), &one, &two]);
    let repo = dir.path().join("repo");
    let old = read_repository(&repo).unwrap();

    // The old files become unreadable: "one" is now empty and "two" is gone.
    std::fs::write(packages.join(&one), b"").unwrap();
    std::fs::remove_file(packages.join(&two)).unwrap();
    let three = small_package(dir.path(), "three", "3.0-2");
    let list = dir.path().join("package.list");
    std::fs::write(&list, format!("{three}\n{one}\n")).unwrap();
    let new_repo = dir.path().join("new-repo");
    std::fs::copy(&info_file, dir.path().join("new-repo.info")).unwrap();

    // Without -t every listed file is read, so the empty one fails, naming it.
    let err = buildmaster_fails(&[
        "repo",
        "update",
        "-C",
        s(&packages),
        s(&repo),
        s(&new_repo),
        s(&list),
    ]);
    assert!(err.contains(&one), "{err}");

    buildmaster(&[
        "repo",
        "update",
        "-C",
        s(&packages),
        "-t",
        s(&repo),
        s(&new_repo),
        s(&list),
    ]);
    let new = read_repository(&new_repo).unwrap();
    let names: Vec<String> = new.packages.iter().map(|p| p.canonical_file_name()).collect();
    assert_eq!(names, [three.clone(), one.clone()], "list order; 'two' dropped");
    assert_eq!(
        new.packages[1], old.packages[0],
        "reused entry kept as it was, checksum included"
    );
    assert_eq!(
        new.packages[0].checksum,
        sha256_hex(&std::fs::read(packages.join(&three)).unwrap())
    );
    assert_eq!(new.info.identifier, "tag:example.com,2025:test");
}
