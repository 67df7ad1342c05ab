//! `buildmaster push FILE… --to REPO…`: packages built elsewhere into many repositories at once.
//!
//! Every file is inspected and every check made before anything is uploaded ([`super::push_plan`]).
//! Then each distinct file is uploaded **once** into its format's content-addressed pool (already
//! stored: nothing is uploaded; a few files at a time) — [`store`], which runs while the publish lock
//! is being taken: a pool object is content-addressed, never replaced by other bytes and never deleted
//! (no prune touches pools), and no index names it before it is linked, so its upload needs no lock
//! and the lock's round trips cost a push nothing. Once all are up and the lock is held,
//! [`record_and_publish`] checks the files again against the records (the checks that read them may
//! have changed meanwhile: another push of the same name and version) and records and links each into
//! every target repository it fits — an architecture-independent package into every architecture —
//! and each repository whose links changed (now, or by an earlier push that could not publish) gets
//! its index published. A push refused at that second check, or one that cannot get the lock, leaves
//! its uploaded pool files unlinked: invisible to clients, and adopted by the next push of the same
//! bytes. The same bytes pushed again change nothing. With a gate configured, packages go through
//! [`crate::gate`] first and reach [`link_into`] only once promoted.
//!
//! A push killed anywhere converges on its rerun (or the next push): a pool file uploaded but not
//! recorded is found by its digest and adopted without another upload, links are recorded with their
//! repository's dirty mark in one transaction, and a dirty repository is published again. The crash
//! points `repos-pool-uploaded`, `repos-pool-recorded`, `repos-linked` and `repos-published` (before
//! the repository is marked published) let tests/repos_crash_poller.rs prove it.

use std::time::{Instant, SystemTime};

use futures::{StreamExt as _, TryStreamExt as _};

use buildmaster_storage::StorageBackend;

use crate::formats::Sign;
use crate::publish::crashpoint::crash_point;

use super::config::Repository;
use super::index_upload::{publish_index, IndexReport};
use super::pool_store::{place, upload_once};
use super::push_plan::{check, Inspected, Planned};
use super::records::{PoolPackage, Records};
use super::{keys, Formats, RepoError};

pub use super::push_plan::select;

/// Pool files uploaded at once by one push: enough to overlap round trips and the storage's own
/// writes, few enough that a push of many large files does not open them all (an S3 multipart upload
/// holds several part buffers of its own).
const UPLOADS_AT_ONCE: usize = 4;

/// Pool files uploaded at once when every file of the push is at most [`SMALL_FILE_BYTES`]: a typical
/// push of a few packages goes up in one round of requests instead of three (bench/repos: 10 files,
/// each a HEAD and a PUT, plus the filesystem backend's fsyncs).
const SMALL_UPLOADS_AT_ONCE: usize = 16;

/// A pool file this small is sent in one request (below the S3 backend's default 16 MiB multipart
/// threshold), so [`SMALL_UPLOADS_AT_ONCE`] of them buffer at most 64 MiB.
const SMALL_FILE_BYTES: u64 = 4 << 20;

/// Milliseconds since `started`, for the debug log's phase timings (bench/repos/run.sh reads them).
fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

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

/// A push's files checked and stored in their pools, not yet recorded or linked: what
/// [`store`] hands to [`record_and_publish`].
pub struct Stored {
    planned: Vec<Planned>,
    pools: Vec<PoolPackage>,
    /// Per file: uploaded by this push (false: storage held it already, or an earlier file of the push
    /// was the same bytes).
    uploaded: Vec<bool>,
    signers: Vec<Option<Box<dyn Sign>>>,
}

/// Checks the `inspected` files against `targets` and the records as they are now, loads the targets'
/// signing keys, and uploads each distinct file once into its pool. Needs no publish lock: pool
/// objects are content-addressed, never overwritten with other bytes and never deleted, and nothing
/// names them until they are linked (see the module's documentation).
pub async fn store(
    storage: &dyn StorageBackend,
    records: &Records,
    formats: &Formats,
    targets: &[&Repository],
    inspected: Vec<Inspected>,
    now: SystemTime,
) -> Result<Stored, RepoError> {
    let started = Instant::now();
    let planned = check(records, formats, targets, inspected)?;
    let signers = load_signers(formats, targets)?;
    let now_secs = super::unix_seconds(now);
    let pools: Vec<PoolPackage> = planned
        .iter()
        .map(|item| item.pool_package(targets, now_secs))
        .collect();
    tracing::debug!(packages = pools.len(), ms = ms_since(started), "packages checked");
    let started = Instant::now();
    // Each distinct file's upload is independent of the others: a few at a time, so that one file's
    // round trips and the storage's fsyncs overlap the next one's. Recorded only once all are up.
    // The same bytes given twice are uploaded once: the later copies are already stored.
    let at_once = match pools.iter().all(|p| p.package.size <= SMALL_FILE_BYTES) {
        true => SMALL_UPLOADS_AT_ONCE,
        false => UPLOADS_AT_ONCE,
    };
    let mut seen = std::collections::HashSet::new();
    let uploads: Vec<_> = planned
        .iter()
        .zip(&pools)
        .map(|(item, pool)| (item, pool, seen.insert(pool.pool_key.as_str())))
        .collect();
    let uploaded: Vec<bool> = futures::stream::iter(uploads)
        .map(|(item, pool, first)| async move {
            match first {
                true => upload_once(storage, pool, &item.path).await,
                false => Ok(false),
            }
        })
        .buffered(at_once)
        .try_collect()
        .await?;
    tracing::debug!(ms = ms_since(started), "pool files uploaded");
    Ok(Stored {
        planned,
        pools,
        uploaded,
        signers,
    })
}

/// Under the publish lock: checks the `stored` files again against the records (another push may
/// have recorded the same name and version since [`store`] looked), records them and links each into
/// every target it fits, then publishes every target whose index is behind its links — those this
/// push changed, and those an earlier push linked but could not publish (a storage outage, a crash),
/// so that a retry of the same push completes it.
pub async fn record_and_publish(
    storage: &dyn StorageBackend,
    records: &mut Records,
    formats: &Formats,
    targets: &[&Repository],
    stored: Stored,
    now: SystemTime,
) -> Result<PushReport, RepoError> {
    let Stored {
        planned,
        pools,
        uploaded,
        signers,
    } = stored;
    let again = planned.iter().map(Planned::inspected).collect();
    check(records, formats, targets, again)?;
    let started = Instant::now();
    let mut report = PushReport::default();
    let now_secs = super::unix_seconds(now);
    // One transaction (one fsync) for all the pool records, and one for all the links with their
    // repositories' dirty marks.
    records.insert_pools(&pools)?;
    let mut links = Vec::with_capacity(planned.len());
    for ((item, pool), uploaded) in planned.iter().zip(&pools).zip(uploaded) {
        if uploaded {
            report.uploaded.push(item.package.file_name.clone());
        } else {
            report.already_stored.push(item.package.file_name.clone());
        }
        // This file's pool record is committed, its links are not.
        crash_point("repos-pool-recorded");
        links.push((pool, item.targets.iter().map(|&t| targets[t]).collect()));
    }
    report
        .linked
        .extend(link_all(storage, records, formats, &links, now_secs).await?);
    tracing::debug!(ms = ms_since(started), "pool files recorded and linked");
    crash_point("repos-linked");
    report.published = publish_dirty(storage, records, formats, targets, &signers, now).await?;
    Ok(report)
}

/// The signers of `targets`, by index. Loaded before anything is uploaded: a missing or unusable key
/// stops a push with nothing stored.
pub fn load_signers(
    formats: &Formats,
    targets: &[&Repository],
) -> Result<Vec<Option<Box<dyn Sign>>>, RepoError> {
    targets
        .iter()
        .map(|repository| formats.signer(repository))
        .collect()
}

/// Links the stored pool file `pool` into `repositories` (placing a copy first where the format fixes
/// the path); the new links, as (file name, repository id).
pub async fn link_into(
    storage: &dyn StorageBackend,
    records: &mut Records,
    formats: &Formats,
    pool: &PoolPackage,
    repositories: &[&Repository],
    now_secs: i64,
) -> Result<Vec<(String, String)>, RepoError> {
    link_all(
        storage,
        records,
        formats,
        &[(pool, repositories.to_vec())],
        now_secs,
    )
    .await
}

/// Links each stored pool file into its repositories, all in one transaction; where a format fixes
/// the path, every copy is placed first, so that a link always has its copy, whatever crash follows.
/// The new links, as (file name, repository id).
async fn link_all(
    storage: &dyn StorageBackend,
    records: &mut Records,
    formats: &Formats,
    links: &[(&PoolPackage, Vec<&Repository>)],
    now_secs: i64,
) -> Result<Vec<(String, String)>, RepoError> {
    let mut wanted = Vec::new();
    for (pool, repositories) in links {
        let fixed_path = formats.get(pool.format)?.fixed_path(&pool.package);
        for repository in repositories {
            if let Some(path) = &fixed_path {
                place(storage, pool, &keys::index_key(repository, path)).await?;
            }
            wanted.push((*pool, repository.id()));
        }
    }
    let rows: Vec<(&str, _, &str)> = wanted
        .iter()
        .map(|(pool, id)| (*id, pool.format, pool.package.sha256.as_str()))
        .collect();
    let new = records.link_all(&rows, now_secs)?;
    Ok(wanted
        .iter()
        .zip(new)
        .filter(|(_, new)| *new)
        .map(|((pool, id), _)| (pool.package.file_name.clone(), id.to_string()))
        .collect())
}

/// Publishes each of `targets` whose links changed since its index was last published; `signers` by
/// target index.
pub async fn publish_dirty(
    storage: &dyn StorageBackend,
    records: &mut Records,
    formats: &Formats,
    targets: &[&Repository],
    signers: &[Option<Box<dyn Sign>>],
    now: SystemTime,
) -> Result<Vec<(String, IndexReport)>, RepoError> {
    let mut published = Vec::new();
    for (t, repository) in targets.iter().enumerate() {
        if !records.is_dirty(repository.id())? {
            continue;
        }
        let format = formats.get(repository.format())?;
        let started = Instant::now();
        let index = publish_index(storage, records, repository, &*format, signers[t].as_deref(), now).await?;
        tracing::debug!(
            repository = repository.id(),
            ms = ms_since(started),
            "index published"
        );
        published.push((repository.id().to_string(), index));
    }
    Ok(published)
}
