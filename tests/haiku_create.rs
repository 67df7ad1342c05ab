//! `hpkg create` as Haiku's `package create` behaves: it refuses a licence that is neither one of
//! Haiku's system licences nor shipped in the package, and it streams file data of any size into the
//! package (read back here byte for byte), leaving no temporary file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use buildmaster::haiku::heap_writer::Compression;
use buildmaster::haiku::hpkg_reader::PackageFile;
use buildmaster::haiku::hpkg_writer::encode_package;
use buildmaster::haiku::package_info_file;
use buildmaster::haiku::toc_writer::PackageInfoEntry;

fn create(args: &[&str], info: &Path, tree: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .args(["hpkg", "create", "-i"])
        .arg(info)
        .arg("-C")
        .arg(tree)
        .args(args)
        .arg(out)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `.PackageInfo` declaring `licenses`, beside an empty tree; returns (info, tree).
fn package_source(dir: &Path, licenses: &str) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("data")).unwrap();
    let info = dir.join("lic.PackageInfo");
    std::fs::write(
        &info,
        format!(
            "name lic\nversion 1.0-1\narchitecture x86_64\nsummary \"s\"\ndescription \"d\"\npackager p\n\
             vendor \"Haiku Project\"\ncopyrights {{ c }}\nlicenses {{ {licenses} }}\nprovides {{ lic = 1.0-1 }}\n"
        ),
    )
    .unwrap();
    (info, tree)
}

#[test]
fn a_licence_neither_system_nor_shipped_is_refused_like_haiku() {
    let dir = tempfile::tempdir().unwrap();
    let (info, tree) = package_source(dir.path(), "MIT \"Public Domain\" \"Own Licence\"");
    let out = dir.path().join("lic-1.0-1-x86_64.hpkg");
    let refused = create(&[], &info, &tree, &out);
    let err = text(&refused.stderr);
    assert!(
        !refused.status.success(),
        "accepted a licence the package does not ship"
    );
    assert!(
        err.contains("License 'Own Licence' isn't contained in package")
            && err.contains(&tree.join("data/licenses/Own Licence").display().to_string()),
        "{err}"
    );
    assert!(!out.exists(), "a refused package is not written");

    // A directory of system licences that holds it (as a Haiku installation might) lets it pass.
    let system = dir.path().join("system-licenses");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::write(system.join("Own Licence"), "text").unwrap();
    std::fs::write(system.join("MIT"), "text").unwrap();
    let system_arg = system.to_str().unwrap();
    let accepted = create(&["--system-licenses", system_arg], &info, &tree, &out);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));

    // Shipped in the package, it passes with the built-in list.
    std::fs::create_dir_all(tree.join("data/licenses")).unwrap();
    std::fs::write(tree.join("data/licenses/Own Licence"), "The licence text.\n").unwrap();
    let shipped = create(&[], &info, &tree, &out);
    assert!(shipped.status.success(), "{}", text(&shipped.stderr));
    let package = PackageFile::open(&out).unwrap();
    assert_eq!(package.license_files().unwrap()[0].name, "Own Licence");
}

#[test]
fn large_files_stream_into_the_package_intact_for_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let (info, tree) = package_source(dir.path(), "MIT");
    // Larger than a compression batch (2 MiB), not a multiple of a chunk, half compressible.
    let mut rng = fastrand::Rng::with_seed(3);
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 4321)
        .map(|i| if i % 2 == 0 { rng.u8(..) } else { b'x' })
        .collect();
    std::fs::write(tree.join("data/big.bin"), &big).unwrap();
    std::fs::write(tree.join("data/tiny"), b"8 bytes!").unwrap();
    // Entries record access times: make them ones reading does not change (relatime updates an access
    // time only if it is not after the modification time, or older than a day).
    let now = std::time::SystemTime::now();
    let times = std::fs::FileTimes::new()
        .set_modified(now - std::time::Duration::from_secs(60))
        .set_accessed(now);
    let dirs = [tree.join("data"), tree.clone()];
    for path in [tree.join("data/big.bin"), tree.join("data/tiny"), info.clone()]
        .iter()
        .chain(&dirs)
    {
        std::fs::File::open(path).unwrap().set_times(times).unwrap();
    }
    for compression in ["zlib", "zstd", "none"] {
        let out = dir.path().join(format!("lic-{compression}.hpkg"));
        let made = create(&["--compression", compression], &info, &tree, &out);
        assert!(made.status.success(), "{}", text(&made.stderr));
        let package = PackageFile::open(&out).unwrap();
        let data = package.package.toc.iter().find(|e| e.name == "data").unwrap();
        let read = |name: &str| {
            package
                .read_data(data.child(name).unwrap().data.as_ref().unwrap())
                .unwrap()
        };
        assert!(read("big.bin") == big, "{compression}: big.bin differs");
        assert_eq!(read("tiny"), b"8 bytes!");
        // The streamed file is exactly what the in-memory encoder produces.
        let contents = std::fs::read(&info).unwrap();
        let parsed = package_info_file::parse(&String::from_utf8_lossy(&contents), &info).unwrap();
        let entry = PackageInfoEntry {
            contents,
            metadata: std::fs::metadata(&info).unwrap(),
        };
        let level = match compression {
            "zlib" => Compression::Zlib,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        };
        let encoded = encode_package(&parsed, &tree, &entry, level).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == encoded,
            "{compression}: streamed and in-memory differ"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
