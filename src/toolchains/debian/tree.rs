//! A Debian recipe tree: a directory (a git checkout) with one directory per source package, each
//! holding `debian/control`, `debian/changelog`, `debian/rules` and `debian/source/format`. Read into
//! [`SourcePackage`] values that planning orders and the build procedure builds.

use std::path::{Path, PathBuf};

use super::changelog::parse_head;
use super::control::{parse_source_control, BinaryPackage};
use crate::formats::debian::relation::Relation;
use crate::formats::debian::version::Version;
use crate::toolchains::tree_scan::{read_packages, refuse_duplicates, DuplicateError, ReadError};

/// One source package of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePackage {
    /// The directory that holds `debian/` (what the build copies to the builder).
    pub dir: PathBuf,
    /// The source package name (changelog and `Source:` agree; checked).
    pub name: String,
    /// The version from the changelog's newest entry.
    pub version: Version,
    /// Build dependencies: clauses of alternatives.
    pub build_depends: Vec<Vec<Relation>>,
    /// The binary packages this source builds.
    pub binaries: Vec<BinaryPackage>,
}

impl SourcePackage {
    /// The `.deb` file names a build on a `host`-architecture builder must produce, as dpkg names
    /// them: `<package>_<version without epoch>_<arch>.deb`.
    pub fn expected_debs(&self, host: &str) -> Vec<String> {
        self.binaries
            .iter()
            .filter_map(|b| self.deb_name(&b.name, host))
            .collect()
    }

    /// The `.deb` file name of binary package `binary` built on a `host` builder; `None` when this
    /// source does not build it there.
    pub fn deb_name(&self, binary: &str, host: &str) -> Option<String> {
        let package = self.binaries.iter().find(|b| b.name == binary)?;
        let arch = package.built_for(host)?;
        Some(format!("{binary}_{}_{arch}.deb", self.version.without_epoch()))
    }
}

/// Why a tree could not be read. Each names the file; none is retryable — the tree must be fixed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A directory or file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A file's content is not what Debian's tools accept.
    #[error("{path}: {message}; fix the file in the recipe tree")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two directories build the same package, so a dependency on it would be ambiguous.
    #[error(transparent)]
    Duplicate(#[from] DuplicateError),
}

/// Reads every source package directory of the tree at `root`, sorted by name. Directories without
/// `debian/` (and hidden ones such as `.git`) are not source packages and are passed over.
pub fn read_tree(root: &Path) -> Result<Vec<SourcePackage>, TreeError> {
    let sources = read_packages(root, |_, dir| dir.join("debian").is_dir(), read_source)?;
    // Source and binary names are checked apart: a binary may be called like its source.
    let names = sources.iter().flat_map(|source| {
        std::iter::once(format!("source {}", source.name))
            .chain(source.binaries.iter().map(|b| format!("binary {}", b.name)))
            .map(|name| (name, source.dir.as_path()))
    });
    refuse_duplicates(names)?;
    Ok(sources)
}

/// Reads one source package directory.
pub fn read_source(dir: &Path) -> Result<SourcePackage, TreeError> {
    let read = |relative: &str| {
        let path = dir.join(relative);
        std::fs::read_to_string(&path)
            .map(|text| (path.clone(), text))
            .map_err(|source| TreeError::from(ReadError { path, source }))
    };
    let malformed = |path: &Path, message: String| TreeError::Malformed {
        path: path.to_owned(),
        message,
    };
    let (changelog_path, changelog) = read("debian/changelog")?;
    let head = parse_head(&changelog).map_err(|m| malformed(&changelog_path, m))?;
    let (control_path, control) = read("debian/control")?;
    let control = parse_source_control(&control).map_err(|m| malformed(&control_path, m))?;
    if control.source != head.source {
        return Err(malformed(
            &control_path,
            format!(
                "Source: {} but debian/changelog names {}",
                control.source, head.source
            ),
        ));
    }
    let (format_path, format) = read("debian/source/format")?;
    if !matches!(format.trim(), "3.0 (native)" | "3.0 (quilt)" | "1.0") {
        return Err(malformed(
            &format_path,
            format!("unknown source format {:?}", format.trim()),
        ));
    }
    let rules_path = dir.join("debian/rules");
    std::fs::metadata(&rules_path).map_err(|source| ReadError {
        path: rules_path,
        source,
    })?;
    Ok(SourcePackage {
        dir: dir.to_owned(),
        name: head.source,
        version: head.version,
        build_depends: control.build_depends,
        binaries: control.binaries,
    })
}
