//! Conformance against Haiku's own tools: every real file in `../shared/vectors/` must list exactly
//! as `package list [-i]`, `package_repo list -v|-f` and `package info -f '%fileName%'` printed it
//! (the oracle in `../shared/vectors/expected/`), both through the `buildmaster` binary and through
//! the library.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use buildmaster::haiku::hpkg_reader::{read_package, PackageFile, PackageReader};
use buildmaster::haiku::hpkr_reader::{read_repository, repository_info_section};
use buildmaster::haiku::listing::{list_package, list_repository};

fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors"))
}

/// Every vector file with the given extension, sorted; fails if there are none, so a missing
/// directory cannot make the tests pass vacuously.
fn vectors(extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("../shared/vectors exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected at least three .{extension} vectors, found {files:?}"
    );
    files
}

fn expected(file: &Path, suffix: &str) -> Vec<u8> {
    let name = file.file_name().and_then(|n| n.to_str()).expect("file name");
    let path = vectors_dir().join("expected").join(format!("{name}{suffix}"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if suffix.ends_with(".gz") {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .expect("gunzip oracle");
        text
    } else {
        bytes
    }
}

fn run_binary(args: &[&str], file: &Path) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .args(args)
        .arg(file)
        .output()
        .expect("run buildmaster");
    assert!(
        output.status.success(),
        "buildmaster {args:?} {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Compares and reports the first differing line, which is far more useful than two 400 KB blobs.
fn assert_same(what: &str, actual: &[u8], expected: &[u8]) {
    if actual == expected {
        return;
    }
    let actual = String::from_utf8_lossy(actual);
    let expected = String::from_utf8_lossy(expected);
    let line = actual.lines().zip(expected.lines()).position(|(a, e)| a != e);
    match line {
        Some(n) => panic!(
            "{what}: line {} differs\n  got:      {:?}\n  expected: {:?}",
            n + 1,
            actual.lines().nth(n),
            expected.lines().nth(n)
        ),
        None => panic!(
            "{what}: one output is a prefix of the other ({} vs {} lines)",
            actual.lines().count(),
            expected.lines().count()
        ),
    }
}

#[test]
fn hpkg_list_info_matches_haiku_binary_and_library() {
    for file in vectors("hpkg") {
        let oracle = expected(&file, ".list-i.txt");
        assert_same(
            &format!("binary hpkg list -i {}", file.display()),
            &run_binary(&["hpkg", "list", "-i"], &file),
            &oracle,
        );
        let package = read_package(&file).expect("vector reads");
        assert_same(
            &format!("library list -i {}", file.display()),
            list_package(&package, true).as_bytes(),
            &oracle,
        );
    }
}

#[test]
fn hpkg_list_matches_haiku_binary_and_library() {
    for file in vectors("hpkg") {
        let oracle = expected(&file, ".list.txt");
        assert_same(
            &format!("binary hpkg list {}", file.display()),
            &run_binary(&["hpkg", "list"], &file),
            &oracle,
        );
        let package = read_package(&file).expect("vector reads");
        assert_same(
            &format!("library list {}", file.display()),
            list_package(&package, false).as_bytes(),
            &oracle,
        );
    }
}

#[test]
fn hpkg_canonical_file_name_matches_haiku() {
    for file in vectors("hpkg") {
        let package = read_package(&file).expect("vector reads");
        let name = format!("{}\n", package.info.canonical_file_name());
        assert_same(
            &format!("file name of {}", file.display()),
            name.as_bytes(),
            &expected(&file, ".filename.txt"),
        );
    }
}

#[test]
fn repo_list_verbose_matches_haiku_binary_and_library() {
    for file in vectors("hpkr") {
        let oracle = expected(&file, ".list-v.txt.gz");
        assert_same(
            &format!("binary repo list -v {}", file.display()),
            &run_binary(&["repo", "list", "-v"], &file),
            &oracle,
        );
        let repository = read_repository(&file).expect("vector reads");
        assert_same(
            &format!("library list -v {}", file.display()),
            list_repository(&repository, true, false).as_bytes(),
            &oracle,
        );
    }
}

#[test]
fn repo_list_file_names_matches_haiku_binary_and_library() {
    for file in vectors("hpkr") {
        let oracle = expected(&file, ".filenames.txt");
        assert_same(
            &format!("binary repo list -f {}", file.display()),
            &run_binary(&["repo", "list", "-f"], &file),
            &oracle,
        );
        let repository = read_repository(&file).expect("vector reads");
        assert_same(
            &format!("library list -f {}", file.display()),
            list_repository(&repository, false, true).as_bytes(),
            &oracle,
        );
    }
}

#[test]
fn repository_info_section_is_the_stored_bmessage() {
    for file in vectors("hpkr") {
        let repository = read_repository(&file).expect("vector reads");
        let section = repository_info_section(&file).expect("info section reads");
        assert_eq!(
            section.len() as u64,
            u64::from(repository.header.info_length),
            "{}",
            file.display()
        );
        // A flattened BMessage starts with its format magic, stored little-endian as "HMF1".
        assert_eq!(&section[..4], b"HMF1", "{}", file.display());
        assert_eq!(
            buildmaster::haiku::repo_info::RepositoryInfo::decode(&section).expect("decodes"),
            repository.info
        );
    }
}

#[test]
fn package_file_data_matches_toc_sizes() {
    // Reading every file's data through the heap must yield exactly the size the TOC states: this
    // exercises random access across chunk boundaries in zlib and zstd heaps.
    for file in vectors("hpkg") {
        let package = PackageFile::open(&file).expect("vector reads");
        let mut stack: Vec<_> = package.package.toc.iter().collect();
        let mut checked = 0;
        while let Some(entry) = stack.pop() {
            if let Some(data) = &entry.data {
                let bytes = package.read_data(data).expect("data reads");
                assert_eq!(
                    bytes.len() as u64,
                    entry.size(),
                    "{} in {}",
                    entry.name,
                    file.display()
                );
                checked += 1;
            }
            stack.extend(entry.children.iter());
        }
        assert!(checked > 0, "{} has file data", file.display());
        // None of the vectors ships data/licenses; the lookup must still succeed and find nothing.
        assert!(package.license_files().expect("licence lookup").is_empty());
    }
}

#[test]
fn reading_from_the_open_file_decodes_what_reading_it_whole_does() {
    // The publisher decodes packages with positional reads (bounded memory); it must see exactly
    // what the in-memory reader sees, file data included.
    for file in vectors("hpkg") {
        let whole = PackageFile::open(&file).expect("vector reads");
        let len = std::fs::metadata(&file).unwrap().len();
        let open = PackageReader::new(std::fs::File::open(&file).unwrap(), len).expect("vector reads");
        assert_eq!(open.package, whole.package, "{}", file.display());
        let mut stack: Vec<_> = whole.package.toc.iter().collect();
        while let Some(entry) = stack.pop() {
            if let Some(data) = &entry.data {
                assert_eq!(open.read_data(data).unwrap(), whole.read_data(data).unwrap());
            }
            stack.extend(entry.children.iter());
        }
        // A file shorter than its header says is refused, not read past its end.
        let short = PackageReader::new(std::fs::File::open(&file).unwrap(), len + 1);
        assert!(short.is_err(), "{}", file.display());
    }
}

#[test]
fn tipster_package_info_model() {
    let file = vectors_dir().join("tipster-1.1.1-1-x86_64.hpkg");
    let info = read_package(&file).expect("reads").info;
    assert_eq!(info.name, "tipster");
    assert_eq!(info.version.to_string(), "1.1.1-1");
    assert_eq!(info.copyrights.len(), 6);
    assert_eq!(info.provides.len(), 2);
    assert_eq!(info.provides[1].name, "app:tipster");
    assert_eq!(info.requires.len(), 1);
    assert_eq!(info.requires[0].to_string(), "haiku>=r1~beta1_hrev52295_129-1");
    assert!(info.checksum.is_empty());
}
