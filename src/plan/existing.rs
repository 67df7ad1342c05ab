//! Packages that already exist, from the three places HaikuPorter's buildmaster looks: the state
//! database's package records (published or still pending), the spool `<state>/packages/` (a build's
//! results wait there until published; zero-byte stubs count as existing, as HaikuPorter's "already
//! exists" check counts them), and the system-packages directory.
//!
//! Everything is read fresh on every run: the spool holds a handful of files that are not yet in the
//! database, and the database is the source of truth for the rest.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::haiku::hpkg_reader::read_package;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::plan::model::PackageOrigin;
use crate::plan::system_index::{indexed_system_packages, read_system_packages};
use crate::state::Database;

/// One existing package that can satisfy requirements.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExistingPackage {
    /// Canonical file name (`name-version-arch.hpkg`).
    pub file_name: String,
    /// Package name.
    pub name: String,
    /// Repository (database record or spool file) or system-packages directory.
    pub origin: PackageOrigin,
    /// What it provides.
    pub provides: Vec<Provides>,
    /// What it requires: followed when it joins a build's closure, as HaikuPorter does.
    pub requires: Vec<ResolvableExpression>,
}

impl ExistingPackage {
    /// The entry for a package's attributes.
    pub fn from_info(info: &PackageInfo, origin: PackageOrigin) -> Self {
        Self {
            file_name: info.canonical_file_name(),
            name: info.name.clone(),
            origin,
            provides: info.provides.clone(),
            requires: info.requires.clone(),
        }
    }
}

/// Every existing package, plus the file names of the ones whose attributes are unknown (zero-byte
/// spool stubs without a database record).
#[derive(Clone, Debug, Default)]
pub struct ExistingPackages {
    /// Packages whose attributes are known, repository before system packages.
    pub packages: Vec<ExistingPackage>,
    /// Every existing file name, for the "already exists" check.
    file_names: HashSet<String>,
}

/// Why the existing packages could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExistingError {
    /// The state database could not be read.
    #[error(transparent)]
    Database(#[from] crate::state::DbError),
    /// A directory or package file could not be read; a retry will not help until it is fixed.
    #[error("{path}: {message}")]
    File {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ExistingPackages {
    /// An empty set (nothing exists yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a package with known attributes.
    pub fn add(&mut self, package: ExistingPackage) {
        self.file_names.insert(package.file_name.clone());
        self.packages.push(package);
    }

    /// Records a file that exists but whose attributes are unknown.
    pub fn add_file_name(&mut self, file_name: &str) {
        self.file_names.insert(file_name.to_owned());
    }

    /// Whether a package file of this name exists anywhere.
    pub fn contains(&self, file_name: &str) -> bool {
        self.file_names.contains(file_name)
    }

    /// Reads all three places: database records, spool files not in the database, and the
    /// system-packages directory (if any; read through the index in the database file `index`
    /// when given, see [`crate::plan::system_index`]).
    pub fn load(
        db: &Database,
        spool: &Path,
        system_dir: Option<&Path>,
        index: Option<&Path>,
    ) -> Result<Self, ExistingError> {
        let mut out = Self::new();
        for record in db.all()? {
            let view = crate::formats::haiku::record::PackageRecord::from_record(&record).map_err(|e| {
                ExistingError::File {
                    path: db.path().to_path_buf(),
                    message: e.to_string(),
                }
            })?;
            out.add(ExistingPackage::from_info(&view.info, PackageOrigin::Repository));
        }
        out.add_spool(spool)?;
        if let Some(dir) = system_dir {
            let system = match index {
                Some(index) => indexed_system_packages(dir, index)?,
                None => read_system_packages(dir)?,
            };
            for package in system {
                out.add(package);
            }
        }
        Ok(out)
    }

    /// Adds the `.hpkg` files of the spool directory that are not known yet: real files are read for
    /// their attributes, zero-byte stubs count by name only. A missing spool is an empty one.
    pub fn add_spool(&mut self, spool: &Path) -> Result<(), ExistingError> {
        let entries = match std::fs::read_dir(spool) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ExistingError::File {
                    path: spool.into(),
                    message: e.to_string(),
                })
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !file_name.ends_with(".hpkg") || self.contains(file_name) || !path.is_file() {
                continue;
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size == 0 {
                self.add_file_name(file_name);
                continue;
            }
            let package = read_package(&path).map_err(|e| ExistingError::File {
                path: path.clone(),
                message: format!("unreadable package in the spool: {e}; remove or replace it"),
            })?;
            // Counted under the name it has on disk too, so "already exists" sees it whatever it is
            // called.
            self.add_file_name(file_name);
            self.add(ExistingPackage::from_info(
                &package.info,
                PackageOrigin::Repository,
            ));
        }
        Ok(())
    }
}
