//! An RPM recipe tree laid out like Fedora's dist-git: one directory per package holding
//! `NAME.spec`, optionally a `sources` file (see [`super::sources_file`]) and local source files
//! (patches, small files kept in git). Read into [`RpmSource`] values that planning orders and the
//! build procedure builds; the spec itself is read by `rpmspec` ([`super::spec`]).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha512};

use super::sources_file::{parse_sources, SourceEntry};
use super::spec::{read_spec, SpecError, SpecInfo};
use crate::toolchains::tree_scan::{read_packages, refuse_duplicates, DuplicateError, ReadError};

/// One package directory of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmSource {
    /// The directory (its name is the package name, as in dist-git).
    pub dir: PathBuf,
    /// What rpmspec read from `NAME.spec`.
    pub spec: SpecInfo,
    /// The `sources` file's entries (empty without one): lookaside archives. Those not beside the
    /// spec must reach the build as inputs from the source cache.
    pub lookaside: Vec<SourceEntry>,
}

/// Why a tree could not be read. Each names the file; none is retryable — the tree must be fixed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A directory or file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// rpmspec could not read a spec.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A file's content is not what the conventions say.
    #[error("{path}: {message}; fix it in the recipe tree")]
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

/// Reads every package directory of the tree at `root` (a directory holding `DIRNAME.spec`),
/// sorted by name; other directories (and hidden ones such as `.git`) are passed over.
pub fn read_tree(root: &Path) -> Result<Vec<RpmSource>, TreeError> {
    let is_package = |name: &str, dir: &Path| dir.join(format!("{name}.spec")).is_file();
    let sources = read_packages(root, is_package, read_source)?;
    let names = sources.iter().flat_map(|source| {
        source
            .spec
            .binaries
            .iter()
            .map(|binary| (binary.name.clone(), source.dir.as_path()))
    });
    refuse_duplicates(names)?;
    Ok(sources)
}

/// Reads one package directory: its spec through rpmspec, its `sources` file, and checks every
/// listed file that is present beside the spec against its SHA-512.
pub fn read_source(dir: &Path) -> Result<RpmSource, TreeError> {
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spec_path = dir.join(format!("{dir_name}.spec"));
    let spec = read_spec(&spec_path)?;
    if spec.name != dir_name {
        return Err(TreeError::Malformed {
            path: spec_path,
            message: format!(
                "Name: {} but the directory is {dir_name} (dist-git names them alike)",
                spec.name
            ),
        });
    }
    let sources_path = dir.join("sources");
    let lookaside = match std::fs::read_to_string(&sources_path) {
        Ok(text) => parse_sources(&text).map_err(|message| TreeError::Malformed {
            path: sources_path.clone(),
            message,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(ReadError {
                path: sources_path,
                source,
            }
            .into())
        }
    };
    for entry in &lookaside {
        check_present(dir, entry)?;
    }
    Ok(RpmSource {
        dir: dir.to_owned(),
        spec,
        lookaside,
    })
}

/// A listed file that is beside the spec must have the listed digest (one streaming pass).
fn check_present(dir: &Path, entry: &SourceEntry) -> Result<(), TreeError> {
    let path = dir.join(&entry.file_name);
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ReadError { path, source }.into()),
    };
    let mut hasher = Sha512::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| ReadError {
        path: path.clone(),
        source,
    })?;
    let actual = hex::encode(hasher.finalize());
    if actual != entry.sha512 {
        return Err(TreeError::Malformed {
            path,
            message: format!("SHA-512 is {actual} but `sources` says {}", entry.sha512),
        });
    }
    Ok(())
}
