//! One push as every front end runs it — `buildmaster push` and the API's `POST /api/push` — against an
//! instance: its state directory, storage, repositories and formats. The push holds the publish lock
//! (one writer per bucket, shared with the HaikuPorts publish and prune); when another writer holds
//! it, the push waits a bounded time for it instead of failing at once.
//!
//! A writer killed while holding the lock does not block the next one: the kernel drops its `flock`,
//! and the bucket lock it leaves names this instance's state directory, which
//! [`PublishLock::acquire`] takes over at once (holding the `flock` proves the holder is gone). Crash
//! points `repos-locked` (lock taken, nothing done) and `repos-unlocking` (work done, lock not yet
//! released) let tests/repos_crash_poller.rs prove it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use buildmaster_storage::StorageBackend;

use super::config::Repository;
use super::prune::{prune_indexes, IndexPrune};
use super::push::{push, select, PushReport};
use super::records::Records;
use super::{Formats, RepoError};
use crate::publish::crashpoint::crash_point;
use crate::publish::lock::PublishLock;
use crate::publish::PublishError;
use crate::state::StateDir;

/// How long a push waits for the publish lock another writer holds.
const LOCK_WAIT: Duration = Duration::from_secs(120);
/// Pause between attempts to take the lock.
const LOCK_RETRY: Duration = Duration::from_millis(500);

/// An instance's repositories, ready to be pushed to.
pub struct PushService {
    state: StateDir,
    storage: Arc<dyn StorageBackend>,
    repositories: Vec<Repository>,
    formats: Formats,
    lock_ttl: Duration,
}

impl PushService {
    /// The service of the instance in `state`.
    pub fn new(state: StateDir, storage: Arc<dyn StorageBackend>, repositories: Vec<Repository>) -> Self {
        Self {
            // The cache of compressed index chunks (src/formats/chunks.rs) lives in the state.
            formats: Formats::with_index_cache(&state.root().join("index-cache")),
            state,
            storage,
            repositories,
            lock_ttl: crate::publish::PublishSettings::default().lock_ttl,
        }
    }

    /// Where uploads through the API are written before they are pushed (`<state>/incoming`).
    pub fn incoming_dir(&self) -> PathBuf {
        self.state.root().join("incoming")
    }

    /// The configured repositories.
    pub fn repositories(&self) -> &[Repository] {
        &self.repositories
    }

    /// How many packages each configured repository has linked, in configuration order (read without
    /// the publish lock: a count, not a snapshot to act on).
    pub fn linked_counts(&self) -> Result<Vec<u64>, RepoError> {
        let records = Records::open(&self.state.database())?;
        self.repositories
            .iter()
            .map(|r| Ok(records.count_linked(r.id())?))
            .collect()
    }

    /// Pushes `files` into the repositories matching `patterns` and publishes the changed ones.
    pub async fn push(&self, files: &[PathBuf], patterns: &[String]) -> Result<PushReport, RepoError> {
        let targets = select(&self.repositories, patterns)?;
        self.locked(async |records: &mut Records| {
            push(
                &*self.storage,
                records,
                &self.formats,
                &targets,
                files,
                SystemTime::now(),
            )
            .await
        })
        .await
    }

    /// Prunes every repository's superseded index files (see [`super::prune`]); per repository id, what
    /// was (or, on a dry run, would be) deleted.
    pub async fn prune(&self, dry_run: bool) -> Result<Vec<(String, IndexPrune)>, RepoError> {
        self.locked(async |records: &mut Records| {
            let mut out = Vec::new();
            for repository in &self.repositories {
                let now = SystemTime::now();
                let pruned = prune_indexes(&*self.storage, records, repository, now, dry_run).await?;
                out.push((repository.id().to_string(), pruned));
            }
            Ok(out)
        })
        .await
    }

    /// Runs `work` on the records under the publish lock, and releases the lock whatever `work` did
    /// (its error first, then a failed release).
    async fn locked<T>(
        &self,
        work: impl AsyncFnOnce(&mut Records) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        let lock = self.lock().await?;
        crash_point("repos-locked");
        let result = match Records::open(&self.state.database()) {
            Ok(mut records) => work(&mut records).await,
            Err(err) => Err(err.into()),
        };
        crash_point("repos-unlocking");
        let released = lock.release(&*self.storage).await;
        let value = result?;
        released.map_err(RepoError::Lock)?;
        Ok(value)
    }

    /// Takes the publish lock, waiting up to [`LOCK_WAIT`] while another writer holds it.
    async fn lock(&self) -> Result<PublishLock, RepoError> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match PublishLock::acquire(&self.state, &*self.storage, self.lock_ttl).await {
                Ok(lock) => return Ok(lock),
                Err(PublishError::Locked(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(LOCK_RETRY).await
                }
                Err(err) => return Err(RepoError::Lock(err)),
            }
        }
    }
}
