//! Logic tests of the RPM format on synthetic entries (no rpmbuild needed); real packages and real
//! dnf are exercised in tests/rpm_dnf.rs.

use std::io::Read;
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::entry::{Changelog, Dep, DepFlag, FileKind, PackageFile, RpmEntry, ENTRY_VERSION};
use super::vercmp::split_evr;
use super::*;
use crate::formats::{IndexRole, RpmSettings};

fn dep(name: &str, flag: Option<DepFlag>, evr: &str) -> Dep {
    let (epoch, ver, rel) = split_evr(evr);
    Dep {
        name: name.into(),
        flags: flag,
        epoch,
        ver,
        rel,
        pre: false,
    }
}

pub(super) fn entry(name: &str, version: &str) -> RpmEntry {
    RpmEntry {
        v: ENTRY_VERSION,
        name: name.into(),
        epoch: 0,
        version: version.into(),
        release: "1".into(),
        arch: "noarch".into(),
        summary: format!("{name} <summary> & more"),
        description: "desc".into(),
        packager: String::new(),
        url: String::new(),
        license: "MIT".into(),
        vendor: String::new(),
        group: "Unspecified".into(),
        buildhost: "builder".into(),
        sourcerpm: format!("{name}-{version}-1.src.rpm"),
        build_time: 1_700_000_000,
        installed_size: 10,
        archive_size: 100,
        header_start: 4504,
        header_end: 6000,
        provides: vec![dep(name, Some(DepFlag::EQ), &format!("{version}-1"))],
        requires: vec![],
        conflicts: vec![],
        obsoletes: vec![],
        recommends: vec![],
        suggests: vec![],
        supplements: vec![],
        enhances: vec![],
        files: vec![
            PackageFile {
                path: format!("/usr/share/{name}"),
                kind: FileKind::Dir,
            },
            PackageFile {
                path: format!("/usr/share/{name}/data.txt"),
                kind: FileKind::File,
            },
        ],
        changelogs: vec![Changelog {
            author: "Jane <j@example.org> - 1.0-1".into(),
            date: 1_699_000_000,
            text: "- first".into(),
        }],
    }
}

pub(super) fn indexed(e: &RpmEntry) -> IndexedPackage {
    let sha256 = hex::encode(Sha256::digest(e.name.as_bytes()));
    IndexedPackage {
        package: InspectedPackage {
            name: e.name.clone(),
            version: format!("{}-{}", e.version, e.release),
            architecture: e.arch.clone(),
            size: 6100,
            sha256,
            file_name: format!("{}-{}-{}.{}.rpm", e.name, e.version, e.release, e.arch),
            entry: e.to_stored(),
        },
        href: format!("../../pool/{}.rpm", e.name),
    }
}

pub(super) fn target(arch: &str) -> RepositoryTarget {
    RepositoryTarget {
        id: format!("el-9-{arch}"),
        settings: FormatSettings::Rpm(RpmSettings {
            distro: "el".into(),
            release: "9".into(),
            arch: arch.into(),
        }),
    }
}

struct FakeSigner;
impl Sign for FakeSigner {
    fn clear_sign(&self, _text: &str) -> Result<String, FormatError> {
        Err(FormatError::Signing("not used for RPM".into()))
    }
    fn detached_sign(&self, data: &[u8]) -> Result<String, FormatError> {
        Ok(format!("SIG {}", hex::encode(Sha256::digest(data))))
    }
}

pub(super) fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("valid gzip");
    out
}

#[test]
fn render_names_data_by_digest_and_puts_the_signed_root_last() {
    let mut hello = entry("bm-hello", "1.0");
    hello.requires = vec![dep("bm-libgreet", Some(DepFlag::GE), "1.0")];
    let packages = [indexed(&hello), indexed(&entry("bm-libgreet", "1.2"))];
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let files = RpmFormat::default()
        .render(&target("x86_64"), &packages, Some(&FakeSigner), now)
        .expect("renders");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths.len(), 5);
    assert!(paths[0].ends_with("-primary.xml.gz"));
    assert!(paths[1].ends_with("-filelists.xml.gz"));
    assert!(paths[2].ends_with("-other.xml.gz"));
    assert_eq!(&paths[3..], ["repodata/repomd.xml", "repodata/repomd.xml.asc"]);
    assert!(files[..3].iter().all(|f| f.role == IndexRole::ContentAddressed));
    assert!(files[3..].iter().all(|f| f.role == IndexRole::Root));

    let repomd = std::str::from_utf8(&files[3].bytes).expect("utf-8");
    assert!(repomd.contains("<revision>1800000000</revision>"));
    for f in &files[..3] {
        let digest = hex::encode(Sha256::digest(&f.bytes));
        assert!(f.path.starts_with(&format!("repodata/{digest}-")), "{}", f.path);
        assert!(repomd.contains(&format!("<checksum type=\"sha256\">{digest}</checksum>")));
        assert!(repomd.contains(&format!("<location href=\"{}\"/>", f.path)));
        let open = gunzip(&f.bytes);
        let open_digest = hex::encode(Sha256::digest(open.as_bytes()));
        assert!(repomd.contains(&format!(
            "<open-checksum type=\"sha256\">{open_digest}</open-checksum>"
        )));
        assert!(repomd.contains(&format!("<open-size>{}</open-size>", open.len())));
    }
    assert_eq!(
        std::str::from_utf8(&files[4].bytes).expect("utf-8"),
        format!("SIG {}", hex::encode(Sha256::digest(repomd.as_bytes())))
    );

    let primary = gunzip(&files[0].bytes);
    assert!(primary.contains("packages=\"2\""));
    assert!(primary.contains("<location href=\"../../pool/bm-hello.rpm\"/>"));
    assert!(primary.contains("<summary>bm-hello &lt;summary&gt; &amp; more</summary>"));
    assert!(primary.contains("<rpm:entry name=\"bm-libgreet\" flags=\"GE\" epoch=\"0\" ver=\"1.0\"/>"));
    assert!(primary.contains("<rpm:header-range start=\"4504\" end=\"6000\"/>"));
    // Files outside /etc and */bin/ stay out of primary.
    assert!(!primary.contains("data.txt"));
    let filelists = gunzip(&files[1].bytes);
    assert!(filelists.contains("<file type=\"dir\">/usr/share/bm-hello</file>"));
    assert!(filelists.contains("<file>/usr/share/bm-hello/data.txt</file>"));
    let other = gunzip(&files[2].bytes);
    assert!(other.contains(
        "<changelog author=\"Jane &lt;j@example.org&gt; - 1.0-1\" date=\"1699000000\">- first</changelog>"
    ));
}

#[test]
fn render_is_deterministic_and_unsigned_has_no_asc() {
    let a = [indexed(&entry("b", "1")), indexed(&entry("a", "1"))];
    let b = [a[1].clone(), a[0].clone()];
    let now = UNIX_EPOCH + Duration::from_secs(5);
    let one = RpmFormat::default()
        .render(&target("x86_64"), &a, None, now)
        .expect("renders");
    let two = RpmFormat::default()
        .render(&target("x86_64"), &b, None, now)
        .expect("renders");
    assert_eq!(one, two);
    assert_eq!(one.last().map(|f| f.path.as_str()), Some("repodata/repomd.xml"));
}

#[test]
fn render_refuses_a_debian_target_and_a_foreign_entry() {
    let debian = RepositoryTarget {
        id: "deb".into(),
        settings: FormatSettings::Debian(crate::formats::DebianSettings {
            codename: "bookworm".into(),
            suite: None,
            components: vec!["main".into()],
            architectures: vec!["amd64".into()],
            origin: None,
            compressions: vec![crate::formats::DebianCompression::Gz],
        }),
    };
    let err = RpmFormat::default()
        .render(&debian, &[], None, UNIX_EPOCH)
        .expect_err("not an RPM repository");
    assert!(matches!(err, FormatError::Settings { .. }), "{err}");

    let mut bad = indexed(&entry("a", "1"));
    bad.package.entry = "Package: a\nVersion: 1\n".into();
    let err = RpmFormat::default()
        .render(&target("x86_64"), &[bad], None, UNIX_EPOCH)
        .expect_err("not an RPM entry");
    assert!(matches!(err, FormatError::Entry { .. }), "{err}");
}

#[test]
fn accepts_own_arch_and_noarch() {
    assert!(RpmFormat::default().accepts(&target("x86_64"), "x86_64"));
    assert!(RpmFormat::default().accepts(&target("x86_64"), "noarch"));
    assert!(!RpmFormat::default().accepts(&target("x86_64"), "aarch64"));
    assert!(RpmFormat::default().is_arch_independent("noarch"));
    assert!(!RpmFormat::default().is_arch_independent("x86_64"));
}

#[test]
fn check_resolves_versions_files_and_base() {
    let mut hello = entry("bm-hello", "1.0");
    hello.requires = vec![
        dep("bm-libgreet", Some(DepFlag::GE), "1.0"),
        dep("/usr/share/bm-libgreet/data.txt", None, ""),
        dep("glibc", None, ""),
        dep("(foo or bar)", None, ""),
    ];
    let libgreet = entry("bm-libgreet", "1.2");
    let glibc = entry("glibc", "2.34");
    let unresolved = RpmFormat::default()
        .check(&[indexed(&hello), indexed(&libgreet)], &[indexed(&glibc)])
        .expect("checks");
    assert_eq!(unresolved, vec![]);

    // Too old a provider (its file still satisfies the file dependency), and nothing in base.
    let old = entry("bm-libgreet", "0.9");
    let unresolved = RpmFormat::default()
        .check(&[indexed(&hello), indexed(&old)], &[])
        .expect("checks");
    let deps: Vec<&str> = unresolved.iter().map(|u| u.dependency.as_str()).collect();
    assert_eq!(deps, ["bm-libgreet >= 1.0", "glibc"]);
    assert_eq!(unresolved[0].package, "bm-hello_1.0-1_noarch");
}

#[test]
fn check_uses_the_implicit_self_provide() {
    let mut lib = entry("lib", "2.0");
    lib.provides.clear();
    let mut app = entry("app", "1");
    app.requires = vec![dep("lib", Some(DepFlag::EQ), "2.0-1")];
    let unresolved = RpmFormat::default()
        .check(&[indexed(&app), indexed(&lib)], &[])
        .expect("checks");
    assert!(unresolved.is_empty(), "{unresolved:?}");
}

#[test]
fn inspect_refuses_garbage_and_truncated_files_without_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, Vec<u8>)] = &[
        ("empty.rpm", Vec::new()),
        ("text.rpm", b"this is not an rpm at all".repeat(10)),
        // A valid lead magic followed by garbage.
        ("lead.rpm", {
            let mut v = vec![0xed, 0xab, 0xee, 0xdb, 3, 0, 0, 1];
            v.resize(96, 0);
            v.extend_from_slice(&[0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
            v.extend_from_slice(&[0xff; 8]);
            v
        }),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = RpmFormat::default().inspect(&path).expect_err("not a package");
        assert!(
            matches!(err, FormatError::Invalid { format: "rpm", .. }),
            "{name}: {err}"
        );
    }
    let err = RpmFormat::default()
        .inspect(&dir.path().join("missing.rpm"))
        .expect_err("missing");
    assert!(matches!(err, FormatError::Io { .. }), "{err}");
}
