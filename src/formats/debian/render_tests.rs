//! Unit tests of rendering a distribution ([`super::DebianFormat::render`]).

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::test_support::package;
use super::DebianFormat;
use crate::formats::{
    DebianCompression, DebianSettings, FormatError, FormatSettings, IndexFile, IndexRole, RepositoryFormat,
    RepositoryTarget, Sign,
};

/// Marks text instead of signing it, so tests see what was signed.
struct FakeSigner;

impl Sign for FakeSigner {
    fn clear_sign(&self, text: &str) -> Result<String, FormatError> {
        Ok(format!("CLEAR[{text}]"))
    }
    fn detached_sign(&self, data: &[u8]) -> Result<String, FormatError> {
        Ok(format!("DETACHED[{}]", data.len()))
    }
}

fn target() -> RepositoryTarget {
    RepositoryTarget {
        id: "deb-test".into(),
        settings: FormatSettings::Debian(DebianSettings {
            codename: "test".into(),
            suite: Some("stable".into()),
            components: vec!["main".into(), "contrib".into()],
            architectures: vec!["amd64".into(), "arm64".into()],
            origin: Some("buildmaster".into()),
            compressions: vec![
                DebianCompression::None,
                DebianCompression::Gz,
                DebianCompression::Xz,
            ],
        }),
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01 00:00:00
}

fn render(signer: Option<&dyn Sign>) -> Vec<IndexFile> {
    DebianFormat::default()
        .render(&target(), &packages(), signer, now())
        .unwrap()
}

fn packages() -> Vec<crate::formats::IndexedPackage> {
    vec![
        package("Package: bm-hello\nVersion: 1:2.0-1\nArchitecture: amd64\nDepends: bm-libgreet\nDescription: hi\n more\n"),
        package("Package: bm-hello\nVersion: 1:2.0~rc1-1\nArchitecture: amd64\n"),
        package("Package: bm-libgreet\nVersion: 1.0\nArchitecture: all\n"),
        package("Package: extra\nVersion: 1\nArchitecture: arm64\nSection: contrib/net\n"),
        package("Package: stray\nVersion: 1\nArchitecture: riscv64\n"),
    ]
}

fn file<'a>(files: &'a [IndexFile], path: &str) -> &'a IndexFile {
    files.iter().find(|f| f.path == path).unwrap_or_else(|| {
        panic!(
            "no {path} in {:?}",
            files.iter().map(|f| &f.path).collect::<Vec<_>>()
        )
    })
}

fn text(f: &IndexFile) -> &str {
    std::str::from_utf8(&f.bytes).unwrap()
}

#[test]
fn packages_per_component_and_architecture() {
    let files = render(None);
    let amd64 = text(file(&files, "dists/test/main/binary-amd64/Packages"));
    // Sorted by dpkg version (~rc1 before the release); Filename before Size.
    assert!(amd64.starts_with("Package: bm-hello\nVersion: 1:2.0~rc1-1\nArchitecture: amd64\nFilename: pool/bm-hello_2.0~rc1-1_amd64.deb\nSize: 1234\n"), "{amd64}");
    assert!(
        amd64.contains("\n\nPackage: bm-hello\nVersion: 1:2.0-1\n"),
        "{amd64}"
    );
    assert!(
        amd64.contains("Description: hi\n more\nFilename: pool/bm-hello_2.0-1_amd64.deb\nSize: 1234\n"),
        "{amd64}"
    );
    assert!(
        !amd64.contains("bm-libgreet_"),
        "an all package is listed only in binary-all"
    );
    let all = text(file(&files, "dists/test/main/binary-all/Packages"));
    assert!(all.starts_with("Package: bm-libgreet\n"), "{all}");
    assert_eq!(text(file(&files, "dists/test/main/binary-arm64/Packages")), "");
    assert!(text(file(&files, "dists/test/contrib/binary-arm64/Packages")).contains("Package: extra\n"));
    assert!(
        !files
            .iter()
            .filter(|f| f.path.ends_with("/Packages"))
            .any(|f| text(f).contains("stray")),
        "unconfigured architecture listed"
    );
}

#[test]
fn release_names_every_index_with_its_digest_and_by_hash_copies_exist() {
    let files = render(None);
    let release = text(file(&files, "dists/test/Release"));
    assert!(
        release.starts_with(
            "Origin: buildmaster\nLabel: buildmaster\nSuite: stable\nCodename: test\n\
         Date: Thu, 01 Jan 2026 00:00:00 UTC\nArchitectures: amd64 arm64 all\n\
         Components: main contrib\nAcquire-By-Hash: yes\nSHA256:\n"
        ),
        "{release}"
    );
    let listed: Vec<&str> = release.lines().filter(|l| l.starts_with(' ')).collect();
    assert_eq!(listed.len(), 2 * 3 * 3, "{release}");
    for line in listed {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [sha, size, path] = fields[..] else {
            panic!("{line}")
        };
        let plain = file(&files, &format!("dists/test/{path}"));
        assert_eq!(plain.role, IndexRole::Data);
        assert_eq!(hex::encode(Sha256::digest(&plain.bytes)), sha, "{path}");
        assert_eq!(plain.bytes.len().to_string(), size, "{path}");
        let dir = path.rsplit_once('/').unwrap().0;
        let by_hash = file(&files, &format!("dists/test/{dir}/by-hash/SHA256/{sha}"));
        assert_eq!(by_hash.bytes, plain.bytes);
        assert_eq!(by_hash.role, IndexRole::ContentAddressed);
    }
}

#[test]
fn compressed_indexes_decompress_to_the_plain_one() {
    let files = render(None);
    let plain = &file(&files, "dists/test/main/binary-amd64/Packages").bytes;
    let mut gz = String::new();
    flate2::read::MultiGzDecoder::new(&file(&files, "dists/test/main/binary-amd64/Packages.gz").bytes[..])
        .read_to_string(&mut gz)
        .unwrap();
    let mut xz = String::new();
    liblzma::read::XzDecoder::new(&file(&files, "dists/test/main/binary-amd64/Packages.xz").bytes[..])
        .read_to_string(&mut xz)
        .unwrap();
    assert_eq!(gz.as_bytes(), &plain[..]);
    assert_eq!(xz.as_bytes(), &plain[..]);
}

#[test]
fn upload_order_and_signed_root_last() {
    let files = render(Some(&FakeSigner));
    let roles: Vec<IndexRole> = files.iter().map(|f| f.role).collect();
    let mut sorted = roles.clone();
    sorted.sort();
    assert_eq!(roles, sorted, "content-addressed, then data, then root");
    let roots: Vec<&str> = files
        .iter()
        .filter(|f| f.role == IndexRole::Root)
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        roots,
        [
            "dists/test/Release",
            "dists/test/Release.gpg",
            "dists/test/InRelease"
        ]
    );
    let release = text(file(&files, "dists/test/Release"));
    assert_eq!(
        text(file(&files, "dists/test/InRelease")),
        format!("CLEAR[{release}]")
    );
    assert_eq!(
        text(file(&files, "dists/test/Release.gpg")),
        format!("DETACHED[{}]", release.len())
    );
    let unsigned = render(None);
    assert_eq!(unsigned.last().unwrap().path, "dists/test/Release");
}

#[test]
fn same_input_same_bytes() {
    assert_eq!(render(None), render(None));
}

#[test]
fn bad_settings_and_hrefs_are_refused() {
    let mut t = target();
    let FormatSettings::Debian(s) = &mut t.settings else {
        unreachable!()
    };
    s.codename = "a b".into();
    let err = DebianFormat::default().render(&t, &[], None, now()).unwrap_err();
    assert!(err.to_string().contains("deb-test"), "{err}");

    let mut p = package("Package: a\nVersion: 1\nArchitecture: amd64\n");
    p.href = "pool/a\nSize: 1".into();
    let err = DebianFormat::default()
        .render(&target(), &[p], None, now())
        .unwrap_err();
    assert!(matches!(err, FormatError::Entry { .. }), "{err}");
}

#[test]
fn accepts_own_and_all_architectures() {
    let t = target();
    assert!(DebianFormat::default().accepts(&t, "amd64"));
    assert!(DebianFormat::default().accepts(&t, "all"));
    assert!(!DebianFormat::default().accepts(&t, "riscv64"));
    assert!(DebianFormat::default().is_arch_independent("all"));
}

#[test]
fn by_default_only_packages_gz_is_uploaded_and_release_names_the_uncompressed_digest() {
    let mut t = target();
    let FormatSettings::Debian(s) = &mut t.settings else {
        unreachable!()
    };
    s.compressions = vec![DebianCompression::Gz];
    let cache = tempfile::tempdir().unwrap();
    let format = DebianFormat::with_cache(cache.path().to_owned());
    let files = format.render(&t, &packages(), None, now()).unwrap();
    let names: Vec<&str> = files
        .iter()
        .filter(|f| f.role == IndexRole::Data)
        .map(|f| f.path.rsplit('/').next().unwrap())
        .collect();
    assert!(names.iter().all(|n| *n == "Packages.gz"), "{names:?}");
    let release = text(file(&files, "dists/test/Release"));
    let mut open = Vec::new();
    flate2::read::MultiGzDecoder::new(&file(&files, "dists/test/main/binary-amd64/Packages.gz").bytes[..])
        .read_to_end(&mut open)
        .unwrap();
    let listed: Vec<&str> = release
        .lines()
        .find(|l| l.ends_with(" main/binary-amd64/Packages"))
        .unwrap_or_else(|| panic!("no uncompressed entry in\n{release}"))
        .split_whitespace()
        .collect();
    let size = open.len().to_string();
    let digest = hex::encode(Sha256::digest(&open));
    assert_eq!(listed[..2], [digest.as_str(), size.as_str()]);
    // Rendered again from the cache: the same bytes.
    assert_eq!(format.render(&t, &packages(), None, now()).unwrap(), files);
}
