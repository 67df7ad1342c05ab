//! One push as every front end runs it — `buildmaster push` and the API's `POST /api/push` — against an
//! instance: its state directory, storage, repositories and formats. The push holds the publish lock
//! (one writer per bucket, shared with the HaikuPorts publish and prune); when another writer holds
//! it, the push waits a bounded time for it instead of failing at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use buildmaster_storage::StorageBackend;

use super::config::Repository;
use super::prune::{prune_indexes, IndexPrune};
use super::push::{push, select, PushReport};
use super::records::Records;
use super::{Formats, RepoError};
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
            state,
            storage,
            repositories,
            formats: Formats::available(),
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

    /// Pushes `files` into the repositories matching `patterns` and publishes the changed ones.
    pub async fn push(&self, files: &[PathBuf], patterns: &[String]) -> Result<PushReport, RepoError> {
        let targets = select(&self.repositories, patterns)?;
        let lock = self.lock().await?;
        let result = async {
            let mut records = Records::open(&self.state.database())?;
            push(
                &*self.storage,
                &mut records,
                &self.formats,
                &targets,
                files,
                SystemTime::now(),
            )
            .await
        }
        .await;
        let released = lock.release(&*self.storage).await;
        let report = result?;
        released.map_err(RepoError::Lock)?;
        Ok(report)
    }

    /// Prunes every repository's superseded index files (see [`super::prune`]); per repository id, what
    /// was (or, on a dry run, would be) deleted.
    pub async fn prune(&self, dry_run: bool) -> Result<Vec<(String, IndexPrune)>, RepoError> {
        let lock = self.lock().await?;
        let result = async {
            let mut records = Records::open(&self.state.database())?;
            let mut out = Vec::new();
            for repository in &self.repositories {
                let pruned = prune_indexes(
                    &*self.storage,
                    &mut records,
                    repository,
                    SystemTime::now(),
                    dry_run,
                )
                .await?;
                out.push((repository.id().to_string(), pruned));
            }
            Ok::<_, RepoError>(out)
        }
        .await;
        let released = lock.release(&*self.storage).await;
        let report = result?;
        released.map_err(RepoError::Lock)?;
        Ok(report)
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
