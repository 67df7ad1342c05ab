//! The sources of a Debian or RPM recipe tree (`[ports] kind = "debian" | "rpm"`): for every
//! package directory, or the named ones, the archives the cache must hold — an RPM directory's
//! lookaside archives ([`super::lookaside`]), a Debian source package's `.orig` tarballs
//! ([`super::debian_orig`]). A package is named by its directory in the tree, which is also what
//! the build tool is given as its target.

use std::path::Path;

use super::debian_orig::debian_sources;
use super::error::SourceError;
use super::lookaside::rpm_sources;
use super::recipe::RecipeSource;
use crate::toolchains::tree_scan::{read_packages, ReadError};

/// A foreign tree's kind, and where its sources are fetched from.
#[derive(Clone, Copy, Debug)]
pub enum ForeignTree<'a> {
    /// An RPM dist-git tree; archives come from this lookaside cache (`None`: by hand only).
    Rpm {
        /// The lookaside cache's base URL.
        lookaside: Option<&'a str>,
    },
    /// A Debian tree; `.orig` tarballs come from this archive's pool (`None`: by hand only).
    Debian {
        /// The archive's base URL (the directory holding `pool/`).
        archive: Option<&'a str>,
    },
}

impl ForeignTree<'_> {
    /// Whether `dir` (named `name`) is a package directory of this kind of tree.
    fn is_package(&self, name: &str, dir: &Path) -> bool {
        match self {
            ForeignTree::Rpm { .. } => dir.join(format!("{name}.spec")).is_file(),
            ForeignTree::Debian { .. } => dir.join("debian").is_dir(),
        }
    }

    /// The sources of package directory `package` of the tree at `root`.
    fn sources_of(&self, root: &Path, package: &str) -> Result<Vec<RecipeSource>, SourceError> {
        match *self {
            ForeignTree::Rpm { lookaside } => rpm_sources(root, package, lookaside),
            ForeignTree::Debian { archive } => debian_sources(root, package, archive),
        }
    }
}

/// The sources of the named packages of the tree at `root` (every package when `names` is empty).
pub fn tree_sources(
    root: &Path,
    kind: ForeignTree<'_>,
    names: &[String],
) -> Result<Vec<RecipeSource>, SourceError> {
    let packages = if names.is_empty() {
        read_packages(
            root,
            |name, dir| kind.is_package(name, dir),
            |dir| {
                Ok::<_, ReadError>(
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            },
        )
        .map_err(|e| SourceError::Local {
            path: e.path.clone(),
            message: e.to_string(),
        })?
    } else {
        names.to_vec()
    };
    let mut out = Vec::new();
    for package in &packages {
        let plain = !package.is_empty() && !package.starts_with('.') && !package.contains("..");
        if !plain || !kind.is_package(package, &root.join(package)) {
            return Err(SourceError::NoSuchPort {
                port: package.clone(),
            });
        }
        out.extend(kind.sources_of(root, package)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_the_trees_directories() {
        let tree = tempfile::tempdir().unwrap();
        for name in ["b", "a", ".git"] {
            std::fs::create_dir_all(tree.path().join(name)).unwrap();
            std::fs::write(tree.path().join(name).join(format!("{name}.spec")), "").unwrap();
        }
        let hex = "c".repeat(128);
        std::fs::write(tree.path().join("a/sources"), format!("SHA512 (a.tgz) = {hex}\n")).unwrap();
        let rpm = ForeignTree::Rpm { lookaside: None };
        let all = tree_sources(tree.path(), rpm, &[]).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].port, "a");
        assert!(tree_sources(tree.path(), rpm, &["b".into()]).unwrap().is_empty());
        for bad in ["c", "../a", ".git"] {
            assert!(matches!(
                tree_sources(tree.path(), rpm, &[bad.into()]),
                Err(SourceError::NoSuchPort { .. })
            ));
        }
        let debian = ForeignTree::Debian { archive: None };
        assert!(tree_sources(tree.path(), debian, &[]).unwrap().is_empty());
    }
}
