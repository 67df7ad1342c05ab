//! Debian and RPM recipe trees whose packages need an upstream tarball from the source cache, for
//! tests/sources_rpm_debian.rs and tests/buildrun_sources.rs: the tarball itself, an RPM dist-git
//! directory `hello-src` naming it in its `sources` file, and a Debian `3.0 (quilt)` package
//! `greet-up` pinning it in `debian/source/orig-checksums` (with a patch of its own).

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha512};

/// What the upstream tarballs hold, and the packages built from them install.
pub const GREETING: &str = "Hello from the upstream tarball\n";

/// Lowercase hex SHA-512 of `bytes`, as a dist-git `sources` file writes it.
pub fn sha512(bytes: &[u8]) -> String {
    hex::encode(Sha512::digest(bytes))
}

/// A gzip'd tar of `top/<name>` holding `content` (what upstream publishes).
pub fn upstream_tarball(scratch: &Path, top: &str, name: &str, content: &str) -> Vec<u8> {
    let staging = scratch.join(format!("upstream-{:08x}", fastrand::u32(..)));
    std::fs::create_dir_all(staging.join(top)).unwrap();
    std::fs::write(staging.join(top).join(name), content).unwrap();
    let out = Command::new("tar")
        .arg("-C")
        .arg(&staging)
        .args(["--owner=0", "--group=0", "-czf", "-", top])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// An RPM dist-git directory `hello-src` in `tree`: a spec whose Source0 is `hello-src-1.0.tar.gz`
/// (unpacked by %setup, its greeting installed) and a `sources` file naming it by `sha512`.
pub fn rpm_tree(tree: &Path, sha512: &str) {
    let dir = tree.join("hello-src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("hello-src.spec"),
        "Name:           hello-src\nVersion:        1.0\nRelease:        1\n\
         Summary:        A package whose source is a lookaside archive\nLicense:        MIT\n\
         BuildArch:      noarch\nSource0:        hello-src-1.0.tar.gz\n\n\
         %description\nInstalls the upstream tarball's greeting.\n\n\
         %prep\n%setup -q\n\n%build\n\n\
         %install\ninstall -D -m 0644 greeting %{buildroot}/usr/share/hello-src/greeting\n\n\
         %files\n/usr/share/hello-src/greeting\n\n\
         %changelog\n* Sun Dec 06 2026 Buildmaster Tests <tests@buildmaster.invalid> - 1.0-1\n- First package.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sources"),
        format!("SHA512 (hello-src-1.0.tar.gz) = {sha512}\n"),
    )
    .unwrap();
}

/// A Debian `3.0 (quilt)` source package `greet-up` in `tree` (the packaging only) pinning
/// `greet-up_1.0.orig.tar.gz` by `sha256` and `size`; its patch appends a line to upstream's file.
pub fn debian_tree(tree: &Path, sha256: &str, size: usize) {
    let dir = tree.join("greet-up");
    std::fs::create_dir_all(dir.join("debian/source")).unwrap();
    std::fs::create_dir_all(dir.join("debian/patches")).unwrap();
    let files = [
        (
            "debian/changelog",
            "greet-up (1.0-1) bookworm; urgency=medium\n\n  * Test package with an upstream tarball.\n\n \
             -- Buildmaster Tests <tests@example.invalid>  Sun, 06 Dec 2026 12:00:00 +0000\n"
                .to_owned(),
        ),
        (
            "debian/control",
            "Source: greet-up\nSection: misc\nPriority: optional\n\
             Maintainer: Buildmaster Tests <tests@example.invalid>\nBuild-Depends: dpkg-dev (>= 1.20)\n\
             Rules-Requires-Root: no\nStandards-Version: 4.6.2\n\n\
             Package: greet-up\nArchitecture: all\nDescription: upstream's greeting, patched\n \
             Installs /usr/share/greet-up/greeting from the .orig tarball.\n"
                .to_owned(),
        ),
        (
            "debian/rules",
            "#!/usr/bin/make -f\nPKG := greet-up\nDEST := debian/$(PKG)\n\n\
             build build-arch build-indep:\n\ttest -s greeting\n\n\
             binary binary-arch binary-indep: build\n\trm -rf $(DEST)\n\
             \tinstall -D -m 644 greeting $(DEST)/usr/share/greet-up/greeting\n\
             \tinstall -d $(DEST)/DEBIAN\n\tdpkg-gencontrol -p$(PKG) -P$(DEST)\n\
             \tdpkg-deb --root-owner-group --build $(DEST) ..\n\n\
             clean:\n\trm -rf $(DEST) debian/files\n\n\
             .PHONY: build build-arch build-indep binary binary-arch binary-indep clean\n"
                .to_owned(),
        ),
        ("debian/source/format", "3.0 (quilt)\n".to_owned()),
        (
            "debian/source/orig-checksums",
            format!("Checksums-Sha256:\n {sha256} {size} greet-up_1.0.orig.tar.gz\n"),
        ),
        ("debian/patches/series", "patched.diff\n".to_owned()),
        (
            "debian/patches/patched.diff",
            "Description: say that Debian patched it\n--- a/greeting\n+++ b/greeting\n@@ -1 +1,2 @@\n \
             Hello from the upstream tarball\n+patched by debian/patches\n"
                .to_owned(),
        ),
    ];
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    let rules = dir.join("debian/rules");
    let status = Command::new("chmod").arg("+x").arg(&rules).status().unwrap();
    assert!(status.success());
}

/// The file at `inside` of `package` (an .rpm or a .deb), extracted under `scratch`.
pub fn file_in_package(package: &Path, inside: &str, scratch: &Path) -> String {
    std::fs::create_dir_all(scratch).unwrap();
    // rpm2archive writes FILE.tgz beside FILE, so it works on a copy in the scratch directory.
    let script = if package.extension().is_some_and(|e| e == "rpm") {
        "cp \"$1\" \"$2/p.rpm\" && rpm2archive \"$2/p.rpm\" && tar -xzf \"$2/p.rpm.tgz\" -C \"$2\""
    } else {
        "dpkg-deb -x \"$1\" \"$2\""
    };
    let out = Command::new("sh")
        .args(["-c", script, "extract"])
        .arg(package)
        .arg(scratch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(scratch.join(inside)).unwrap()
}
