//! `buildmaster prune`: move package objects that no recent index names to `packages/.obsolete/`, and
//! delete them from there after the retention period.
//!
//! Mark → grace → move → expire. An object under `packages/` is kept when the index currently published
//! in the bucket names it, when any index published within the grace period named it, when it is not yet
//! indexed but was added within the grace period (an upload in progress), or — unknown to the database
//! — when it was written within the grace period. One run moves at most `max_prune_share` of the
//! packages unless forced, and an empty database refuses outright: losing the state directory must never
//! turn into deleting the bucket. Only package files (named with the repository's
//! [`super::repository::PACKAGE_SUFFIX`]) directly under `packages/` and `packages/.obsolete/` are
//! touched. The work is one paged listing and one read of the published `repo` (its packages read back
//! by the repository's format); no per-object HEAD. Last, the backend sweeps leftovers of interrupted
//! uploads older than the grace period.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use buildmaster_storage::{ErrorKind, ObjectMeta};
use futures::TryStreamExt;

use super::crashpoint::crash_point;
use super::lock::PublishLock;
use super::repository::ImplicitRepository;
use super::{keys, now, PublishError, Publisher};

/// Largest `repo` we download, in bytes; Haiku's reader limits the packages section to 64 MiB.
pub const MAX_REPO_BYTES: u64 = 128 << 20;

/// What a prune did (or would do).
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Package objects under `packages/`.
    pub packages: usize,
    /// Objects moved (or to be moved) to `packages/.obsolete/`.
    pub moved: Vec<String>,
    /// Objects deleted (or to be deleted) from `packages/.obsolete/` after the retention period.
    pub expired: Vec<String>,
    /// Unreferenced objects kept because they are within the grace period.
    pub kept_in_grace: Vec<String>,
    /// Why the run stopped without moving anything, if it did.
    pub refused: Option<String>,
    /// Leftovers of interrupted uploads (temporary objects, unfinished multipart uploads) older than
    /// the grace period, removed.
    pub leftovers_removed: u64,
}

/// Prunes the bucket.
pub async fn prune(p: &mut Publisher, dry_run: bool, force: bool) -> Result<PruneReport, PublishError> {
    if p.db.package_count()? == 0 {
        return Err(PublishError::Refused(format!(
            "the state database {} is empty; pruning now could delete every package. Run `buildmaster \
             recover` first (nothing was changed)",
            p.state.database().display()
        )));
    }
    if dry_run {
        return prune_locked(p, true, force).await;
    }
    let lock = PublishLock::acquire(&p.state, &*p.storage, p.settings.lock_ttl).await?;
    let result = prune_locked(p, false, force).await;
    let released = lock.release(&*p.storage).await;
    let report = result?;
    released?;
    Ok(report)
}

async fn prune_locked(p: &mut Publisher, dry_run: bool, force: bool) -> Result<PruneReport, PublishError> {
    let mut report = PruneReport {
        dry_run,
        ..Default::default()
    };
    let published = published_names(p).await?;
    let prefix = buildmaster_storage::ObjectKey::prefix(keys::PACKAGES).expect("valid prefix");
    let objects: Vec<ObjectMeta> = p.storage.list(&prefix).try_collect().await?;
    let now_s = now();
    let grace_start = now_s - p.settings.grace.as_secs() as i64;
    let records: HashMap<String, (Option<i64>, i64)> =
        p.db.all()?
            .into_iter()
            .map(|r| (r.package.file_name, (r.last_indexed_at, r.added_at)))
            .collect();

    let mut candidates = Vec::new();
    let mut obsolete = Vec::new();
    for object in &objects {
        if let Some(name) = keys::package_file_name(&object.key) {
            report.packages += 1;
            if published.contains(name) {
                continue;
            }
            let recent = match records.get(name) {
                Some((Some(indexed), _)) => *indexed > grace_start,
                Some((None, added)) => *added > grace_start,
                None => modified_secs(object).is_none_or(|m| m > grace_start),
            };
            if recent {
                report.kept_in_grace.push(name.to_owned());
            } else {
                candidates.push(name.to_owned());
            }
        } else if let Some(name) = keys::obsolete_file_name(&object.key) {
            let retention_start = now_s - p.settings.obsolete_retention.as_secs() as i64;
            if modified_secs(object).is_some_and(|m| m <= retention_start) {
                obsolete.push(name.to_owned());
            }
        }
    }

    let cap = (report.packages as f64 * p.settings.max_prune_share).floor() as usize;
    if candidates.len() > cap && !force {
        report.refused = Some(format!(
            "{} of {} packages are unreferenced, more than the {:.0} % one run may move ({cap}); nothing was \
             moved. Check that the published index is complete; if these packages really are obsolete, run \
             `buildmaster prune --force`",
            candidates.len(),
            report.packages,
            p.settings.max_prune_share * 100.0
        ));
        return Ok(report);
    }
    report.moved = candidates;
    report.expired = obsolete;
    if dry_run {
        return Ok(report);
    }
    for name in &report.moved {
        move_to_obsolete(p, name).await?;
    }
    for name in &report.expired {
        let key = keys::obsolete(name).map_err(|e| PublishError::Refused(e.to_string()))?;
        p.storage.delete(&key).await?;
        crash_point("after-expire");
    }
    // Uploads run under the publish lock we hold, so nothing this old can still be in progress.
    report.leftovers_removed = p.storage.sweep_leftovers(p.settings.grace).await?;
    Ok(report)
}

/// Copy, delete, then forget the record and the local stub: a crash in between leaves a copy in
/// `.obsolete/` and the original, and the next run finishes the move.
async fn move_to_obsolete(p: &mut Publisher, name: &str) -> Result<(), PublishError> {
    let from = keys::package(name).map_err(|e| PublishError::Refused(e.to_string()))?;
    let to = keys::obsolete(name).map_err(|e| PublishError::Refused(e.to_string()))?;
    p.storage.copy(&from, &to).await?;
    crash_point("after-obsolete-copy");
    p.storage.delete(&from).await?;
    crash_point("after-obsolete-delete");
    let stub = p.state.packages().join(name);
    if std::fs::metadata(&stub).is_ok_and(|m| m.len() == 0) {
        std::fs::remove_file(&stub).map_err(|e| PublishError::io(&stub, e))?;
    }
    p.db.remove(&[name.to_owned()])?;
    Ok(())
}

/// Canonical file names the index currently published in the bucket names. A bucket without a
/// published index while the database knows packages is suspicious: refuse.
async fn published_names(p: &Publisher) -> Result<HashSet<String>, PublishError> {
    let bytes = match p.storage.get_bytes(&keys::top(keys::REPO), MAX_REPO_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(PublishError::Refused(format!(
                "{} holds no published index ('{}'); publish before pruning (nothing was changed)",
                p.storage.describe(),
                keys::REPO
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let repo = ImplicitRepository::of(&p.state);
    let packages = repo.format.indexed_packages(&bytes).map_err(|e| {
        PublishError::Refused(format!(
            "the published '{}' cannot be decoded ({e}); not pruning",
            keys::REPO
        ))
    })?;
    Ok(packages.into_iter().map(|p| p.file_name).collect())
}

fn modified_secs(object: &ObjectMeta) -> Option<i64> {
    object
        .modified
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d: Duration| d.as_secs() as i64)
}
