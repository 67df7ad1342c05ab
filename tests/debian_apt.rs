//! Debian repositories against Debian's own tools: packages made by `dpkg-deb --build`, inspected and
//! rendered by [`DebianFormat`], signed by [`OpenPgpSigner`], served over HTTP on 127.0.0.1, and read
//! by real `apt-get` (private state; `update`, `download`, `install -s` — the host's dpkg database is
//! never touched). Also apt's own refusals: a tampered `Packages`, a repository signed by a key it was
//! not given; and keys made by `gpg` loading into the signer.

#[path = "support/debian_tools.rs"]
mod debian_tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use buildmaster::formats::debian::version::Version;
use buildmaster::formats::debian::DebianFormat;
use buildmaster::formats::signing::{generate_ed25519_armored, OpenPgpSigner, SigningKeyError};
use buildmaster::formats::{
    DebianCompression, DebianSettings, FormatSettings, IndexedPackage, RepositoryFormat, RepositoryTarget,
    Sign,
};
use debian_tools::{build_deb, host_architecture, output_text, require_tool, Apt, HttpServer};
use sha2::{Digest, Sha256};

const CODENAME: &str = "bm";

/// Two packages built by dpkg-deb: `bm-hello` (host architecture, zstd) depends on
/// `bm-libgreet (>= 1.0)` (`all`, gzip). Returns them inspected, with pool hrefs, and their files.
fn test_packages(dir: &Path) -> Vec<(IndexedPackage, PathBuf)> {
    let arch = host_architecture();
    let hello = build_deb(
        dir,
        &format!(
            "Package: bm-hello\nVersion: 1:2.0-1\nArchitecture: {arch}\nMaintainer: T <t@example.invalid>\n\
             Depends: bm-libgreet (>= 1.0)\nSection: misc\nPriority: optional\n\
             Description: says hello\n A test package for buildmaster.\n"
        ),
        "zstd",
    );
    let greet = build_deb(
        dir,
        "Package: bm-libgreet\nVersion: 1.2+git1-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
         Section: libs\nPriority: optional\nDescription: greetings\n Shared by every architecture.\n",
        "gzip",
    );
    [hello, greet]
        .into_iter()
        .map(|file| {
            let package = DebianFormat::default().inspect(&file).unwrap();
            let href = format!("pool/main/{}/{}", package.name, package.file_name);
            (IndexedPackage { package, href }, file)
        })
        .collect()
}

fn target() -> RepositoryTarget {
    RepositoryTarget {
        id: "debian-test".into(),
        settings: FormatSettings::Debian(DebianSettings {
            codename: CODENAME.into(),
            suite: None,
            components: vec!["main".into()],
            architectures: vec![host_architecture()],
            origin: Some("buildmaster-test".into()),
            // Every form, so that the tampering tests below reach each one.
            compressions: vec![
                DebianCompression::None,
                DebianCompression::Gz,
                DebianCompression::Xz,
            ],
        }),
    }
}

/// Writes the rendered index set and the pool files at their hrefs under `root`.
fn publish(root: &Path, packages: &[(IndexedPackage, PathBuf)], signer: Option<&dyn Sign>) {
    let indexed: Vec<IndexedPackage> = packages.iter().map(|(p, _)| p.clone()).collect();
    let files = DebianFormat::default()
        .render(&target(), &indexed, signer, SystemTime::now())
        .unwrap();
    for file in files {
        let path = root.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.bytes).unwrap();
    }
    for (package, file) in packages {
        let path = root.join(&package.href);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(file, path).unwrap();
    }
}

/// A fresh signer and its public key as a binary keyring file for `signed-by=`.
fn signer_and_key(dir: &Path, name: &str) -> (OpenPgpSigner, PathBuf) {
    let key_file = dir.join(format!("{name}.asc"));
    std::fs::write(
        &key_file,
        generate_ed25519_armored(&format!("{name} <{name}@example.invalid>")).unwrap(),
    )
    .unwrap();
    let signer = OpenPgpSigner::from_file(&key_file).unwrap();
    let public = dir.join(format!("{name}.gpg"));
    std::fs::write(&public, signer.public_key_binary().unwrap()).unwrap();
    (signer, public)
}

fn require_tools() {
    for tool in ["apt-get", "dpkg-deb", "dpkg", "gpgv"] {
        require_tool(tool);
    }
}

#[test]
fn apt_updates_downloads_and_resolves_dependencies_from_a_signed_repository() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    let packages = test_packages(work.path());
    let (hello, greet) = (&packages[0].0.package, &packages[1].0.package);
    assert_eq!(
        (hello.name.as_str(), hello.version.as_str()),
        ("bm-hello", "1:2.0-1")
    );
    assert_eq!(
        hello.file_name,
        format!("bm-hello_2.0-1_{}.deb", host_architecture())
    );
    assert_eq!(greet.file_name, "bm-libgreet_1.2+git1-1_all.deb");
    for (p, file) in &packages {
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(p.package.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(p.package.size, bytes.len() as u64);
    }
    let indexed: Vec<IndexedPackage> = packages.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(DebianFormat::default().check(&indexed, &[]).unwrap(), []);
    let missing = DebianFormat::default().check(&indexed[..1], &[]).unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].dependency, "bm-libgreet (>= 1.0)");

    let root = work.path().join("www");
    let (signer, public) = signer_and_key(work.path(), "repo");
    publish(&root, &packages, Some(&signer));
    let server = HttpServer::serve(&root);
    let apt = Apt::new(&work.path().join("apt"), &server.url, CODENAME, &public);

    let update = apt.run(&["update"]);
    let text = output_text(&update);
    eprintln!("apt-get update:\n{text}");
    assert!(update.status.success(), "{text}");
    assert!(
        !text.contains("\nW:") && !text.contains("\nE:") && !text.contains("Err:"),
        "{text}"
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == &format!("/dists/{CODENAME}/InRelease")),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.ends_with("/Release.gpg")),
        "{requests:?}"
    );
    // Indexes come by hash, binary-all included.
    for dir in [format!("binary-{}", host_architecture()), "binary-all".into()] {
        assert!(
            requests
                .iter()
                .any(|r| r.contains(&format!("/main/{dir}/by-hash/SHA256/"))),
            "{dir} not fetched by hash: {requests:?}"
        );
    }

    let download = apt.run(&["download", "bm-hello", "bm-libgreet"]);
    assert!(download.status.success(), "{}", output_text(&download));
    for (p, file) in &packages {
        // apt names downloads name_version_arch.deb with the epoch's ':' quoted as %3a.
        let got = std::fs::read_dir(apt.download_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{}_", p.package.name))
            })
            .unwrap_or_else(|| panic!("{} not downloaded", p.package.name));
        assert_eq!(std::fs::read(got).unwrap(), std::fs::read(file).unwrap());
    }

    let install = apt.run(&["install", "-s", "bm-hello"]);
    let text = output_text(&install);
    eprintln!("apt-get install -s bm-hello:\n{text}");
    assert!(install.status.success(), "{text}");
    assert!(
        text.contains("Inst bm-libgreet (1.2+git1-1 buildmaster-test:bm [all])"),
        "{text}"
    );
    assert!(
        text.contains("Inst bm-hello (1:2.0-1 buildmaster-test:bm"),
        "{text}"
    );
}

#[test]
fn apt_falls_back_to_release_and_release_gpg_without_inrelease() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    let packages = test_packages(work.path());
    let root = work.path().join("www");
    let (signer, public) = signer_and_key(work.path(), "repo");
    publish(&root, &packages, Some(&signer));
    std::fs::remove_file(root.join(format!("dists/{CODENAME}/InRelease"))).unwrap();
    let server = HttpServer::serve(&root);
    let apt = Apt::new(&work.path().join("apt"), &server.url, CODENAME, &public);
    let update = apt.run(&["update"]);
    assert!(update.status.success(), "{}", output_text(&update));
    assert!(server.requests().iter().any(|r| r.ends_with("/Release.gpg")));
    let install = apt.run(&["install", "-s", "bm-hello"]);
    assert!(
        output_text(&install).contains("Inst bm-hello"),
        "{}",
        output_text(&install)
    );
}

#[test]
fn apt_refuses_a_tampered_packages_file() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    let packages = test_packages(work.path());
    let root = work.path().join("www");
    let (signer, public) = signer_and_key(work.path(), "repo");
    publish(&root, &packages, Some(&signer));
    let server = HttpServer::serve(&root);
    let dir = root.join(format!("dists/{CODENAME}/main/binary-all"));
    let copies = |dir: &Path| -> Vec<PathBuf> {
        let by_hash = std::fs::read_dir(dir.join("by-hash/SHA256")).unwrap();
        by_hash
            .map(|e| e.unwrap().path())
            .chain(["Packages", "Packages.gz", "Packages.xz"].map(|n| dir.join(n)))
            .collect()
    };

    // 1. One bit changed in every copy of the `all` index (plain, compressed, by-hash): same
    //    size, so only the SHA-256 signed into InRelease can tell.
    let originals: Vec<(PathBuf, Vec<u8>)> = copies(&dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    for (path, bytes) in &originals {
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        std::fs::write(path, flipped).unwrap();
    }
    let apt = Apt::new(&work.path().join("apt-flip"), &server.url, CODENAME, &public);
    let update = apt.run(&["update"]);
    let text = output_text(&update);
    eprintln!("apt-get update (one bit flipped in every copy of binary-all/Packages*):\n{text}");
    assert!(!update.status.success(), "{text}");
    assert!(text.contains("Hash Sum mismatch"), "{text}");

    // 2. The index rewritten by someone with bucket access but not the key: a changed version,
    //    recompressed, in every copy.
    let tampered = String::from_utf8(
        originals
            .iter()
            .find(|(p, _)| p.ends_with("Packages"))
            .unwrap()
            .1
            .clone(),
    )
    .unwrap()
    .replace("Version: 1.2+git1-1", "Version: 9.9");
    let xz = xz_cli(tampered.as_bytes());
    for path in copies(&dir) {
        let bytes = if path.ends_with("Packages") {
            tampered.as_bytes()
        } else {
            &xz[..]
        };
        std::fs::write(path, bytes).unwrap();
    }
    let apt = Apt::new(&work.path().join("apt-rewrite"), &server.url, CODENAME, &public);
    let update = apt.run(&["update"]);
    let text = output_text(&update);
    eprintln!("apt-get update (binary-all/Packages rewritten):\n{text}");
    assert!(!update.status.success(), "{text}");
    assert!(
        text.contains("Hash Sum mismatch") || text.contains("File has unexpected size"),
        "{text}"
    );
    let install = apt.run(&["install", "-s", "bm-hello"]);
    assert!(!install.status.success(), "{}", output_text(&install));
}

/// `xz` from the command line (the test does not depend on the crate the format uses).
fn xz_cli(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("xz")
        .args(["-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[test]
fn apt_refuses_a_repository_signed_by_another_key() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    let packages = test_packages(work.path());
    let root = work.path().join("www");
    let (signer, _) = signer_and_key(work.path(), "repo");
    let (_, other_public) = signer_and_key(work.path(), "other");
    publish(&root, &packages, Some(&signer));
    let server = HttpServer::serve(&root);
    let apt = Apt::new(&work.path().join("apt"), &server.url, CODENAME, &other_public);
    let update = apt.run(&["update"]);
    let text = output_text(&update);
    eprintln!("apt-get update (signed by another key):\n{text}");
    assert!(!update.status.success(), "{text}");
    assert!(
        text.contains(&format!("NO_PUBKEY {}", &signer.fingerprint()[24..])),
        "{text}"
    );
    assert!(text.contains("is not signed"), "{text}");
}

/// The fact the renderer relies on: apt reads `binary-all` only when `Release` lists `all` in
/// `Architectures:` — without it, the `all` dependency is not found.
#[test]
fn binary_all_is_read_only_when_release_lists_all() {
    require_tools();
    let work = tempfile::tempdir().unwrap();
    let packages = test_packages(work.path());
    let root = work.path().join("www");
    let (signer, public) = signer_and_key(work.path(), "repo");
    publish(&root, &packages, Some(&signer));
    let dists = root.join(format!("dists/{CODENAME}"));
    let release = std::fs::read_to_string(dists.join("Release")).unwrap();
    let without_all = release.replace(" all\n", "\n");
    assert_ne!(release, without_all);
    std::fs::write(dists.join("InRelease"), signer.clear_sign(&without_all).unwrap()).unwrap();

    let server = HttpServer::serve(&root);
    let apt = Apt::new(&work.path().join("apt"), &server.url, CODENAME, &public);
    let update = apt.run(&["update"]);
    assert!(update.status.success(), "{}", output_text(&update));
    assert!(
        !server.requests().iter().any(|r| r.contains("binary-all")),
        "{:?}",
        server.requests()
    );
    let install = apt.run(&["install", "-s", "bm-hello"]);
    let text = output_text(&install);
    assert!(!install.status.success(), "{text}");
    assert!(text.contains("bm-libgreet"), "{text}");
}

/// Our ordering agrees with `dpkg --compare-versions` on generated versions full of the tricky
/// parts (epochs, `~`, `+`, letters, leading zeros, revisions).
#[test]
fn version_ordering_agrees_with_dpkg() {
    require_tool("dpkg");
    let pieces = [
        "0", "1", "01", "2", "10", ".", "~", "~~", "+", "a", "b", "rc", "-1", "-0", "-1~bpo", "-a",
    ];
    let mut rng = fastrand::Rng::with_seed(14);
    let make = |rng: &mut fastrand::Rng| {
        let mut v = if rng.bool() {
            format!("{}:", rng.u8(0..3))
        } else {
            String::new()
        };
        v.push_str(&rng.u8(0..3).to_string());
        for _ in 0..rng.usize(0..5) {
            v.push_str(pieces[rng.usize(..pieces.len())]);
        }
        v
    };
    let mut compared = 0;
    while compared < 300 {
        let (a, b) = (make(&mut rng), make(&mut rng));
        let (Ok(va), Ok(vb)) = (Version::parse(&a), Version::parse(&b)) else {
            continue;
        };
        let dpkg = |op: &str| {
            Command::new("dpkg")
                .args(["--compare-versions", &a, op, &b])
                .status()
                .unwrap()
                .success()
        };
        let want = if dpkg("lt") {
            std::cmp::Ordering::Less
        } else if dpkg("gt") {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        };
        assert_eq!(va.cmp(&vb), want, "{a} vs {b}");
        compared += 1;
    }
}

/// Keys as operators make them with gpg: RSA, and Ed25519 whose primary only certifies (a signing
/// subkey signs); both verify with gpgv. A passphrase-protected export is refused by name.
#[test]
fn gpg_made_keys_sign_what_gpgv_accepts() {
    require_tool("gpg");
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", output_text(&out));
        out.stdout
    };
    let fingerprint = |uid: &str| {
        let listing = String::from_utf8(gpg(&["--with-colons", "--list-keys", uid])).unwrap();
        listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .unwrap()
            .split(':')
            .nth(9)
            .unwrap()
            .to_owned()
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "rsa <rsa@example.invalid>",
        "rsa3072",
        "sign",
        "never",
    ]);
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "sub <sub@example.invalid>",
        "ed25519",
        "cert",
        "never",
    ]);
    let sub_fpr = fingerprint("sub@example.invalid");
    gpg(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &sub_fpr,
        "ed25519",
        "sign",
        "never",
    ]);
    gpg(&[
        "--passphrase",
        "secret",
        "--quick-gen-key",
        "locked <locked@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);

    for uid in ["rsa@example.invalid", "sub@example.invalid"] {
        let secret = gpg(&["--passphrase", "", "--armor", "--export-secret-keys", uid]);
        let key_file = work.path().join(format!("{uid}.asc"));
        std::fs::write(&key_file, secret).unwrap();
        let signer = OpenPgpSigner::from_file(&key_file).unwrap();
        assert_eq!(signer.fingerprint(), fingerprint(uid));
        let keyring = work.path().join(format!("{uid}.gpg"));
        std::fs::write(&keyring, signer.public_key_binary().unwrap()).unwrap();
        let inrelease = work.path().join("InRelease");
        std::fs::write(
            &inrelease,
            signer.clear_sign("Codename: bm\nSuite: bm\n").unwrap(),
        )
        .unwrap();
        let out = Command::new("gpgv")
            .arg("--keyring")
            .arg(&keyring)
            .arg(&inrelease)
            .output()
            .unwrap();
        assert!(out.status.success(), "{uid}: {}", output_text(&out));
    }

    let secret = gpg(&[
        "--passphrase",
        "secret",
        "--armor",
        "--export-secret-keys",
        "locked@example.invalid",
    ]);
    let key_file = work.path().join("locked.asc");
    std::fs::write(&key_file, secret).unwrap();
    let err = OpenPgpSigner::from_file(&key_file).unwrap_err();
    assert!(matches!(err, SigningKeyError::Protected { .. }), "{err}");
    assert!(err.to_string().contains("locked.asc"), "{err}");
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .status();
}
