//! A remote builder: its connection, SFTP session, cache listing and health, and the one function that
//! handles losing it ([`RemoteBuilder::lose`]).
//!
//! On every (re)connect the builder is set up from scratch, because anything could have changed while
//! it was away: the connection and SFTP session are opened, the builder config is written, the cache
//! is listed again (stale `.upload` files removed) and pruned of packages that left the repository
//! (system packages kept), as HaikuPorter's `_setupForBuilding` does. The cache listing is never
//! carried across connections (HaikuPorter only ever appended to it, report §9.15).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster_storage::StorageBackend;
use tokio_util::sync::CancellationToken;

use super::build::{self, BuildOutcome, BuildRequest, ResultDirs, Session};
use super::builder_conf::{self, BuilderConfValues};
use super::cache::{CacheListing, KeepSource, PackageCache};
use super::config::BuilderSpec;
use super::connection::Connection;
use super::error::{BuilderError, ErrorClass};
use super::exec::OutputSink;
use super::sftp::Sftp;
use super::state::{BuilderState, Health, ReconnectPolicy};

/// A live connection and what was learnt on it.
struct Live {
    conn: Connection,
    sftp: Sftp,
    listing: CacheListing,
}

/// A builder reached over SSH.
pub struct RemoteBuilder {
    spec: BuilderSpec,
    storage: Option<Arc<dyn StorageBackend>>,
    conf: BuilderConfValues,
    dirs: ResultDirs,
    health: Health,
    live: Option<Live>,
    /// What the prune on connect keeps; `None`: no prune on connect.
    keep: Option<KeepSource>,
}

impl RemoteBuilder {
    /// A builder not yet connected. `storage` serves dependencies whose spool files are stubs.
    pub fn new(
        spec: BuilderSpec,
        storage: Option<Arc<dyn StorageBackend>>,
        conf: BuilderConfValues,
        dirs: ResultDirs,
        policy: ReconnectPolicy,
    ) -> Self {
        Self {
            spec,
            storage,
            conf,
            dirs,
            health: Health::new(policy, Instant::now()),
            live: None,
            keep: None,
        }
    }

    /// Prunes the cache on every connect, keeping what `keep` names then (HaikuPorter's
    /// `_removeObsoletePackages`).
    pub fn with_prune_on_connect(mut self, keep: KeepSource) -> Self {
        self.keep = Some(keep);
        self
    }

    /// The builder's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its spec.
    pub fn spec(&self) -> &BuilderSpec {
        &self.spec
    }

    /// Current state.
    pub fn state(&self) -> BuilderState {
        self.health.state
    }

    /// Health record (failures, next attempt, last error).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// What the cache held at the last scan, updated by transfers (only while connected).
    pub fn cache_listing(&self) -> Option<&CacheListing> {
        self.live.as_ref().map(|l| &l.listing)
    }

    /// The SFTP session, while connected (for checks and tools).
    pub fn sftp(&self) -> Option<&Sftp> {
        self.live.as_ref().map(|l| &l.sftp)
    }

    /// The connection, while connected.
    pub fn connection(&self) -> Option<&Connection> {
        self.live.as_ref().map(|l| &l.conn)
    }

    fn request_timeout(&self) -> Duration {
        // Long enough for a deep pipeline on a slow link; a dead builder is noticed by keepalive.
        let t = &self.spec.timeouts;
        (t.keepalive_interval * (t.keepalive_max as u32 + 2)).max(Duration::from_secs(30))
    }

    /// Connects and sets the builder up; on failure the builder goes reconnecting or lost.
    pub async fn connect(&mut self) -> Result<(), BuilderError> {
        self.live = None;
        match self.setup().await {
            Ok(live) => {
                self.live = Some(live);
                self.health.connected();
                tracing::info!(builder = self.spec.name, "builder available");
                Ok(())
            }
            Err(err) => {
                self.lose(&err);
                Err(err)
            }
        }
    }

    /// Connects if a (re)connection attempt is due; the periodic re-probe of lost builders.
    pub async fn reprobe_if_due(&mut self) -> Option<Result<(), BuilderError>> {
        if self.health.attempt_due(Instant::now()) {
            Some(self.connect().await)
        } else {
            None
        }
    }

    async fn setup(&self) -> Result<Live, BuilderError> {
        let target = self.spec.ssh.as_ref().ok_or_else(|| BuilderError::Key {
            builder: self.spec.name.clone(),
            reason: "no [ssh] section: this is a local builder".into(),
        })?;
        let conn = Connection::open(&self.spec.name, target, &self.spec.timeouts).await?;
        let sftp = Sftp::open(&conn, self.request_timeout()).await?;
        let paths = &self.spec.paths;
        if let Some(parent) = paths
            .builder_config
            .rsplit_once('/')
            .map(|(p, _)| p)
            .filter(|p| !p.is_empty())
        {
            sftp.mkdir_p(parent).await?;
        }
        let text = builder_conf::render(&self.spec.name, paths, &self.conf);
        sftp.write_small(&paths.builder_config, text.as_bytes()).await?;
        let cache = PackageCache::new(&self.spec.name, &sftp, &paths.cache, &paths.packages, None);
        let mut listing = cache.scan().await?;
        if let Some(keep) = self.keep.clone() {
            // The source may read the state database: off the async threads.
            let keep = tokio::task::spawn_blocking(move || keep())
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match keep {
                Ok(keep) => {
                    let pruned = cache.prune(&mut listing, &keep.repository, &keep.system).await?;
                    if !pruned.is_empty() {
                        tracing::info!(
                            builder = self.spec.name,
                            count = pruned.len(),
                            "pruned the cache on connect"
                        );
                    }
                }
                Err(reason) => {
                    tracing::warn!(builder = self.spec.name, %reason, "not pruning the cache on this connect")
                }
            }
        }
        Ok(Live { conn, sftp, listing })
    }

    /// Losing the builder is handled here and only here: log the reason once, drop the connection,
    /// move to reconnecting (with backoff) or lost.
    fn lose(&mut self, err: &BuilderError) {
        self.live = None;
        let state = self.health.connection_failed(&err.to_string(), Instant::now());
        tracing::warn!(builder = self.spec.name, %err, ?state, failures = self.health.failures, "builder connection lost");
    }

    /// Runs a build; connects first if needed. A transport error marks the builder lost/reconnecting
    /// and is returned for the scheduler to re-run the build elsewhere.
    pub async fn build(
        &mut self,
        req: &BuildRequest,
        sink: OutputSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, BuilderError> {
        if self.live.as_ref().is_none_or(|l| l.conn.is_closed()) {
            self.connect().await?;
        }
        self.health.set_busy(true);
        let result = {
            let live = self.live.as_mut().expect("connected above");
            let session = Session {
                spec: &self.spec,
                conn: &live.conn,
                sftp: &live.sftp,
                cache: PackageCache::new(
                    &self.spec.name,
                    &live.sftp,
                    &self.spec.paths.cache,
                    &self.spec.paths.packages,
                    self.storage.clone(),
                ),
            };
            build::run(&session, &mut live.listing, req, &self.dirs, sink, cancel).await
        };
        match &result {
            Err(err) if err.class() == ErrorClass::Transport => self.lose(err),
            Err(err) if err.class() == ErrorClass::Infrastructure => {
                let state = self
                    .health
                    .infrastructure_failed(&err.to_string(), Instant::now());
                tracing::warn!(builder = self.spec.name, %err, ?state, "builder infrastructure failure");
                if state == BuilderState::Lost {
                    self.live = None;
                }
            }
            _ => {
                self.health.infrastructure_ok();
                self.health.set_busy(false);
            }
        }
        result
    }

    /// Prunes the cache: keeps `keep` (the repository's packages) and every system package.
    pub async fn prune(
        &mut self,
        keep: &HashSet<String>,
        system: &HashSet<String>,
    ) -> Result<Vec<String>, BuilderError> {
        let Some(live) = self.live.as_mut() else {
            return Err(BuilderError::Lost {
                builder: self.spec.name.clone(),
                during: "prune (not connected)".into(),
            });
        };
        let cache = PackageCache::new(
            &self.spec.name,
            &live.sftp,
            &self.spec.paths.cache,
            &self.spec.paths.packages,
            None,
        );
        let result = cache.prune(&mut live.listing, keep, system).await;
        if let Err(err) = &result {
            if err.class() == ErrorClass::Transport {
                self.lose(err);
            }
        }
        result
    }

    /// Closes the connection (state stays as is).
    pub async fn disconnect(&mut self) {
        if let Some(live) = self.live.take() {
            live.sftp.close().await;
            live.conn.close().await;
        }
    }
}

/// How often the health task looks at a builder's schedule; attempts themselves follow the backoff and
/// re-probe intervals in [`Health`].
pub const HEALTH_TICK: Duration = Duration::from_millis(250);

/// Keeps a builder connected in the background: whenever a (re)connection attempt is due — reconnecting
/// with backoff, or lost and due for its periodic re-probe — it tries. Stops when `cancel` fires. A
/// failed attempt is logged by [`RemoteBuilder::connect`] and the loop carries on.
pub fn spawn_health_task(
    builder: Arc<tokio::sync::Mutex<RemoteBuilder>>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let name = match builder.try_lock() {
        Ok(b) => b.name().to_string(),
        Err(_) => "?".into(),
    };
    super::task::spawn_named("builder-health", &name, async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(HEALTH_TICK) => {}
            }
            // A busy builder is held by its build; never wait for it here.
            if let Ok(mut b) = builder.try_lock() {
                let _ = b.reprobe_if_due().await;
            }
        }
    })
}
