//! Prune of pushed repositories: content-addressed index files (apt's by-hash copies, RPM's
//! `<sha>-primary.xml.gz` …) that the current index no longer names are deleted once they have been
//! superseded for the repository's retention window *and* are older than the last
//! [`KEPT_GENERATIONS`] superseded generations — a client holding an older `InRelease` or
//! `repomd.xml` can still fetch everything it names for that long (apt fetches by hash; dnf keeps
//! metadata 48 h by default). Plainly named files are overwritten in place and need no prune. Pool
//! files are never unlinked today, so none is deleted.
//!
//! A file is deleted before it is forgotten: a prune killed in between (crash points
//! `repos-prune-deleted`, `repos-prune-forgotten`) leaves a record of an absent file, which the next
//! prune deletes again (deleting an absent key succeeds) and forgets.

use std::time::{Duration, SystemTime};

use buildmaster_storage::{ObjectKey, StorageBackend};

use super::config::Repository;
use super::keys;
use super::records::Records;
use super::RepoError;
use crate::publish::crashpoint::crash_point;

/// Superseded generations kept whatever their age (dak keeps by-hash copies 36 h; aptly one
/// generation): a burst of publishes never strands a client mid-update.
pub const KEPT_GENERATIONS: usize = 3;

/// What pruning one repository did (or would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexPrune {
    /// Keys deleted (or, on a dry run, that would be).
    pub deleted: Vec<String>,
    /// Superseded files kept (within the window or the kept generations).
    pub kept: usize,
}

/// Prunes `repository`'s superseded content-addressed index files.
pub async fn prune_indexes(
    storage: &dyn StorageBackend,
    records: &mut Records,
    repository: &Repository,
    now: SystemTime,
    dry_run: bool,
) -> Result<IndexPrune, RepoError> {
    let superseded = records.superseded_content(repository.id())?;
    let cutoff = super::unix_seconds(
        now.checked_sub(repository.index_retention)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let mut generations: Vec<i64> = superseded.iter().map(|(_, _, at)| *at).collect();
    generations.dedup();
    let oldest_kept_generation = generations.get(KEPT_GENERATIONS - 1).copied().unwrap_or(i64::MIN);
    let mut report = IndexPrune::default();
    for (path, sha256, superseded_at) in superseded {
        if superseded_at >= cutoff || superseded_at >= oldest_kept_generation {
            report.kept += 1;
            continue;
        }
        let key = keys::index_key(repository, &path);
        if !dry_run {
            let object = ObjectKey::new(key.clone()).map_err(|e| RepoError::Key(format!("{key}: {e}")))?;
            storage.delete(&object).await?;
            crash_point("repos-prune-deleted");
            records.forget_index(repository.id(), &path, &sha256)?;
            crash_point("repos-prune-forgotten");
        }
        report.deleted.push(key);
    }
    Ok(report)
}

/// The default retention window of a format's superseded index files.
pub fn default_retention(format: crate::formats::FormatKind) -> Duration {
    match format {
        // dak keeps by-hash copies 36 h.
        crate::formats::FormatKind::Debian => Duration::from_secs(36 * 3600),
        // dnf's default metadata_expire is 48 h.
        crate::formats::FormatKind::Rpm => Duration::from_secs(48 * 3600),
        // Haiku's index files are not content-addressed: nothing of theirs waits for prune.
        crate::formats::FormatKind::Haiku => Duration::from_secs(24 * 3600),
    }
}
