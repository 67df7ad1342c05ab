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
use super::listing_cache::ListingCache;
use super::prune::{prune_indexes, IndexPrune};
use super::push::{record_and_publish, select, store, PushReport};
use super::push_plan::inspect;
use super::records::{Records, RecordsError};
use super::{Formats, RepoError};
use crate::gate::audit::AuditEntry;
use crate::gate::flow::{GateContext, GatedReport};
use crate::gate::promotion::{ManualPromotion, PromoteRefused};
use crate::gate::store::{GateStore, Pipeline};
use crate::gate::waivers::NewWaiver;
use crate::publish::crashpoint::crash_point;
use crate::publish::lock::PublishLock;
use crate::publish::PublishError;
use crate::state::StateDir;

/// How long a push waits for the publish lock another writer holds.
const LOCK_WAIT: Duration = Duration::from_secs(120);
/// Pause between attempts to take the lock.
const LOCK_RETRY: Duration = Duration::from_millis(500);

/// What a push did: published at once (no gate), or staged behind the gate.
#[derive(Debug)]
pub enum PushOutcome {
    /// Uploaded, linked and published.
    Published(PushReport),
    /// Staged; its pipeline says whether it was promoted.
    Gated(Box<GatedReport>),
}

/// An instance's repositories, ready to be pushed to.
pub struct PushService {
    state: StateDir,
    storage: Arc<dyn StorageBackend>,
    repositories: Vec<Repository>,
    formats: Formats,
    lock_ttl: Duration,
    /// The staging storage, when the instance is gated (`[gate]`).
    staging: Option<Arc<dyn StorageBackend>>,
    /// `[gate] manual_promotion`: the repositories promoted by hand.
    manual: ManualPromotion,
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
            staging: None,
            manual: ManualPromotion::default(),
        }
    }

    /// The service of the instance in `state` as `config` describes it: gated when `[gate]` names a
    /// staging storage (opened now, so that a wrong one is named before anything is pushed).
    pub async fn open(
        state: StateDir,
        storage: Arc<dyn StorageBackend>,
        repositories: Vec<Repository>,
        config: &crate::config::instance::InstanceConfig,
    ) -> Result<Self, RepoError> {
        let mut repositories = repositories;
        // Tests on a builder run on `[[builders]]` entries: bound now, so a wrong name fails here.
        crate::gate::builder_tests::bind(&mut repositories, &config.builders)
            .map_err(|e| RepoError::Refused(e.to_string()))?;
        crate::gate::builder_tests::served::bind_served(&mut repositories, &state, &storage);
        let mut service = Self::new(state, storage, repositories);
        let Some(gate) = &config.gate else {
            return Ok(service);
        };
        let refused = |e: &dyn std::fmt::Display| {
            RepoError::Refused(format!("[gate] staging {}: {e}", gate.staging.display()))
        };
        let settings = crate::config::storage::StorageConfig::load(&gate.staging).map_err(|e| refused(&e))?;
        let staging = crate::storage::open_config(&settings)
            .await
            .map_err(|e| refused(&e))?;
        service.manual = ManualPromotion::new(&gate.manual_promotion).map_err(RepoError::Refused)?;
        Ok(service.with_gate(staging))
    }

    /// Gates every push: packages are staged in `staging` and promoted when their checks pass.
    pub fn with_gate(mut self, staging: Arc<dyn StorageBackend>) -> Self {
        self.staging = Some(staging);
        self
    }

    /// Whether pushes are gated.
    pub fn gated(&self) -> bool {
        self.staging.is_some()
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

    /// Pushes `files` into the repositories matching `patterns` on behalf of `who` (the audit log's
    /// name): published at once, or staged and gated when the instance has a gate.
    pub async fn push(
        &self,
        files: &[PathBuf],
        patterns: &[String],
        who: &str,
    ) -> Result<PushOutcome, RepoError> {
        self.push_observed(files, patterns, who, &|_| ()).await
    }

    /// [`Self::push`], telling `on_pipeline` the gated push's pipeline number as soon as it exists
    /// (before its checks run).
    pub async fn push_observed(
        &self,
        files: &[PathBuf],
        patterns: &[String],
        who: &str,
        on_pipeline: &dyn Fn(i64),
    ) -> Result<PushOutcome, RepoError> {
        let targets = select(&self.repositories, patterns)?;
        if self.staging.is_some() {
            return self
                .with_gate_context(who, on_pipeline, async |cx| {
                    crate::gate::flow::push(cx, &targets, files, who, SystemTime::now()).await
                })
                .await
                .map(|report| PushOutcome::Gated(Box::new(report)));
        }
        // The files are inspected, checked and stored in their pools while the lock's round trips are
        // in flight (see `push::store`); recorded, linked and published under it.
        let started = Instant::now();
        let now = SystemTime::now();
        let records = Records::open(&self.state.database())?;
        let storing = async {
            let inspected = inspect(&self.formats, files).await?;
            store(&*self.storage, &records, &self.formats, &targets, inspected, now).await
        };
        // The targets' cached listings are read meanwhile too (a 10,000-package one: ~3 MB).
        let wanted: Vec<_> = targets.iter().map(|r| (r.id().to_string(), r.format())).collect();
        let cache = ListingCache::in_dir(self.listings_dir());
        let preload = tokio::task::spawn_blocking(move || cache.load_all(&wanted));
        let (stored, lock, preloaded) = futures::join!(storing, self.lock(), preload);
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1e3,
            "packages stored and publish lock taken"
        );
        // A file refused (corrupt, wrong architecture, …) is the error to report, even when the lock
        // could not be taken either: it is certain, and fixing it needs no one else.
        let (stored, lock) = match (stored, lock) {
            (Ok(stored), lock) => (stored, lock?),
            (Err(refused), Ok(lock)) => {
                if let Err(e) = lock.release(&*self.storage).await {
                    // This instance takes its own leftover lock over at once (see the module docs).
                    tracing::warn!(error = %e, "bucket lock not released after a refused push");
                }
                return Err(refused);
            }
            (Err(refused), Err(_)) => return Err(refused),
        };
        self.with_lock(lock, Ok(records), async |records: &mut Records| {
            // A failed read ahead only means the listing is read when it is needed.
            records.preload_listings(preloaded.unwrap_or_default());
            record_and_publish(&*self.storage, records, &self.formats, &targets, stored, now).await
        })
        .await
        .map(PushOutcome::Published)
    }

    /// Records `waiver` by `who` (audited), then re-evaluates the open pipelines; the waiver's number
    /// and the pipelines promoted. Its repository must be configured (or be the HaikuPorts one).
    pub async fn waive(&self, waiver: &NewWaiver, who: &str) -> Result<(i64, Vec<i64>), RepoError> {
        let known = waiver.repository == crate::gate::buildrun::HAIKUPORTS
            || self.repositories.iter().any(|r| r.id() == waiver.repository);
        if !known {
            return Err(RepoError::UnknownRepository(format!(
                "the waiver names repository {}, which is not configured",
                waiver.repository
            )));
        }
        let now = SystemTime::now();
        self.with_gate_context(who, &|_| (), async |cx| {
            crate::gate::flow::waive(cx, waiver, who, now).await
        })
        .await
    }

    /// `who` asks to promote green pipeline `id` by hand (audited); the pipelines promoted, or why
    /// `id` cannot be.
    pub async fn request_promotion(
        &self,
        id: i64,
        who: &str,
    ) -> Result<Result<Vec<i64>, PromoteRefused>, RepoError> {
        self.with_gate_context(who, &|_| (), async |cx| {
            crate::gate::flow::request_promotion(cx, id, who, SystemTime::now()).await
        })
        .await
    }

    /// The newest `limit` pipelines (check logs left out), newest first.
    pub fn pipelines(&self, limit: u32) -> Result<Vec<Pipeline>, RepoError> {
        Ok(GateStore::open(&self.state.database())?.pipelines(limit)?)
    }

    /// Pipeline `id` with its checks' logs.
    pub fn pipeline(&self, id: i64) -> Result<Option<Pipeline>, RepoError> {
        Ok(GateStore::open(&self.state.database())?.pipeline(id)?)
    }

    /// The newest `limit` audit entries numbered below `before`, newest first.
    pub fn audit_log(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>, RepoError> {
        Ok(GateStore::open(&self.state.database())?.audit_log(limit, before)?)
    }

    /// Runs `work` with the gate's context under the publish lock, on behalf of `trigger`.
    async fn with_gate_context<T>(
        &self,
        trigger: &str,
        on_pipeline: &dyn Fn(i64),
        work: impl AsyncFnOnce(&mut GateContext<'_>) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        let staging = self.staging.as_deref().ok_or_else(|| {
            RepoError::Refused("this instance has no gate: add [gate] staging = … to buildmaster.toml".into())
        })?;
        self.locked(async |records: &mut Records| {
            let mut store = GateStore::open(&self.state.database())?;
            let mut cx = GateContext {
                served: &*self.storage,
                staging,
                records,
                store: &mut store,
                formats: &self.formats,
                repositories: &self.repositories,
                manual: &self.manual,
                trigger,
                on_pipeline,
            };
            work(&mut cx).await
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
        self.with_lock(lock, Records::open(&self.state.database()), work)
            .await
    }

    /// [`Self::locked`] with a `lock` already taken and `records` already opened (a push opens them
    /// before the lock, to check and store its files while the lock's round trips are in flight).
    async fn with_lock<T>(
        &self,
        lock: PublishLock,
        records: Result<Records, RecordsError>,
        work: impl AsyncFnOnce(&mut Records) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        crash_point("repos-locked");
        let result = match records {
            Ok(records) => work(&mut records.with_listing_cache(self.listings_dir())).await,
            Err(err) => Err(err.into()),
        };
        crash_point("repos-unlocking");
        let released = lock.release(&*self.storage).await;
        let value = result?;
        released.map_err(RepoError::Lock)?;
        Ok(value)
    }

    /// Where the repositories' listings are cached: beside the formats' chunk caches
    /// (`index-cache/<format>/`).
    fn listings_dir(&self) -> PathBuf {
        self.state.root().join("index-cache").join("listings")
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
