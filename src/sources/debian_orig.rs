//! The upstream tarballs of a Debian tree's source packages, as [`RecipeSource`]s of the cache.
//!
//! # The convention
//! A source package directory of the tree holds `debian/` and nothing of upstream's (git-buildpackage's
//! "overlay" layout: only the packaging is in git). A `3.0 (quilt)` (or `1.0` non-native) package
//! pins its upstream tarball(s) in `debian/source/orig-checksums`: one deb822 paragraph with a
//! `Checksums-Sha256` field written exactly as a `.dsc` carries it —
//!
//! ```text
//! Checksums-Sha256:
//!  <sha256> <size> <source>_<upstream version>.orig.tar.<gz|xz|bz2|lzma>
//!  <sha256> <size> <source>_<upstream version>.orig-<component>.tar.<ext>
//! ```
//!
//! Why this shape: it is what the Debian archive itself uses to pin an upstream tarball, so the lines
//! can be copied from (or checked against) the archive's `.dsc` of the same version, and the SHA-256
//! is directly the cache's key (no second digest to map). Why in the tree: the tree's revision then
//! fixes the bytes of every input of a build, as `CHECKSUM_SHA256` does for HaikuPorts and the
//! `sources` file for dist-git; `debian/watch` names where upstream publishes but pins nothing. The
//! file names must be the ones `dpkg-source` expects for the changelog's version (upstream part,
//! no epoch, no revision), so a stale pin after a version bump is an error, not a silent old tarball.
//!
//! They are fetched from a Debian archive's pool, `<archive>/pool/<component>/<prefix>/<source>/<file>`
//! (`<component>` from the source stanza's `Section` — `contrib/libs` is `contrib` — else `main`;
//! `<prefix>` is the source's first letter, or its first four for `lib*`), or added by hand with
//! `buildmaster sources add`. On the builder they are placed beside the source directory, and the
//! build unpacks them under the packaging before `dpkg-buildpackage` (docs/sources.md).

use std::path::Path;

use buildmaster_storage::Sha256Digest;

use super::error::SourceError;
use super::recipe::RecipeSource;
use crate::formats::debian::control::Stanza;
use crate::toolchains::debian::changelog::parse_head;

/// Where a source package pins its upstream tarballs, relative to its directory.
pub const ORIG_CHECKSUMS: &str = "debian/source/orig-checksums";

/// The field of [`ORIG_CHECKSUMS`] (and of a `.dsc`) that lists them.
const FIELD: &str = "Checksums-Sha256";

/// Compressions `dpkg-source` accepts for a `3.0 (quilt)` tarball.
const EXTENSIONS: [&str; 4] = ["gz", "xz", "bz2", "lzma"];

/// One pinned upstream tarball.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrigTarball {
    /// Its file name (`<source>_<upstream>.orig[-<component>].tar.<ext>`).
    pub file_name: String,
    /// The SHA-256 it must have.
    pub sha256: Sha256Digest,
    /// Its size in bytes, as the line gives it (the SHA-256 decides; the size is there for the
    /// `.dsc` shape).
    pub size: u64,
}

/// The pool directory of source `source` in the archive at `archive`, for `section` (`Section`).
pub fn pool_dir(archive: &str, section: Option<&str>, source: &str) -> String {
    let component = section
        .and_then(|s| s.split_once('/').map(|(component, _)| component))
        .unwrap_or("main");
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..source.chars().next().map_or(0, char::len_utf8)]
    };
    format!(
        "{}/pool/{component}/{prefix}/{source}",
        archive.trim_end_matches('/')
    )
}

/// Parses [`ORIG_CHECKSUMS`]' text for source `source` at upstream version `upstream`.
pub fn parse_orig_checksums(text: &str, source: &str, upstream: &str) -> Result<Vec<OrigTarball>, String> {
    let stanza = Stanza::parse(text)?;
    let value = stanza
        .get(FIELD)
        .ok_or_else(|| format!("no {FIELD} field (write it as a .dsc's)"))?;
    let mut out = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = |why: &str| format!("{FIELD} line {line:?}: {why}");
        let [hex, size, name] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            return Err(bad("not `<sha256> <size> <file>`"));
        };
        let sha256 = Sha256Digest::from_hex(&hex.to_ascii_lowercase())
            .filter(|_| hex.len() == 64)
            .ok_or_else(|| bad("not a SHA-256 (64 hex digits)"))?;
        let size = size.parse().map_err(|_| bad("the size is not a number"))?;
        if !is_orig_name(name, source, upstream) {
            return Err(bad(&format!(
                "dpkg-source looks for {source}_{upstream}.orig.tar.<ext> or \
                 {source}_{upstream}.orig-<component>.tar.<ext> (ext: {})",
                EXTENSIONS.join(", ")
            )));
        }
        out.push(OrigTarball {
            file_name: name.to_owned(),
            sha256,
            size,
        });
    }
    if out.is_empty() {
        return Err(format!("{FIELD} lists no tarball"));
    }
    Ok(out)
}

/// Whether `name` is an upstream tarball name of `source` at `upstream` (signatures, `.asc`, too).
fn is_orig_name(name: &str, source: &str, upstream: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{source}_{upstream}.orig")) else {
        return false;
    };
    let rest = rest.strip_suffix(".asc").unwrap_or(rest);
    let rest = match rest.strip_prefix('-') {
        Some(component) => match component.split_once(".tar.") {
            Some((c, ext))
                if !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') =>
            {
                ext
            }
            _ => return false,
        },
        None => match rest.strip_prefix(".tar.") {
            Some(ext) => ext,
            None => return false,
        },
    };
    EXTENSIONS.contains(&rest)
}

/// The upstream tarballs of source package directory `package` (relative to the tree at `tree`),
/// fetched from the archive at `archive` (`None`: no URI; they can only be added by hand). None
/// when the package pins none.
pub fn debian_sources(
    tree: &Path,
    package: &str,
    archive: Option<&str>,
) -> Result<Vec<RecipeSource>, SourceError> {
    let dir = tree.join(package);
    let fail = |message: String| SourceError::Recipe {
        port: package.to_owned(),
        message,
    };
    let read = |relative: &str| {
        let path = dir.join(relative);
        std::fs::read_to_string(&path).map_err(|e| (path, e))
    };
    let pins = match read(ORIG_CHECKSUMS) {
        Ok(text) => text,
        Err((_, e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err((path, e)) => return Err(fail(format!("reading {}: {e}", path.display()))),
    };
    let read_or_fail =
        |relative: &str| read(relative).map_err(|(path, e)| fail(format!("reading {}: {e}", path.display())));
    if read_or_fail("debian/source/format")?.trim() == "3.0 (native)" {
        return Err(fail(format!(
            "{ORIG_CHECKSUMS}: a 3.0 (native) package has no upstream tarball; remove the file or \
             change debian/source/format to 3.0 (quilt)"
        )));
    }
    let head =
        parse_head(&read_or_fail("debian/changelog")?).map_err(|e| fail(format!("debian/changelog: {e}")))?;
    let control = read_or_fail("debian/control")?;
    let section = control
        .split("\n\n")
        .next()
        .and_then(|first| Stanza::parse(first).ok())
        .and_then(|stanza| stanza.get("Section").map(str::to_owned));
    let tarballs = parse_orig_checksums(&pins, &head.source, &head.version.upstream)
        .map_err(|e| fail(format!("{ORIG_CHECKSUMS}: {e}")))?;
    let pool = archive.map(|archive| pool_dir(archive, section.as_deref(), &head.source));
    Ok(tarballs
        .into_iter()
        .enumerate()
        .map(|(n, tarball)| RecipeSource {
            port: package.to_owned(),
            recipe: format!("{package}/{ORIG_CHECKSUMS}"),
            port_dir: dir.clone(),
            index: (n + 1).to_string(),
            uris: pool
                .iter()
                .map(|pool| format!("{pool}/{}", tarball.file_name))
                .collect(),
            file_name: tarball.file_name,
            checksum: Some(tarball.sha256),
            sha512: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_directories_follow_the_archive() {
        let a = "https://deb.debian.org/debian/";
        assert_eq!(
            pool_dir(a, None, "hello"),
            "https://deb.debian.org/debian/pool/main/h/hello"
        );
        assert_eq!(
            pool_dir(a, Some("libs"), "libgreet"),
            "https://deb.debian.org/debian/pool/main/libg/libgreet"
        );
        assert_eq!(
            pool_dir(a, Some("contrib/games"), "lib"),
            "https://deb.debian.org/debian/pool/contrib/l/lib"
        );
    }

    #[test]
    fn pins_are_a_dsc_field_for_this_version_only() {
        let hex = "ab".repeat(32);
        let text = format!(
            "Checksums-Sha256:\n {hex} 12 greet_1.0.orig.tar.gz\n {hex} 3 greet_1.0.orig-docs.tar.xz\n \
             {hex} 4 greet_1.0.orig.tar.gz.asc\n"
        );
        let pins = parse_orig_checksums(&text, "greet", "1.0").unwrap();
        let names: Vec<&str> = pins.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "greet_1.0.orig.tar.gz",
                "greet_1.0.orig-docs.tar.xz",
                "greet_1.0.orig.tar.gz.asc"
            ]
        );
        assert_eq!(pins[0].size, 12);
        for bad in [
            format!("Checksums-Sha256:\n {hex} 12 greet_0.9.orig.tar.gz\n"),
            format!("Checksums-Sha256:\n {hex} 12 greet_1.0.tar.gz\n"),
            format!("Checksums-Sha256:\n {hex} 12 greet_1.0.orig.tar.zst\n"),
            format!("Checksums-Sha256:\n {hex} x greet_1.0.orig.tar.gz\n"),
            "Checksums-Sha256:\n abc 12 greet_1.0.orig.tar.gz\n".to_owned(),
            format!("Checksums-Sha1:\n {hex} 12 greet_1.0.orig.tar.gz\n"),
            "Checksums-Sha256:\n".to_owned(),
        ] {
            assert!(
                parse_orig_checksums(&bad, "greet", "1.0").is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
