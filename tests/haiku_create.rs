//! `hpkg create` as Haiku's `package create` behaves: it streams file data of any size into the
//! package (read back here byte for byte), leaving no temporary file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use buildmaster::haiku::hpkg_reader::PackageFile;

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
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
