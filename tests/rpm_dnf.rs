//! RPM repositories against real tools: packages made by `rpmbuild` (and signed by `rpmsign`),
//! inspected and rendered by the RPM format, served over HTTP on 127.0.0.1 with the packages in a
//! shared pool outside the repository (reached through `../` hrefs), and installed by real `dnf`
//! into a throwaway install root. `repomd.xml.asc` is made both by gpg and by buildmaster's own
//! `OpenPgpSigner`. Also dnf's own refusals: a package signed by a key it does not
//! trust, and a `repomd.xml.asc` by such a key.

#[path = "support/rpm_tools.rs"]
mod rpm_tools;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use buildmaster::formats::rpm::RpmFormat;
use buildmaster::formats::signing::{generate_ed25519_armored, OpenPgpSigner};
use buildmaster::formats::{
    FormatSettings, IndexedPackage, InspectedPackage, RepositoryFormat, RepositoryTarget, RpmSettings, Sign,
};
use rpm_tools::{dnf_install, require_tool, rpmbuild, GpgCliSigner, GpgKey, HttpServer, Spec, Trust};
use sha2::{Digest, Sha256};

/// The repository's root under the served directory, as a multi-repository bucket lays it out.
const REPO_DIR: &str = "el/9/x86_64";

fn tools() {
    for tool in ["rpmbuild", "rpmsign", "dnf", "gpg", "python3"] {
        require_tool(tool);
    }
}

/// Builds bm-libgreet 1.2 and bm-hello 1.0 (Requires: bm-libgreet >= 1.0).
fn build_packages(work: &Path) -> (PathBuf, PathBuf) {
    let top = work.join("rpmbuild");
    std::fs::create_dir_all(&top).expect("topdir");
    let lib = rpmbuild(
        &top,
        &Spec {
            name: "bm-libgreet",
            version: "1.2",
            preamble: "",
        },
    );
    let hello = rpmbuild(
        &top,
        &Spec {
            name: "bm-hello",
            version: "1.0",
            preamble: "Requires: bm-libgreet >= 1.0",
        },
    );
    (lib, hello)
}

fn target() -> RepositoryTarget {
    RepositoryTarget {
        id: "el-9-x86_64".into(),
        settings: FormatSettings::Rpm(RpmSettings {
            distro: "el".into(),
            release: "9".into(),
            arch: "x86_64".into(),
        }),
    }
}

/// Inspects `rpms`, puts each into `<served>/pool/rpm/<sha256>/<file name>` and renders the
/// repository at `<served>/el/9/x86_64` with hrefs that climb out of it into the pool.
fn publish(served: &Path, rpms: &[&Path], signer: Option<&dyn Sign>) -> Vec<IndexedPackage> {
    let format = RpmFormat::default();
    let mut packages = Vec::new();
    for rpm in rpms {
        let inspected = format.inspect(rpm).expect("inspect");
        let pool_key = format!("pool/rpm/{}/{}", inspected.sha256, inspected.file_name);
        let dest = served.join(&pool_key);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("pool dir");
        std::fs::copy(rpm, &dest).expect("copy into pool");
        let depth = REPO_DIR.split('/').count();
        packages.push(IndexedPackage {
            package: inspected,
            href: format!("{}{pool_key}", "../".repeat(depth)),
        });
    }
    let files = format
        .render(&target(), &packages, signer, SystemTime::now())
        .expect("render");
    let repo = served.join(REPO_DIR);
    for file in files {
        let dest = repo.join(&file.path);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("repodata dir");
        std::fs::write(dest, &file.bytes).expect("write index file");
    }
    packages
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn installed(work: &Path, name: &str) -> bool {
    work.join(format!("root/usr/share/{name}/{name}.txt")).is_file()
}

#[test]
fn inspection_reads_identity_checksum_header_range_and_dependencies() {
    tools();
    let work = tempfile::tempdir().expect("tempdir");
    let (lib, hello) = build_packages(work.path());
    let bytes = std::fs::read(&hello).expect("read");
    let p: InspectedPackage = RpmFormat::default().inspect(&hello).expect("inspect");
    assert_eq!(p.name, "bm-hello");
    assert_eq!(p.version, "1.0-1");
    assert_eq!(p.architecture, "noarch");
    assert_eq!(p.file_name, "bm-hello-1.0-1.noarch.rpm");
    assert_eq!(p.size, bytes.len() as u64);
    assert_eq!(p.sha256, hex::encode(Sha256::digest(&bytes)));
    let entry: serde_json::Value = serde_json::from_str(&p.entry).expect("entry is JSON");
    let (start, end) = (
        entry["header_start"].as_u64().expect("start") as usize,
        entry["header_end"].as_u64().expect("end") as usize,
    );
    // The range must point at the main header's magic, and end where the payload starts.
    assert_eq!(&bytes[start..start + 4], [0x8e, 0xad, 0xe8, 0x01]);
    let payload_magic = &bytes[end..end + 4];
    assert!(
        [
            &[0x1f, 0x8b][..],
            &[0xfd, b'7', b'z', b'X'][..],
            &[0x28, 0xb5, 0x2f, 0xfd][..]
        ]
        .iter()
        .any(|m| payload_magic.starts_with(m)),
        "no compressed payload at {end}: {payload_magic:02x?}"
    );
    let requires = entry["requires"].to_string();
    assert!(requires.contains("bm-libgreet"), "{requires}");
    assert!(!requires.contains("rpmlib("), "{requires}");

    // check: hello alone misses its library; with it, everything resolves.
    let lib = RpmFormat::default().inspect(&lib).expect("inspect lib");
    let as_indexed = |p: &InspectedPackage| IndexedPackage {
        package: p.clone(),
        href: p.file_name.clone(),
    };
    let alone = RpmFormat::default().check(&[as_indexed(&p)], &[]).expect("check");
    assert_eq!(alone.len(), 1, "{alone:?}");
    assert_eq!(alone[0].dependency, "bm-libgreet >= 1.0");
    let both = RpmFormat::default()
        .check(&[as_indexed(&p)], &[as_indexed(&lib)])
        .expect("check");
    assert!(both.is_empty(), "{both:?}");
}

#[test]
fn dnf_installs_from_an_unsigned_repository_through_pool_hrefs() {
    tools();
    let work = tempfile::tempdir().expect("tempdir");
    let (lib, hello) = build_packages(work.path());
    let served = work.path().join("served");
    let packages = publish(&served, &[&lib, &hello], None);
    assert!(packages.iter().all(|p| p.href.starts_with("../../../pool/rpm/")));
    assert!(!served.join(REPO_DIR).join("repodata/repomd.xml.asc").exists());
    let server = HttpServer::start(&served, &work.path().join("http.log"));

    let out = dnf_install(
        work.path(),
        &format!("{}/{REPO_DIR}/", server.url),
        &Trust {
            gpgcheck: false,
            repo_gpgcheck: false,
            key: None,
        },
        "bm-hello",
    );
    let text = output_text(&out);
    eprintln!("dnf:\n{text}\nrequests:\n{}", server.requests());
    assert!(out.status.success(), "dnf failed:\n{text}");
    assert!(installed(work.path(), "bm-hello"), "bm-hello files missing");
    assert!(installed(work.path(), "bm-libgreet"), "dependency not pulled in");
    // libcurl resolves the `../` segments before asking: the server saw pool paths.
    assert!(
        server.requests().contains("GET /pool/rpm/"),
        "{}",
        server.requests()
    );
}

#[test]
fn dnf_installs_signed_packages_from_a_signed_repository() {
    tools();
    let work = tempfile::tempdir().expect("tempdir");
    let (lib, hello) = build_packages(work.path());
    let key = GpgKey::generate(
        &work.path().join("gpg-trusted"),
        "BM Trusted <trusted@example.org>",
    );
    key.rpmsign(&lib);
    key.rpmsign(&hello);
    let served = work.path().join("served");
    publish(&served, &[&lib, &hello], Some(&GpgCliSigner(&key)));
    assert!(served.join(REPO_DIR).join("repodata/repomd.xml.asc").is_file());
    let server = HttpServer::start(&served, &work.path().join("http.log"));

    let out = dnf_install(
        work.path(),
        &format!("{}/{REPO_DIR}/", server.url),
        &Trust {
            gpgcheck: true,
            repo_gpgcheck: true,
            key: Some(&key.public_key),
        },
        "bm-hello",
    );
    let text = output_text(&out);
    eprintln!("dnf:\n{text}");
    assert!(out.status.success(), "dnf failed:\n{text}");
    assert!(installed(work.path(), "bm-hello"));
    assert!(installed(work.path(), "bm-libgreet"));
    // repo_gpgcheck really read our detached signature.
    assert!(server
        .requests()
        .contains("GET /el/9/x86_64/repodata/repomd.xml.asc"));
}

#[test]
fn dnf_verifies_repomd_signed_by_buildmasters_own_signer() {
    tools();
    let work = tempfile::tempdir().expect("tempdir");
    let (lib, hello) = build_packages(work.path());
    let armored = generate_ed25519_armored("BM Repository <repo@example.org>").expect("key");
    let signer = OpenPgpSigner::from_armored(Path::new("test-key.asc"), &armored).expect("signer");
    let public_key = work.path().join("repo-key.asc");
    std::fs::write(&public_key, signer.public_key_armored().expect("public key")).expect("write public key");
    let served = work.path().join("served");
    publish(&served, &[&lib, &hello], Some(&signer));
    let server = HttpServer::start(&served, &work.path().join("http.log"));

    let out = dnf_install(
        work.path(),
        &format!("{}/{REPO_DIR}/", server.url),
        &Trust {
            gpgcheck: false,
            repo_gpgcheck: true,
            key: Some(&public_key),
        },
        "bm-hello",
    );
    let text = output_text(&out);
    eprintln!("dnf:\n{text}");
    assert!(out.status.success(), "dnf failed:\n{text}");
    assert!(installed(work.path(), "bm-hello"));
    assert!(installed(work.path(), "bm-libgreet"));
    assert!(server
        .requests()
        .contains("GET /el/9/x86_64/repodata/repomd.xml.asc"));
}

#[test]
fn dnf_refuses_a_package_signed_by_an_untrusted_key() {
    tools();
    let work = tempfile::tempdir().expect("tempdir");
    let (lib, hello) = build_packages(work.path());
    let trusted = GpgKey::generate(
        &work.path().join("gpg-trusted"),
        "BM Trusted <trusted@example.org>",
    );
    let stranger = GpgKey::generate(
        &work.path().join("gpg-stranger"),
        "BM Stranger <stranger@example.org>",
    );
    trusted.rpmsign(&hello);
    stranger.rpmsign(&lib);
    let served = work.path().join("served");
    publish(&served, &[&lib, &hello], None);
    let server = HttpServer::start(&served, &work.path().join("http.log"));

    let out = dnf_install(
        work.path(),
        &format!("{}/{REPO_DIR}/", server.url),
        &Trust {
            gpgcheck: true,
            repo_gpgcheck: false,
            key: Some(&trusted.public_key),
        },
        "bm-hello",
    );
    let text = output_text(&out);
    eprintln!("dnf (expected to refuse):\n{text}");
    assert!(
        !out.status.success(),
        "dnf installed a package signed by an untrusted key:\n{text}"
    );
    assert!(
        text.contains("bm-libgreet-1.2-1.noarch.rpm") && text.contains("GPG check FAILED"),
        "not dnf's signature refusal:\n{text}"
    );
    assert!(!installed(work.path(), "bm-hello"));
    assert!(!installed(work.path(), "bm-libgreet"));
}

#[test]
fn dnf_refuses_repository_metadata_signed_by_an_untrusted_key() {
    tools();
    let work = tempfile::tempdir().expect("tempdir");
    let (lib, hello) = build_packages(work.path());
    let trusted = GpgKey::generate(
        &work.path().join("gpg-trusted"),
        "BM Trusted <trusted@example.org>",
    );
    let stranger = GpgKey::generate(
        &work.path().join("gpg-stranger"),
        "BM Stranger <stranger@example.org>",
    );
    let served = work.path().join("served");
    publish(&served, &[&lib, &hello], Some(&GpgCliSigner(&stranger)));
    let server = HttpServer::start(&served, &work.path().join("http.log"));

    let out = dnf_install(
        work.path(),
        &format!("{}/{REPO_DIR}/", server.url),
        &Trust {
            gpgcheck: false,
            repo_gpgcheck: true,
            key: Some(&trusted.public_key),
        },
        "bm-hello",
    );
    let text = output_text(&out);
    eprintln!("dnf (expected to refuse):\n{text}");
    assert!(
        !out.status.success(),
        "dnf accepted metadata signed by an untrusted key:\n{text}"
    );
    assert!(
        text.contains("repomd.xml GPG signature verification error"),
        "not dnf's metadata refusal:\n{text}"
    );
    assert!(!installed(work.path(), "bm-hello"));
}
