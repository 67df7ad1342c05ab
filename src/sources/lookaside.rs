//! The sources of an RPM dist-git package directory: each archive its `sources` file lists
//! (`SHA512 (FILE) = HEX`, [`crate::toolchains::rpm::sources_file`]) that is not beside the spec, as
//! a [`RecipeSource`] fetched from a lookaside cache and verified by that SHA-512.
//!
//! The URL is Fedora's lookaside layout, as fedpkg (`FedoraLookasideCache.download_path`) and pyrpkg
//! (`CGILookasideCache.download`) build it: `<base>/<name>/<file>/sha512/<hash>/<file>`, the file
//! name with spaces as `%20`, `<name>` the package (the dist-git repository's name, which the tree
//! checks equals the spec's `Name`). Fedora's base is `https://src.fedoraproject.org/repo/pkgs`;
//! caches that are namespaced (pyrpkg's `lookaside_namespaced`, CentOS Stream) put `rpms/` before
//! the name, so their base is given with it (`https://sources.stream.centos.org/sources/rpms`).
//!
//! A listed file that is beside the spec travels with the tree (the tree reader checks its SHA-512)
//! and is not a source of the cache.

use std::path::Path;

use super::error::SourceError;
use super::recipe::RecipeSource;
use crate::toolchains::rpm::sources_file::parse_sources;

/// The `sources` file of a dist-git directory.
pub const SOURCES_FILE: &str = "sources";

/// The URL of `file` (with SHA-512 `sha512`) of package `name` in the lookaside cache at `base`.
pub fn lookaside_url(base: &str, name: &str, file: &str, sha512: &str) -> String {
    let file = file.replace(' ', "%20");
    format!(
        "{}/{name}/{file}/sha512/{sha512}/{file}",
        base.trim_end_matches('/')
    )
}

/// The lookaside sources of package directory `package` (relative to the tree at `tree`), fetched
/// from the lookaside cache at `base` (`None`: no URI; they can then only be added by hand). The
/// source index is the line's number among the `sources` file's entries.
pub fn rpm_sources(tree: &Path, package: &str, base: Option<&str>) -> Result<Vec<RecipeSource>, SourceError> {
    let dir = tree.join(package);
    let name = Path::new(package)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let recipe = format!("{package}/{SOURCES_FILE}");
    let fail = |message: String| SourceError::Recipe {
        port: name.clone(),
        message,
    };
    let path = dir.join(SOURCES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(format!("reading {}: {e}", path.display()))),
    };
    let entries = parse_sources(&text).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(entries
        .into_iter()
        .enumerate()
        .filter(|(_, entry)| !dir.join(&entry.file_name).exists())
        .map(|(n, entry)| RecipeSource {
            port: name.clone(),
            recipe: recipe.clone(),
            port_dir: dir.clone(),
            index: (n + 1).to_string(),
            uris: base
                .map(|base| lookaside_url(base, &name, &entry.file_name, &entry.sha512))
                .into_iter()
                .collect(),
            file_name: entry.file_name,
            checksum: None,
            sha512: Some(entry.sha512),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_fedoras_layout() {
        // The example of packit's lookaside test (tests/unit/test_utils.py), from Fedora's cache.
        let hash = "27e4f97e262d7b1eb0af79ef9ea8ceaed024dfe7b3d7ca0141d63195e7a9d6ee\
                    a147d8eef919cd7919435abc5b729ca04d9800a9df1c0334c6ca42a5747a8755";
        assert_eq!(
            lookaside_url("https://src.fedoraproject.org/repo/pkgs/", "packit", "packitos-0.57.0.tar.gz", hash),
            format!(
                "https://src.fedoraproject.org/repo/pkgs/packit/packitos-0.57.0.tar.gz/sha512/{hash}/packitos-0.57.0.tar.gz"
            )
        );
        assert_eq!(
            lookaside_url("http://l", "p", "a b.tgz", "00"),
            "http://l/p/a%20b.tgz/sha512/00/a%20b.tgz"
        );
    }

    #[test]
    fn files_beside_the_spec_are_not_cache_sources() {
        let tree = tempfile::tempdir().unwrap();
        let dir = tree.path().join("greet");
        std::fs::create_dir(&dir).unwrap();
        let (a, b) = ("a".repeat(128), "b".repeat(128));
        std::fs::write(
            dir.join("sources"),
            format!("SHA512 (here.txt) = {a}\nSHA512 (greet-2.0.tar.gz) = {b}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("here.txt"), "x").unwrap();
        let sources = rpm_sources(tree.path(), "greet", Some("http://l")).unwrap();
        assert_eq!(sources.len(), 1);
        let s = &sources[0];
        assert_eq!(
            (s.index.as_str(), s.file_name.as_str()),
            ("2", "greet-2.0.tar.gz")
        );
        assert_eq!(s.recipe, "greet/sources");
        assert_eq!(s.sha512.as_deref(), Some(b.as_str()));
        assert_eq!(
            s.uris,
            [format!(
                "http://l/greet/greet-2.0.tar.gz/sha512/{b}/greet-2.0.tar.gz"
            )]
        );
        assert!(rpm_sources(tree.path(), "none", None).unwrap().is_empty());
    }
}
