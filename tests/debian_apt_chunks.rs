//! `Packages.gz` made of many gzip members (src/formats/chunks.rs) against real `apt-get`: a suite of
//! 3,000 packages rendered with the default compressions (`.gz` only, no uncompressed `Packages`
//! uploaded) and a chunk cache, served over HTTP on 127.0.0.1; apt reads every member (the last
//! package resolves), and after one package changes, the republished `Packages.gz` keeps the other
//! members byte for byte and apt sees the new version.

#[path = "support/debian_tools.rs"]
#[allow(dead_code)] // shared with tests that build and download packages; this one only resolves
mod debian_tools;

use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use buildmaster::formats::debian::DebianFormat;
use buildmaster::formats::signing::{generate_ed25519_armored, OpenPgpSigner};
use buildmaster::formats::{
    DebianSettings, FormatSettings, IndexedPackage, InspectedPackage, RepositoryFormat, RepositoryTarget,
};
use debian_tools::{output_text, require_tool, Apt, HttpServer};

const CODENAME: &str = "chunks";
const PACKAGES: usize = 3000;

/// Package `i` at `version`: an index entry only (apt resolves from the index; nothing is installed).
fn package(i: usize, version: &str) -> IndexedPackage {
    let name = format!("bm-chunk-{i:05}");
    let sha256 = format!("{i:064x}");
    let entry = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
         Section: misc\nPriority: optional\nDescription: chunk test package {i}\n \
         {}\nSize: 1000\nSHA256: {sha256}\n",
        "Long description text of a synthetic package, repeated to give stanzas a realistic size. ".repeat(4)
    );
    let file_name = format!("{name}_{version}_all.deb");
    IndexedPackage {
        href: format!("pool/main/{file_name}"),
        package: InspectedPackage {
            name,
            version: version.into(),
            architecture: "all".into(),
            size: 1000,
            sha256,
            file_name,
            entry,
        },
    }
}

fn target() -> RepositoryTarget {
    RepositoryTarget {
        id: "debian-chunks".into(),
        // `compressions` left to its default, as a configuration file would.
        settings: FormatSettings::Debian(
            toml::from_str::<DebianSettings>(&format!(
                "codename = \"{CODENAME}\"\narchitectures = [\"amd64\"]\n"
            ))
            .unwrap(),
        ),
    }
}

fn publish(format: &DebianFormat, root: &Path, packages: &[IndexedPackage], signer: &OpenPgpSigner) {
    for file in format
        .render(&target(), packages, Some(signer), SystemTime::now())
        .unwrap()
    {
        let path = root.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.bytes).unwrap();
    }
}

fn packages_gz(root: &Path) -> Vec<u8> {
    std::fs::read(root.join(format!("dists/{CODENAME}/main/binary-all/Packages.gz"))).unwrap()
}

#[test]
fn apt_reads_every_member_of_a_chunked_packages_gz_and_sees_a_changed_package() {
    for tool in ["apt-get", "gpgv"] {
        require_tool(tool);
    }
    let work = tempfile::tempdir().unwrap();
    let format = DebianFormat::with_cache(work.path().join("cache"));
    let key_file = work.path().join("key.asc");
    std::fs::write(
        &key_file,
        generate_ed25519_armored("t <t@example.invalid>").unwrap(),
    )
    .unwrap();
    let signer = OpenPgpSigner::from_file(&key_file).unwrap();
    let public = work.path().join("key.gpg");
    std::fs::write(&public, signer.public_key_binary().unwrap()).unwrap();

    let root = work.path().join("www");
    let mut packages: Vec<IndexedPackage> = (0..PACKAGES).map(|i| package(i, "1.0")).collect();
    publish(&format, &root, &packages, &signer);
    let dir = root.join(format!("dists/{CODENAME}/main/binary-all"));
    assert!(dir.join("Packages.gz").exists());
    assert!(!dir.join("Packages").exists() && !dir.join("Packages.xz").exists());
    let before = packages_gz(&root);
    let (mut first_member, mut all) = (String::new(), String::new());
    flate2::read::GzDecoder::new(&before[..])
        .read_to_string(&mut first_member)
        .unwrap();
    flate2::read::MultiGzDecoder::new(&before[..])
        .read_to_string(&mut all)
        .unwrap();
    assert!(
        first_member.len() * 10 < all.len(),
        "one member holds {} of {} bytes: not chunked",
        first_member.len(),
        all.len()
    );
    let release = std::fs::read_to_string(root.join(format!("dists/{CODENAME}/Release"))).unwrap();
    assert!(release.contains(" main/binary-all/Packages\n"), "{release}");

    let server = HttpServer::serve(&root);
    let apt = Apt::new(&work.path().join("apt"), &server.url, CODENAME, &public);
    let update = apt.run(&["update"]);
    let text = output_text(&update);
    assert!(update.status.success(), "{text}");
    assert!(!text.contains("Err:") && !text.contains("\nW:"), "{text}");
    let install = apt.run(&[
        "install",
        "-s",
        "bm-chunk-00000",
        "bm-chunk-01500",
        "bm-chunk-02999",
    ]);
    let text = output_text(&install);
    assert!(install.status.success(), "{text}");
    for name in ["bm-chunk-00000", "bm-chunk-01500", "bm-chunk-02999"] {
        assert!(text.contains(&format!("Inst {name} (1.0 ")), "{text}");
    }

    // One package replaced: every member but its own is reused, so the two files share all but a
    // small middle part.
    packages[1500] = package(1500, "2.0");
    publish(&format, &root, &packages, &signer);
    let after = packages_gz(&root);
    let prefix = before.iter().zip(&after).take_while(|(a, b)| a == b).count();
    let suffix = before
        .iter()
        .rev()
        .zip(after.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        (before.len() - prefix - suffix) * 5 < before.len(),
        "{} of {} bytes differ",
        before.len() - prefix - suffix,
        before.len()
    );
    let update = apt.run(&["update"]);
    assert!(update.status.success(), "{}", output_text(&update));
    let install = apt.run(&["install", "-s", "bm-chunk-01500", "bm-chunk-02999"]);
    let text = output_text(&install);
    assert!(text.contains("Inst bm-chunk-01500 (2.0 "), "{text}");
    assert!(text.contains("Inst bm-chunk-02999 (1.0 "), "{text}");
}
