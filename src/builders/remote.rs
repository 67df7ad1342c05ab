//! A builder's life: its transport — an SSH connection and SFTP session ([`SshHost`]), or the master
//! itself for a builder without `[ssh]` ([`LocalHost`]) — its cache listing and health, and the one
//! function that handles losing it ([`RemoteBuilder::lose`]). Everything a build does goes through
//! the one flow in [`super::build`]; nothing here depends on which transport it is, except opening it.
//!
//! On every (re)connect the builder is set up from scratch, because anything could have changed while
//! it was away: the transport is opened, the toolchain's setup files (the builder config) are
//! written, the cache is listed again (stale `.upload` files removed) and pruned of packages that left
//! the repository (system packages kept), as HaikuPorter's `_setupForBuilding` does, and a builder
//! configured without network checks that it can isolate its builds. The cache listing is never
//! carried across connections (HaikuPorter only ever appended to it, report §9.15).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster_storage::StorageBackend;
use tokio_util::sync::CancellationToken;

use super::build::{self, housekeeping_limits, BuildOutcome, BuildRequest, ResultDirs, Session};
use super::builder_conf::BuilderConfValues;
use super::cache::{CacheListing, KeepSource, PackageCache};
use super::config::BuilderSpec;
use super::connection::Connection;
use super::error::{BuilderError, ErrorClass};
use super::exec::OutputSink;
use super::host::BuilderHost;
use super::local::LocalHost;
use super::network;
use super::sftp::Sftp;
use super::ssh_host::SshHost;
use super::state::{BuilderState, Health, ReconnectPolicy};
use crate::toolchains::haikuporter::HaikuPorter;
use crate::toolchains::Toolchain;

/// How the master reaches the builder.
enum Transport {
    /// Over SSH (boxed: a connection and two SFTP sessions are much larger than the local host).
    Ssh(Box<SshHost>),
    /// The master itself.
    Local(LocalHost),
}

impl Transport {
    fn host(&self) -> &dyn BuilderHost {
        match self {
            Self::Ssh(host) => host.as_ref(),
            Self::Local(host) => host,
        }
    }

    /// Whether the transport is gone (the master itself never goes).
    fn is_closed(&self) -> bool {
        match self {
            Self::Ssh(host) => host.connection().is_closed(),
            Self::Local(_) => false,
        }
    }
}

/// A live transport and what was learnt on it.
struct Live {
    transport: Transport,
    listing: CacheListing,
    /// The network-isolation prefix of the build step (see [`network::prepare`]).
    isolation: Vec<String>,
}

/// A builder, reached over SSH or (without `[ssh]`) the master itself.
pub struct RemoteBuilder {
    spec: BuilderSpec,
    storage: Option<Arc<dyn StorageBackend>>,
    toolchain: Arc<dyn Toolchain>,
    dirs: ResultDirs,
    health: Health,
    live: Option<Live>,
    /// What the prune on connect keeps; `None`: no prune on connect.
    keep: Option<KeepSource>,
}

impl RemoteBuilder {
    /// A HaikuPorter builder not yet connected. `storage` serves dependencies whose spool files are
    /// stubs.
    pub fn new(
        spec: BuilderSpec,
        storage: Option<Arc<dyn StorageBackend>>,
        conf: BuilderConfValues,
        dirs: ResultDirs,
        policy: ReconnectPolicy,
    ) -> Self {
        let toolchain: Arc<dyn Toolchain> = Arc::new(HaikuPorter::new(&spec, conf));
        Self {
            spec,
            storage,
            toolchain,
            dirs,
            health: Health::new(policy, Instant::now()),
            live: None,
            keep: None,
        }
    }

    /// Builds with `toolchain` instead of HaikuPorter (Debian, RPM).
    pub fn with_toolchain(mut self, toolchain: Arc<dyn Toolchain>) -> Self {
        self.toolchain = toolchain;
        self
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

    /// The build tool it runs (where a job's inputs go, its argument vector).
    pub fn toolchain(&self) -> &Arc<dyn Toolchain> {
        &self.toolchain
    }

    /// The storage its dependencies and inputs are streamed from, if any.
    pub fn storage(&self) -> Option<&Arc<dyn StorageBackend>> {
        self.storage.as_ref()
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

    /// The SFTP session, while connected over SSH (for checks and tools).
    pub fn sftp(&self) -> Option<&Sftp> {
        match &self.live.as_ref()?.transport {
            Transport::Ssh(host) => Some(host.sftp()),
            Transport::Local(_) => None,
        }
    }

    /// The SSH connection, while connected over SSH.
    pub fn connection(&self) -> Option<&Connection> {
        match &self.live.as_ref()?.transport {
            Transport::Ssh(host) => Some(host.connection()),
            Transport::Local(_) => None,
        }
    }

    /// The connected builder's machine and cache listing, for work on it that is not a build (the
    /// gate's tests on a builder, [`crate::gate::builder_tests`]); `None` while not connected.
    pub fn host_and_listing(&mut self) -> Option<(&dyn BuilderHost, &mut CacheListing)> {
        let live = self.live.as_mut()?;
        Some((live.transport.host(), &mut live.listing))
    }

    /// Whether the builder is set up and its transport still open.
    pub fn is_connected(&self) -> bool {
        self.live.as_ref().is_some_and(|l| !l.transport.is_closed())
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

    async fn open_transport(&self) -> Result<Transport, BuilderError> {
        let Some(target) = self.spec.ssh.as_ref() else {
            return Ok(Transport::Local(LocalHost::new(&self.spec.name)));
        };
        let conn = Connection::open(&self.spec.name, target, &self.spec.timeouts).await?;
        let sftp = Sftp::open(&conn, self.request_timeout()).await?;
        Ok(Transport::Ssh(Box::new(SshHost::new(conn, sftp))))
    }

    async fn setup(&self) -> Result<Live, BuilderError> {
        let transport = self.open_transport().await?;
        let host = transport.host();
        let mut listing = build::setup(host, &*self.toolchain).await?;
        let limits = housekeeping_limits(&self.spec, &CancellationToken::new());
        let isolation = network::prepare(host, self.spec.network, &limits).await?;
        let cache = PackageCache::new(host, self.toolchain.dependencies(), None);
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
        Ok(Live {
            transport,
            listing,
            isolation,
        })
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
        if !self.is_connected() {
            self.connect().await?;
        }
        self.health.set_busy(true);
        let result = {
            let live = self.live.as_mut().expect("connected above");
            let session = Session {
                spec: &self.spec,
                host: live.transport.host(),
                toolchain: &self.toolchain,
                storage: self.storage.clone(),
                isolation: &live.isolation,
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
        let cache = PackageCache::new(live.transport.host(), self.toolchain.dependencies(), None);
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
        if let Some(Live {
            transport: Transport::Ssh(host),
            ..
        }) = self.live.take()
        {
            (*host).close().await;
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
