//! Planning a push: which repositories `--to` names, and every inspection and check made before
//! anything is uploaded — the file's format must be the targets', its architecture must fit at least
//! one target, the format's own admission checks must pass (Haiku: `package_repo`'s), and a name,
//! version and architecture already stored with other bytes is refused with both digests (packages
//! are immutable: push a new version). The gate ([`crate::gate`]) plans its pushes the same way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use futures::{StreamExt as _, TryStreamExt as _};

use crate::formats::{FormatKind, InspectedPackage};

use super::config::Repository;
use super::records::{PoolPackage, Records};
use super::{keys, Formats, RepoError};

/// One inspected file and where it goes.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The local file.
    pub path: PathBuf,
    /// Its format.
    pub format: FormatKind,
    /// What inspection found.
    pub package: InspectedPackage,
    /// Indexes into the push's targets of the repositories it fits.
    pub targets: Vec<usize>,
}

impl Planned {
    /// The inspection it was planned from, to be checked again.
    pub fn inspected(&self) -> Inspected {
        Inspected {
            path: self.path.clone(),
            format: self.format,
            package: self.package.clone(),
        }
    }

    /// Its pool record: the pool of its (first) target, which every target shares (checked).
    pub fn pool_package(&self, targets: &[&Repository], now_secs: i64) -> PoolPackage {
        let pool_dir = &targets[self.targets[0]].pool;
        PoolPackage {
            format: self.format,
            package: self.package.clone(),
            pool_key: keys::pool_key(pool_dir, &self.package.sha256, &self.package.file_name),
            added_at: now_secs,
        }
    }
}

/// The repositories whose ids match any of `patterns` (globs: `el/*/x86_64`); a pattern that matches
/// nothing is an error naming it and the known ids.
pub fn select<'a>(
    repositories: &'a [Repository],
    patterns: &[String],
) -> Result<Vec<&'a Repository>, RepoError> {
    let mut selected = BTreeSet::new();
    for pattern in patterns {
        let glob = glob::Pattern::new(pattern)
            .map_err(|e| RepoError::UnknownRepository(format!("{pattern:?} is not a valid pattern: {e}")))?;
        let mut matched = false;
        for (i, repository) in repositories.iter().enumerate() {
            if glob.matches(repository.id()) {
                selected.insert(i);
                matched = true;
            }
        }
        if !matched {
            let known: Vec<&str> = repositories.iter().map(Repository::id).collect();
            return Err(RepoError::UnknownRepository(format!(
                "no repository matches {:?} (configured: {})",
                crate::bounded_text::shortened(pattern, 80),
                if known.is_empty() {
                    "none — add [[repositories]] to buildmaster.toml".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(selected.into_iter().map(|i| &repositories[i]).collect())
}

/// The format of a package file, by its extension.
fn format_of(path: &Path) -> Result<FormatKind, RepoError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    FormatKind::of_file_name(name).ok_or_else(|| {
        RepoError::Refused(format!(
            "{}: not a .deb, .rpm or .hpkg file; only Debian, RPM and Haiku packages can be pushed",
            path.display()
        ))
    })
}

/// Inspects every file and makes every check before anything is uploaded.
pub async fn inspect_and_check(
    records: &Records,
    formats: &Formats,
    targets: &[&Repository],
    files: &[PathBuf],
) -> Result<Vec<Planned>, RepoError> {
    check(records, formats, targets, inspect(formats, files).await?)
}

/// A file inspected, not yet checked against the targets and the records.
#[derive(Debug)]
pub struct Inspected {
    path: PathBuf,
    format: FormatKind,
    package: InspectedPackage,
}

/// Every file inspected, in order. Reads only the files, not the records, so a push runs it while it
/// waits for the publish lock.
pub async fn inspect(formats: &Formats, files: &[PathBuf]) -> Result<Vec<Inspected>, RepoError> {
    let kinds = files
        .iter()
        .map(|path| format_of(path))
        .collect::<Result<Vec<_>, _>>()?;
    let packages = inspect_all(formats, files, &kinds).await?;
    Ok(files
        .iter()
        .zip(kinds)
        .zip(packages)
        .map(|((path, format), package)| Inspected {
            path: path.clone(),
            format,
            package,
        })
        .collect())
}

/// Every check of the inspected files against `targets` and the records (held under the publish lock).
pub fn check(
    records: &Records,
    formats: &Formats,
    targets: &[&Repository],
    inspected: Vec<Inspected>,
) -> Result<Vec<Planned>, RepoError> {
    let mut planned: Vec<Planned> = Vec::new();
    for Inspected {
        path,
        format: kind,
        package,
    } in inspected
    {
        let format = formats.get(kind)?;
        let of_format: Vec<usize> = (0..targets.len())
            .filter(|&t| targets[t].format() == kind)
            .collect();
        if of_format.is_empty() {
            return Err(RepoError::Refused(format!(
                "{}: a {} package, but none of the target repositories is a {} repository",
                path.display(),
                kind.as_str(),
                kind.as_str()
            )));
        }
        let fitting: Vec<usize> = of_format
            .iter()
            .copied()
            .filter(|&t| format.accepts(&targets[t].target, &package.architecture))
            .collect();
        if fitting.is_empty() {
            let ids: Vec<&str> = of_format.iter().map(|&t| targets[t].id()).collect();
            return Err(RepoError::Refused(format!(
                "{}: architecture {:?} fits none of the target repositories ({})",
                path.display(),
                package.architecture,
                ids.join(", ")
            )));
        }
        for &t in &fitting {
            format.admit(&targets[t].target, &package).map_err(|reason| {
                RepoError::Refused(format!(
                    "{}: refused by repository {}: {reason}",
                    path.display(),
                    targets[t].id()
                ))
            })?;
        }
        let pools: BTreeSet<&str> = fitting.iter().map(|&t| targets[t].pool.as_str()).collect();
        if pools.len() > 1 {
            return Err(RepoError::Refused(format!(
                "{}: the target repositories use different pools ({}); push to each pool separately",
                path.display(),
                pools.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let pool = pools.into_iter().next().unwrap_or_default().to_string();
        refuse_other_bytes(records, kind, &package, &path, &planned, &pool)?;
        planned.push(Planned {
            path,
            format: kind,
            package,
            targets: fitting,
        });
    }
    Ok(planned)
}

/// Every file of `files` (of format `kinds`) inspected, in order: each reads and decompresses the whole
/// file, so they run off the async threads, one per core at a time; the first failure (in file order)
/// is returned.
async fn inspect_all(
    formats: &Formats,
    files: &[PathBuf],
    kinds: &[FormatKind],
) -> Result<Vec<InspectedPackage>, RepoError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut inspections = Vec::with_capacity(files.len());
    for (path, &kind) in files.iter().zip(kinds) {
        let (inspector, path) = (formats.get(kind)?, path.clone());
        inspections.push(async move {
            let at = path.clone();
            tokio::task::spawn_blocking(move || inspector.inspect(&path))
                .await
                .map_err(|e| RepoError::Refused(format!("{}: inspection stopped: {e}", at.display())))?
                .map_err(RepoError::from)
        });
    }
    futures::stream::iter(inspections)
        .buffered(cores)
        .try_collect()
        .await
}

/// Same name, version and architecture with other bytes — stored before, or earlier in this push — is
/// refused with both digests.
/// A file already stored in another pool cannot be linked into repositories of `pool`: their index
/// could not reach it (apt fetches only below its root); that is refused too.
fn refuse_other_bytes(
    records: &Records,
    kind: FormatKind,
    package: &InspectedPackage,
    path: &Path,
    planned: &[Planned],
    pool: &str,
) -> Result<(), RepoError> {
    let stored = records.by_identity(kind, &package.name, &package.version, &package.architecture)?;
    if let Some(other) = stored.as_ref().filter(|p| p.package.sha256 == package.sha256) {
        if !other.pool_key.starts_with(&format!("{pool}/")) {
            return Err(RepoError::Refused(format!(
                "{}: already stored as {}, outside the pool {pool} of the target repositories; \
                 repositories that share packages must share a pool",
                path.display(),
                other.pool_key
            )));
        }
    }
    let stored = stored.map(|p| p.package.sha256);
    let earlier = planned
        .iter()
        .find(|p| {
            p.format == kind
                && p.package.name == package.name
                && p.package.version == package.version
                && p.package.architecture == package.architecture
        })
        .map(|p| p.package.sha256.clone());
    match stored.or(earlier) {
        Some(other) if other != package.sha256 => Err(RepoError::Refused(format!(
            "{}: {} {} ({}) is already stored with other bytes (stored sha256 {other}, this file {}); \
             packages are immutable: push a new version",
            path.display(),
            package.name,
            package.version,
            package.architecture,
            package.sha256
        ))),
        _ => Ok(()),
    }
}
