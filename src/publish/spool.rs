//! The spool: `<state>/packages/`, where builds deliver packages. Real files are new (or not yet
//! stubbed); zero-byte files are stubs of uploaded packages.
//!
//! New real files are parsed and checked here before anything is uploaded: the file name must be the
//! package's own canonical name, and a name already recorded with other bytes is refused (packages are
//! immutable: publish a new revision instead), and the package must pass the repository's checks
//! against `repo.info` (vendor, architecture, complete info). A bad package is reported by name and
//! left untouched; it never reaches storage. A file a build produced is checked against what the build
//! verified and is not hashed here (see [`verified`]): its upload is its one full read.

use std::path::{Path, PathBuf};

use super::verified::{self, BuildResults, Built};
use super::{now, PublishError};
use crate::haiku::package_scan::{scan_package, ScanError, ScannedPackage};
use crate::haiku::parallel::map_in_order;
use crate::haiku::repo_checks::RepositoryChecker;
use crate::haiku::repo_info::RepositoryInfo;
use crate::state::{Database, PackageRecord, PackageState};

/// What new spool files are checked against: the repository they go into (`repo.info`, parsed, and
/// where it was read from) and what the builds verified.
#[derive(Clone, Copy)]
pub struct Repository<'a> {
    /// The parsed `repo.info` (vendor and architecture every package must match).
    pub info: &'a RepositoryInfo,
    /// Its path, named in rejections.
    pub path: &'a Path,
    /// The builds' verified results: a file a build produced must be those bytes.
    pub verified: &'a BuildResults,
}

/// One `.hpkg` file in the spool.
#[derive(Clone, Debug)]
pub struct SpoolEntry {
    /// Its path.
    pub path: PathBuf,
    /// Its file name.
    pub file_name: String,
    /// Its size (0 for a stub).
    pub size: u64,
}

/// A package the spool holds that cannot be published, and why.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// Why, and what to do.
    pub reason: String,
}

/// Whether the spool holds a real package not yet stored (a build's results, or what a failed publish
/// left): a publish has work to do even when no build ran.
pub fn has_unpublished(
    state: &crate::state::StateDir,
    db: &crate::state::Database,
) -> Result<bool, PublishError> {
    for entry in list(&state.packages())? {
        if entry.size > 0 && !db.get(&entry.file_name)?.is_some_and(|r| r.state.is_stored()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every `*.hpkg` in `dir`, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<SpoolEntry>, PublishError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(PublishError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| PublishError::io(dir, e))?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if !file_name.ends_with(".hpkg") {
            continue;
        }
        let meta = entry.metadata().map_err(|e| PublishError::io(entry.path(), e))?;
        if meta.is_file() {
            out.push(SpoolEntry {
                path: entry.path(),
                file_name,
                size: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}

/// A candidate spool file, read.
enum Candidate {
    /// Decoded, with its checksum: hashed, or the digest its build verified.
    Package(Box<ScannedPackage>),
    /// Not the bytes its build verified; why.
    Replaced(String),
}

/// Reads `paths` on all cores, in order: a file a build produced is decoded without hashing (its
/// verified digest is its checksum and the upload its one full read, see [`verified`]); any other
/// file is hashed, streaming, and decoded. One bad file does not hide the others.
fn read_candidates(
    paths: &[PathBuf],
    verified: &BuildResults,
) -> Result<Vec<Result<Candidate, ScanError>>, PublishError> {
    let work = paths
        .iter()
        .map(|path| {
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            Ok((path, verified.get(file_name)?))
        })
        .collect::<Result<Vec<_>, PublishError>>()?;
    Ok(map_in_order(&work, |_, (path, result)| match result {
        Some(result) => verified::read_built(path, result).map(|built| match built {
            Built::Package(package) => Candidate::Package(package),
            Built::Replaced(size) => Candidate::Replaced(verified::size_mismatch(result, size)),
        }),
        None => scan_package(path).map(|package| Candidate::Package(Box::new(package))),
    }))
}

/// Parses and checks the real files that the database does not know yet (or knows as something
/// else), and records the good ones as [`PackageState::Spooled`] (unless `dry_run`). Returns the new
/// records and the rejected files.
pub fn ingest(
    db: &mut Database,
    spool: &[SpoolEntry],
    repository: &Repository<'_>,
    dry_run: bool,
) -> Result<(Vec<PackageRecord>, Vec<Rejected>), PublishError> {
    let mut candidates = Vec::new();
    for entry in spool.iter().filter(|e| e.size > 0) {
        match db.get(&entry.file_name)? {
            // Known and already in storage with this size: an identical file re-delivered, or a
            // crash before stubbing. The upload step verifies the digest before stubbing.
            Some(record) if record.size == entry.size => {}
            _ => candidates.push(entry.path.clone()),
        }
    }
    let mut rejected = Vec::new();
    let mut fresh = Vec::new();
    for (path, read) in candidates
        .iter()
        .zip(read_candidates(&candidates, repository.verified)?)
    {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let package = match read {
            Ok(Candidate::Package(package)) => *package,
            Ok(Candidate::Replaced(reason)) => {
                rejected.push(Rejected {
                    path: path.clone(),
                    reason,
                });
                continue;
            }
            Err(e) => {
                rejected.push(Rejected {
                    path: path.clone(),
                    reason: format!(
                        "not a valid Haiku package ({e}); rebuild it or remove it from the spool"
                    ),
                });
                continue;
            }
        };
        let canonical = package.info.canonical_file_name();
        if canonical != file_name {
            rejected.push(Rejected {
                path: path.clone(),
                reason: format!(
                    "its file name does not match the package's own name, version and architecture (expected \
                     {canonical}); rename or rebuild it"
                ),
            });
            continue;
        }
        if let Some(existing) = db.get(&file_name)? {
            if existing.sha256 != package.info.checksum {
                rejected.push(Rejected {
                    path: path.clone(),
                    reason: format!(
                        "{file_name} is already published with different contents (sha256 {}); packages are \
                         immutable: bump the revision and rebuild",
                        existing.sha256
                    ),
                });
                continue;
            }
            continue;
        }
        // `package_repo`'s checks, before upload: a package the index could not name never reaches
        // storage (it used to be uploaded, then silently left out of the index).
        if let Err(e) = RepositoryChecker::new(repository.info).check(&file_name, &package.info) {
            rejected.push(Rejected {
                path: path.clone(),
                reason: format!(
                    "{e} (the repository is described by {}); rebuild the package for this repository, or \
                     correct repo.info if it is the one that is wrong",
                    repository.path.display()
                ),
            });
            continue;
        }
        fresh.push(PackageRecord {
            file_name,
            size: package.size,
            sha256: package.info.checksum.clone(),
            licenses: package
                .licenses
                .iter()
                .map(|l| (l.name.clone(), String::from_utf8_lossy(&l.data).into_owned()))
                .collect(),
            info: package.info,
            state: PackageState::Spooled,
            added_at: now(),
            last_indexed_at: None,
        });
    }
    if !dry_run {
        db.upsert(&fresh)?;
        super::crashpoint::crash_point("spool-recorded");
    }
    Ok((fresh, rejected))
}
