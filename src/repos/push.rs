//! `buildmaster push FILE… --to REPO…`: packages built elsewhere into many repositories at once.
//!
//! Every file is inspected and every check made before anything is uploaded: its format must be the
//! targets', its architecture must fit at least one target, and a name, version and architecture
//! already stored with other bytes is refused with both digests (packages are immutable: push a new
//! version). Then each distinct file is uploaded **once** into its format's content-addressed pool
//! (already stored: nothing is uploaded), linked into every target repository it fits — an
//! architecture-independent package into every architecture — and each repository whose links changed
//! (now, or by an earlier push that could not publish) gets its index published. The same bytes
//! pushed again change nothing.
//!
//! A push killed anywhere converges on its rerun (or the next push): a pool file uploaded but not
//! recorded is found by its digest and adopted without another upload, links are recorded with their
//! repository's dirty mark in one transaction, and a dirty repository is published again. The crash
//! points `repos-pool-uploaded`, `repos-pool-recorded`, `repos-linked` and `repos-published` (before
//! the repository is marked published) let tests/repos_crash_poller.rs prove it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};

use crate::formats::{FormatKind, InspectedPackage};
use crate::publish::crashpoint::crash_point;

use super::config::Repository;
use super::index_upload::{publish_index, IndexReport};
use super::records::{PoolPackage, Records};
use super::{keys, Formats, RepoError};

/// What a push did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Pool files uploaded (file names), each once.
    pub uploaded: Vec<String>,
    /// Files that were already in the pool (same bytes).
    pub already_stored: Vec<String>,
    /// New links: (file name, repository id).
    pub linked: Vec<(String, String)>,
    /// Repositories whose index was published, with what was uploaded.
    pub published: Vec<(String, IndexReport)>,
}

/// One inspected file and where it goes.
struct Planned {
    path: PathBuf,
    format: FormatKind,
    package: InspectedPackage,
    targets: Vec<usize>,
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
    match path.extension().and_then(|e| e.to_str()) {
        Some("deb") => Ok(FormatKind::Debian),
        Some("rpm") => Ok(FormatKind::Rpm),
        Some("hpkg") => Ok(FormatKind::Haiku),
        _ => Err(RepoError::Refused(format!(
            "{}: not a .deb, .rpm or .hpkg file; only Debian, RPM and Haiku packages can be pushed",
            path.display()
        ))),
    }
}

/// Pushes `files` into the repositories `targets` (already selected) and publishes every target whose
/// index is behind its links: those this push changed, and those an earlier push linked but could not
/// publish (a storage outage, a crash), so that a retry of the same push completes it.
pub async fn push(
    storage: &dyn StorageBackend,
    records: &mut Records,
    formats: &Formats,
    targets: &[&Repository],
    files: &[PathBuf],
    now: SystemTime,
) -> Result<PushReport, RepoError> {
    let planned = inspect_and_check(records, formats, targets, files).await?;
    // Signing keys are loaded before anything is uploaded: a missing or unusable key stops the push
    // with nothing stored.
    let signers = targets
        .iter()
        .map(|repository| formats.signer(repository))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = PushReport::default();
    let now_secs = super::unix_seconds(now);
    for item in &planned {
        let pool_dir = &targets[item.targets[0]].pool;
        let pool = PoolPackage {
            format: item.format,
            package: item.package.clone(),
            pool_key: keys::pool_key(pool_dir, &item.package.sha256, &item.package.file_name),
            added_at: now_secs,
        };
        if store_once(storage, records, &pool, &item.path).await? {
            report.uploaded.push(item.package.file_name.clone());
        } else {
            report.already_stored.push(item.package.file_name.clone());
        }
        let fixed_path = formats.get(item.format)?.fixed_path(&item.package);
        for &t in &item.targets {
            let repository = targets[t];
            if let Some(path) = &fixed_path {
                // Placed before it is linked: a link always has its copy, whatever crash follows.
                place(storage, &pool, &keys::index_key(repository, path)).await?;
            }
            if records.link(repository.id(), item.format, &item.package.sha256, now_secs)? {
                report
                    .linked
                    .push((item.package.file_name.clone(), repository.id().to_string()));
            }
        }
    }
    crash_point("repos-linked");
    for (t, repository) in targets.iter().enumerate() {
        if !records.is_dirty(repository.id())? {
            continue;
        }
        let format = formats.get(repository.format())?;
        let signer = signers[t].as_deref();
        let index = publish_index(storage, records, repository, &*format, signer, now).await?;
        crash_point("repos-published");
        records.mark_published(repository.id())?;
        report.published.push((repository.id().to_string(), index));
    }
    Ok(report)
}

/// Inspects every file and makes every check before anything is uploaded.
async fn inspect_and_check(
    records: &Records,
    formats: &Formats,
    targets: &[&Repository],
    files: &[PathBuf],
) -> Result<Vec<Planned>, RepoError> {
    let mut planned: Vec<Planned> = Vec::new();
    for path in files {
        let kind = format_of(path)?;
        let format = formats.get(kind)?;
        let (inspector, inspect_path) = (format.clone(), path.clone());
        // Inspection reads and decompresses the whole file: off the async threads.
        let package = tokio::task::spawn_blocking(move || inspector.inspect(&inspect_path))
            .await
            .map_err(|e| RepoError::Refused(format!("{}: inspection stopped: {e}", path.display())))??;
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
        refuse_other_bytes(records, kind, &package, path, &planned, &pool)?;
        planned.push(Planned {
            path: path.clone(),
            format: kind,
            package,
            targets: fitting,
        });
    }
    Ok(planned)
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

/// Uploads a pool file unless it is already there; whether it was uploaded. The upload hands the
/// inspected digest to storage, which refuses bytes that differ (the file changed since inspection).
async fn store_once(
    storage: &dyn StorageBackend,
    records: &mut Records,
    pool: &PoolPackage,
    path: &Path,
) -> Result<bool, RepoError> {
    let key = ObjectKey::new(pool.pool_key.clone())
        .map_err(|e| RepoError::Key(format!("{}: {e}", pool.pool_key)))?;
    let digest = Sha256Digest::from_hex(&pool.package.sha256)
        .ok_or_else(|| RepoError::Key(format!("{}: bad digest", pool.package.file_name)))?;
    let present = holds(storage, &key, pool.package.size, digest).await?;
    if !present {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|source| RepoError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let options = PutOptions {
            content_type: Some(
                match pool.format {
                    FormatKind::Debian => "application/vnd.debian.binary-package",
                    FormatKind::Rpm => "application/x-rpm",
                    FormatKind::Haiku => "application/x-vnd.haiku-package",
                }
                .into(),
            ),
            cache_control: buildmaster_storage::CacheControl::Immutable,
            sha256: Some(digest),
        };
        storage.put(&key, &mut file, pool.package.size, &options).await?;
        crash_point("repos-pool-uploaded");
    }
    records.insert_pool(pool)?;
    crash_point("repos-pool-recorded");
    Ok(!present)
}

/// Copies a pool file to `key`, where a format that fixes package paths has its clients fetch it
/// (Haiku: `<root>/packages/<file>`) — a server-side copy, never a second upload. Nothing is copied
/// when the same bytes are already there.
async fn place(storage: &dyn StorageBackend, pool: &PoolPackage, key: &str) -> Result<(), RepoError> {
    let to = ObjectKey::new(key.to_string()).map_err(|e| RepoError::Key(format!("{key}: {e}")))?;
    let digest = Sha256Digest::from_hex(&pool.package.sha256)
        .ok_or_else(|| RepoError::Key(format!("{}: bad digest", pool.package.file_name)))?;
    if !holds(storage, &to, pool.package.size, digest).await? {
        let from = ObjectKey::new(pool.pool_key.clone())
            .map_err(|e| RepoError::Key(format!("{}: {e}", pool.pool_key)))?;
        storage.copy(&from, &to).await?;
    }
    Ok(())
}

/// Whether `key` holds an object of `size` bytes with SHA-256 `digest`.
async fn holds(
    storage: &dyn StorageBackend,
    key: &ObjectKey,
    size: u64,
    digest: Sha256Digest,
) -> Result<bool, RepoError> {
    Ok(storage
        .head(key)
        .await?
        .is_some_and(|meta| meta.size == size && meta.sha256 == Some(digest)))
}
