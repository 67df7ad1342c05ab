//! The spool: `<state>/packages/`, where builds deliver packages. Real files are new (or not yet
//! stubbed); zero-byte files are stubs of uploaded packages.
//!
//! New real files are inspected by the repository's format and checked here before anything is
//! uploaded: the file name must be the package's own canonical name, a name already recorded with
//! other bytes is refused (packages are immutable: publish a new revision instead), and the package
//! must pass the repository's checks ([`crate::formats::RepositoryFormat::admit_all`]; Haiku: vendor,
//! architecture and complete info against `repo.info`). A bad package is reported by name and left
//! untouched; it never reaches storage. A file a build produced is checked against what the build
//! verified and is not hashed here (see [`verified`]): its upload is its one full read.

use std::path::{Path, PathBuf};

use super::repository::{ImplicitRepository, PACKAGE_SUFFIX};
use super::verified::{self, BuildResults};
use super::{now, PublishError};
use crate::formats::{FormatError, InspectedPackage};
use crate::parallel::map_in_order;
use crate::state::{Database, PackageState, Record};

/// What new spool files are checked against: the repository they go into and what the builds
/// verified.
#[derive(Clone, Copy)]
pub struct Repository<'a> {
    /// The repository: its format inspects and admits the files.
    pub repo: &'a ImplicitRepository,
    /// The builds' verified results: a file a build produced must be those bytes.
    pub verified: &'a BuildResults,
}

/// One package file in the spool.
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

/// Every package file in `dir` (named with the repository's [`PACKAGE_SUFFIX`]), sorted by name.
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
        if !file_name.ends_with(PACKAGE_SUFFIX) {
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
    /// Inspected, with its checksum: hashed, or the digest its build verified.
    Package(Box<InspectedPackage>),
    /// Not the bytes its build verified; why.
    Replaced(String),
}

/// Inspects `paths` on all cores, in order: a file a build produced is inspected without hashing
/// (its verified digest is its checksum and the upload its one full read, see [`verified`]); any other
/// file is hashed, streaming, and inspected. One bad file does not hide the others.
fn read_candidates(
    paths: &[PathBuf],
    repository: &Repository<'_>,
) -> Result<Vec<Result<Candidate, FormatError>>, PublishError> {
    let work = paths
        .iter()
        .map(|path| {
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            Ok((path, repository.verified.get(file_name)?))
        })
        .collect::<Result<Vec<_>, PublishError>>()?;
    let format = &*repository.repo.format;
    Ok(map_in_order(&work, |_, (path, result)| match result {
        Some(result) => {
            let size = std::fs::metadata(path)
                .map_err(|e| FormatError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })?
                .len();
            if size != result.size {
                return Ok(Candidate::Replaced(verified::size_mismatch(result, size)));
            }
            format
                .inspect_verified(path, size, &result.sha256.to_hex())
                .map(|package| Candidate::Package(Box::new(package)))
        }
        None => format
            .inspect(path)
            .map(|package| Candidate::Package(Box::new(package))),
    }))
}

/// Why the spool file `error` is about cannot be published, and what to do.
fn unreadable(error: FormatError, repository: &Repository<'_>) -> String {
    match error {
        FormatError::Misnamed { expected, .. } => format!(
            "its file name does not match the package's own name, version and architecture (expected \
             {expected}); rename or rebuild it"
        ),
        FormatError::Invalid { reason, .. } => format!(
            "not a valid {} package ({reason}); rebuild it or remove it from the spool",
            repository.repo.format.kind().label()
        ),
        other => format!("{other}; rebuild it or remove it from the spool"),
    }
}

/// Parses and checks the real files that the database does not know yet (or knows as something
/// else), and records the good ones as [`PackageState::Spooled`] (unless `dry_run`). Returns the new
/// records and the rejected files.
pub fn ingest(
    db: &mut Database,
    spool: &[SpoolEntry],
    repository: &Repository<'_>,
    dry_run: bool,
) -> Result<(Vec<Record>, Vec<Rejected>), PublishError> {
    let mut candidates = Vec::new();
    for entry in spool.iter().filter(|e| e.size > 0) {
        match db.get(&entry.file_name)? {
            // Known and already in storage with this size: an identical file re-delivered, or a
            // crash before stubbing. The upload step verifies the digest before stubbing.
            Some(record) if record.package.size == entry.size => {}
            _ => candidates.push(entry.path.clone()),
        }
    }
    let mut rejected = Vec::new();
    let mut inspected = Vec::new();
    for (path, read) in candidates.iter().zip(read_candidates(&candidates, repository)?) {
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
                    reason: unreadable(e, repository),
                });
                continue;
            }
        };
        if let Some(existing) = db.get(&package.file_name)? {
            if existing.package.sha256 != package.sha256 {
                rejected.push(Rejected {
                    path: path.clone(),
                    reason: format!(
                        "{} is already published with different contents (sha256 {}); packages are \
                         immutable: bump the revision and rebuild",
                        package.file_name, existing.package.sha256
                    ),
                });
            }
            continue;
        }
        inspected.push((path, package));
    }
    // The repository's checks, before upload: a package the index could not name never reaches
    // storage (it used to be uploaded, then silently left out of the index).
    let packages: Vec<&InspectedPackage> = inspected.iter().map(|(_, p)| p).collect();
    let admitted = repository
        .repo
        .format
        .admit_all(&repository.repo.target, &packages)
        .map_err(super::repository::ImplicitRepository::failed)?;
    let mut fresh = Vec::new();
    for ((path, package), admission) in inspected.into_iter().zip(admitted) {
        if let Err(reason) = admission {
            rejected.push(Rejected {
                path: path.clone(),
                reason,
            });
            continue;
        }
        fresh.push(Record {
            package,
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
