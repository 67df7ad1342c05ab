//! Robustness of the HPKG/HPKR readers: truncated, bit-flipped and hand-crafted malformed files must
//! yield a `FormatError` that names the byte offset (and the file, when read from a path), never a
//! panic. Cut points and flip positions come from a seeded PRNG, so every run tests the same cases.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use buildmaster::haiku::attributes::{AttributeId, AttributeType, Tag};
use buildmaster::haiku::format_error::{FormatError, FormatErrorKind};
use buildmaster::haiku::hpkg_reader::{read_package, read_package_bytes, PackageFile};
use buildmaster::haiku::hpkr_reader::{
    read_repository, read_repository_bytes, repository_info_section_bytes,
};
use buildmaster::haiku::leb128::write_unsigned;

fn vectors() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("../shared/vectors exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hpkg" || e == "hpkr"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "expected the six vectors, found {files:?}");
    files
}

fn is_repository(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "hpkr")
}

/// Runs every reader on `bytes`; returns the first error, `None` if all succeed, and fails the test
/// (naming the case) on a panic or an error whose message does not give an offset.
fn read_all(repository: bool, bytes: &[u8], case: &str) -> Option<FormatError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if repository {
            let info = repository_info_section_bytes(bytes).err();
            read_repository_bytes(bytes).err().or(info)
        } else {
            let file = PackageFile::from_bytes(bytes.to_vec()).and_then(|f| f.license_files().map(|_| ()));
            read_package_bytes(bytes).err().or(file.err())
        }
    }));
    let error = outcome.unwrap_or_else(|_| panic!("reader panicked on {case}"));
    if let Some(error) = &error {
        let message = error.to_string();
        assert!(
            message.contains("offset"),
            "{case}: error without offset: {message}"
        );
    }
    error
}

/// Writes the file size into the header's `total_size`, so a truncated file gets past the size check
/// and exercises the heap and section readers.
fn with_total_size(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= 16 {
        let size = (bytes.len() as u64).to_be_bytes();
        bytes[8..16].copy_from_slice(&size);
    }
    bytes
}

#[test]
fn truncated_vectors_are_rejected_with_offsets() {
    let mut rng = fastrand::Rng::with_seed(0x4850_4b47);
    for path in vectors() {
        let bytes = std::fs::read(&path).expect("vector");
        let repository = is_repository(&path);
        // Every cut in the header region, then random cuts across the file.
        let mut cuts: Vec<usize> = (0..100.min(bytes.len())).collect();
        cuts.extend((0..60).map(|_| rng.usize(0..bytes.len())));
        for cut in cuts {
            let case = format!("{} cut at {cut}", path.display());
            let plain = read_all(repository, &bytes[..cut], &case);
            assert!(plain.is_some(), "{case}: truncated file accepted");
            // With a patched total size the heap is short instead: still an error, never a panic.
            let patched = read_all(repository, &with_total_size(bytes[..cut].to_vec()), &case);
            assert!(
                patched.is_some(),
                "{case} (size patched): truncated file accepted"
            );
        }
    }
}

#[test]
fn bit_flipped_vectors_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x4850_4b52);
    for path in vectors() {
        let bytes = std::fs::read(&path).expect("vector");
        let repository = is_repository(&path);
        let mut rejected = 0;
        // Flips in the header always matter to some field; flips in the heap may hit file data,
        // which no reader can detect, so only "no panic, offsets in errors" is required there.
        let mut positions: Vec<usize> = (0..80.min(bytes.len())).collect();
        positions.extend((0..80).map(|_| rng.usize(0..bytes.len())));
        for position in positions {
            let mut flipped = bytes.clone();
            flipped[position] ^= 1 << rng.u32(0..8);
            if read_all(
                repository,
                &flipped,
                &format!("{} flip at {position}", path.display()),
            )
            .is_some()
            {
                rejected += 1;
            }
        }
        assert!(rejected > 0, "{}: no flip was detected at all", path.display());
    }
}

#[test]
fn errors_from_paths_name_the_file_and_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    for path in vectors() {
        let bytes = std::fs::read(&path).expect("vector");
        let broken = dir.path().join(path.file_name().expect("name"));
        std::fs::write(&broken, &bytes[..bytes.len() / 2]).expect("write");
        let error = if is_repository(&path) {
            read_repository(&broken).err()
        } else {
            read_package(&broken).err()
        };
        let message = error.expect("half a file is rejected").to_string();
        assert!(message.contains(&broken.display().to_string()), "{message}");
        assert!(
            message.contains("offset 8"),
            "total_size mismatch is reported at its field: {message}"
        );
    }
    let missing = dir.path().join("missing.hpkg");
    let message = read_package(&missing).expect_err("missing file").to_string();
    assert!(
        message.contains("missing.hpkg") && message.contains("cannot read file"),
        "{message}"
    );
}

// ---- hand-made packages --------------------------------------------------------------------------

fn tag(id: AttributeId, type_: AttributeType, encoding: u8, has_children: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_unsigned(
        &mut out,
        Tag {
            id: id as u8,
            type_: type_ as u8,
            encoding,
            has_children,
        }
        .compose(),
    );
    out
}

fn inline_string(id: AttributeId, value: &str, has_children: bool) -> Vec<u8> {
    let mut out = tag(id, AttributeType::String, 0, has_children);
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    out
}

/// An uncompressed HPKG whose heap is `toc` then `attributes`, each preceded by an empty string
/// table (`00`).
fn hpkg(toc_body: &[u8], attributes_body: &[u8]) -> Vec<u8> {
    let toc = [&[0u8][..], toc_body].concat();
    let attributes = [&[0u8][..], attributes_body].concat();
    let heap = [toc.as_slice(), attributes.as_slice()].concat();
    let mut out = Vec::new();
    out.extend_from_slice(b"hpkg");
    out.extend_from_slice(&80u16.to_be_bytes());
    out.extend_from_slice(&2u16.to_be_bytes());
    out.extend_from_slice(&((80 + heap.len()) as u64).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // minor version
    out.extend_from_slice(&0u16.to_be_bytes()); // compression none
    out.extend_from_slice(&65536u32.to_be_bytes());
    out.extend_from_slice(&(heap.len() as u64).to_be_bytes());
    out.extend_from_slice(&(heap.len() as u64).to_be_bytes());
    out.extend_from_slice(&(attributes.len() as u32).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes()); // strings length
    out.extend_from_slice(&0u32.to_be_bytes()); // strings count
    out.extend_from_slice(&0u32.to_be_bytes()); // reserved
    out.extend_from_slice(&(toc.len() as u64).to_be_bytes());
    out.extend_from_slice(&1u64.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    assert_eq!(out.len(), 80);
    out.extend_from_slice(&heap);
    out
}

fn minimal_attributes() -> Vec<u8> {
    let mut body = inline_string(AttributeId::PackageName, "tiny", false);
    body.extend(inline_string(AttributeId::PackageVersionMajor, "1", false));
    body.push(0);
    body
}

fn minimal_toc() -> Vec<u8> {
    let mut body = inline_string(AttributeId::DirectoryEntry, "file", true);
    body.extend(tag(AttributeId::FileMtime, AttributeType::Uint, 0, false));
    body.push(7);
    body.push(0); // end of the entry's children
    body.push(0); // end of the top level
    body
}

fn kind_of(bytes: &[u8]) -> FormatErrorKind {
    let error = read_all(false, bytes, "hand-made package").expect("malformed package rejected");
    error.kind
}

#[test]
fn hand_made_package_reads() {
    let package = read_package_bytes(&hpkg(&minimal_toc(), &minimal_attributes())).expect("valid package");
    assert_eq!(package.info.name, "tiny");
    assert_eq!(package.info.version.to_string(), "1");
    assert_eq!(package.toc.len(), 1);
    assert_eq!(package.toc[0].mtime, 7);
}

#[test]
fn bad_magic_and_version_are_rejected() {
    let good = hpkg(&minimal_toc(), &minimal_attributes());
    let mut bad_magic = good.clone();
    bad_magic[0] = b'x';
    assert!(matches!(kind_of(&bad_magic), FormatErrorKind::BadMagic { .. }));
    let mut bad_version = good.clone();
    bad_version[7] = 3;
    assert_eq!(kind_of(&bad_version), FormatErrorKind::BadVersion(3));
    // A package is not a repository.
    assert!(matches!(
        read_repository_bytes(&good).unwrap_err().kind,
        FormatErrorKind::BadMagic { .. }
    ));
}

#[test]
fn string_index_out_of_range_is_rejected() {
    let mut body = tag(AttributeId::PackageName, AttributeType::String, 1, false);
    write_unsigned(&mut body, 5);
    body.push(0);
    let error = read_all(false, &hpkg(&minimal_toc(), &body), "string index").expect("rejected");
    assert_eq!(
        error.kind,
        FormatErrorKind::StringIndexOutOfRange { index: 5, count: 0 }
    );
    // The tag is the first byte after the attributes' one-byte string table.
    let attributes_start = (minimal_toc().len() + 1 + 1) as u64;
    assert_eq!(error.offset, attributes_start);
}

#[test]
fn absurd_leb128_is_rejected() {
    let body = vec![0x80; 40];
    assert_eq!(
        kind_of(&hpkg(&minimal_toc(), &body)),
        FormatErrorKind::Leb128Overflow
    );
    // A huge inline size cannot make the reader allocate it.
    let mut body = tag(AttributeId::Data, AttributeType::Raw, 0, false);
    write_unsigned(&mut body, u64::MAX);
    assert!(matches!(
        kind_of(&hpkg(&body, &minimal_attributes())),
        FormatErrorKind::BadAttribute(_)
    ));
}

#[test]
fn deep_nesting_is_rejected() {
    let depth = 10_000;
    let mut toc = Vec::new();
    for _ in 0..depth {
        toc.extend(inline_string(AttributeId::DirectoryEntry, "d", true));
    }
    toc.extend(std::iter::repeat_n(0u8, depth + 1));
    assert!(matches!(
        kind_of(&hpkg(&toc, &minimal_attributes())),
        FormatErrorKind::TooDeep(_)
    ));
    // Deep children of a package attribute are skipped with the same bound.
    let mut attributes = Vec::new();
    for _ in 0..depth {
        attributes.extend(inline_string(AttributeId::PackageName, "n", true));
    }
    attributes.extend(std::iter::repeat_n(0u8, depth + 1));
    assert!(matches!(
        kind_of(&hpkg(&minimal_toc(), &attributes)),
        FormatErrorKind::TooDeep(_)
    ));
}

#[test]
fn oversized_sections_are_rejected() {
    let mut bytes = hpkg(&minimal_toc(), &minimal_attributes());
    // attributes_length = 2 MiB, over Haiku's 1 MiB limit.
    bytes[40..44].copy_from_slice(&(2u32 << 20).to_be_bytes());
    assert!(matches!(kind_of(&bytes), FormatErrorKind::SectionTooLarge { .. }));
    let mut bytes = hpkg(&minimal_toc(), &minimal_attributes());
    // toc_length larger than the heap.
    bytes[56..64].copy_from_slice(&1000u64.to_be_bytes());
    assert!(matches!(kind_of(&bytes), FormatErrorKind::InconsistentSize(_)));
}

#[test]
fn inconsistent_string_table_is_rejected() {
    let mut bytes = hpkg(&minimal_toc(), &minimal_attributes());
    // One string announced, none present.
    bytes[48..52].copy_from_slice(&1u32.to_be_bytes());
    assert!(matches!(kind_of(&bytes), FormatErrorKind::BadStringTable(_)));
}

#[test]
fn data_outside_the_heap_is_rejected() {
    let mut toc = inline_string(AttributeId::DirectoryEntry, "f", true);
    toc.extend(tag(AttributeId::Data, AttributeType::Raw, 1, false));
    write_unsigned(&mut toc, 10);
    write_unsigned(&mut toc, 1 << 40);
    toc.extend([0, 0]);
    assert!(matches!(
        kind_of(&hpkg(&toc, &minimal_attributes())),
        FormatErrorKind::InconsistentSize(_)
    ));
}

#[test]
fn corrupt_chunk_table_is_rejected() {
    // The zlib-compressed ctags source package has 31 chunks: make the first chunk claim the whole
    // stored heap.
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/ctags_source-5.8-5-source.hpkg"
    ));
    let mut bytes = std::fs::read(path).expect("vector");
    let compressed = u64::from_be_bytes(bytes[24..32].try_into().expect("8 bytes"));
    let uncompressed = u64::from_be_bytes(bytes[32..40].try_into().expect("8 bytes"));
    let chunks = uncompressed.div_ceil(65536);
    let table = (80 + compressed - (chunks - 1) * 2) as usize;
    bytes[table..table + 2].copy_from_slice(&0xffffu16.to_be_bytes());
    let error = read_all(false, &bytes, "chunk table").expect("rejected");
    assert!(matches!(
        error.kind,
        FormatErrorKind::InconsistentSize(_) | FormatErrorKind::BadChunk { .. }
    ));
}
