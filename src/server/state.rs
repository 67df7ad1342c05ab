//! What every handler shares: where the output tree and database are, the API tokens, the daemon's request
//! channel and status `watch` (the daemon's own types, `daemon::control`), the metrics and the shutdown
//! token that ends open event streams.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::auth::{ApiToken, TokenError};
use super::metrics::Metrics;
use super::output::OutputTree;
use super::packages::PackageIndex;
use super::records::RecordCache;
use super::tokens::TokenRegistry;
use crate::config::instance::ServeSection;
use crate::daemon::control::{DaemonStatus, Request};
use crate::state::StateDir;

/// How often streams look at the files when nobody notifies them: the file-change fallback for an output
/// tree written by another process (an adopted HaikuPorter instance, or `buildmaster buildrun` run by hand).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The output tree in HaikuPorter's frontend layout (`<state>/output`).
    pub output_dir: PathBuf,
    /// The state database (package search); `None` or a missing file means no packages.
    pub database: Option<PathBuf>,
    /// The API token; `None` disables every mutating endpoint.
    pub token: Option<ApiToken>,
    /// How often event and log streams re-check files. Default [`DEFAULT_POLL_INTERVAL`].
    pub poll_interval: Duration,
}

impl ServerConfig {
    /// The configuration for an instance: its output tree and database, and the token from
    /// `BUILDMASTER_API_TOKEN` or `[serve] token_file`.
    pub fn for_instance(state: &StateDir, serve: &ServeSection) -> Result<Self, TokenError> {
        let token = ApiToken::load(
            std::env::var(super::auth::TOKEN_ENV).ok(),
            serve.token_file.as_deref(),
        )?;
        if token.is_none() {
            tracing::warn!(
                "no admin API token configured (BUILDMASTER_API_TOKEN or [serve] token_file): only named tokens \
                 (buildmaster token add) can use the mutating endpoints"
            );
        }
        Ok(Self {
            output_dir: state.output(),
            database: Some(state.database()),
            token,
            poll_interval: DEFAULT_POLL_INTERVAL,
        })
    }
}

/// Shared state of all handlers (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    output: OutputTree,
    token: Option<ApiToken>,
    control: mpsc::Sender<Request>,
    daemon: watch::Receiver<DaemonStatus>,
    metrics: Metrics,
    shutdown: CancellationToken,
    poll_interval: Duration,
    packages: PackageIndex,
    records: RecordCache,
    push: std::sync::OnceLock<Arc<crate::repos::service::PushService>>,
    tokens: std::sync::OnceLock<TokenRegistry>,
    /// What `POST /api/scratch` builds with: the instance's scratch builds, when it has a gate.
    scratch: std::sync::OnceLock<Arc<crate::scratch::run::ScratchContext>>,
    /// How many pushes are running (some answered early, `wait=false`): the server waits for them
    /// when it shuts down, so that none is cut off holding the publish lock.
    pushes: watch::Sender<usize>,
}

/// Short, and without the daemon's status (whose last error may quote a URL with credentials).
impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("output", &self.output)
            .field("token", &self.token)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state for `config`: requests go to the daemon through `control`, its status is read from
    /// `daemon`, metrics from `metrics` (the daemon and executor keep clones to update).
    pub fn new(
        config: ServerConfig,
        control: mpsc::Sender<Request>,
        daemon: watch::Receiver<DaemonStatus>,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                output: OutputTree::new(config.output_dir),
                token: config.token,
                control,
                daemon,
                metrics,
                shutdown: CancellationToken::new(),
                poll_interval: config.poll_interval,
                packages: PackageIndex::new(config.database),
                records: RecordCache::default(),
                push: std::sync::OnceLock::new(),
                tokens: std::sync::OnceLock::new(),
                scratch: std::sync::OnceLock::new(),
                pushes: watch::channel(0).0,
            }),
        }
    }

    /// Enables `POST /api/push` and `GET /api/repositories` with the instance's repositories (set
    /// once, before serving).
    pub fn set_push_service(&self, service: Arc<crate::repos::service::PushService>) {
        let _ = self.inner.push.set(service);
    }

    /// The push service, when the instance has repositories.
    pub fn push_service(&self) -> Option<&Arc<crate::repos::service::PushService>> {
        self.inner.push.get()
    }

    /// Enables `POST /api/scratch` with the instance's scratch builds (set once, before serving).
    pub fn set_scratch(&self, context: Arc<crate::scratch::run::ScratchContext>) {
        let _ = self.inner.scratch.set(context);
    }

    /// The scratch builds' context, when enabled.
    pub fn scratch(&self) -> Option<&Arc<crate::scratch::run::ScratchContext>> {
        self.inner.scratch.get()
    }

    /// Accepts the named tokens of the tokens file at `path` (`[serve] tokens_file`), re-read whenever
    /// it changes (set once, before serving).
    pub fn set_tokens_file(&self, path: PathBuf) {
        let _ = self.inner.tokens.set(TokenRegistry::new(path));
    }

    /// The named tokens, when a tokens file is configured.
    pub fn token_registry(&self) -> Option<&TokenRegistry> {
        self.inner.tokens.get()
    }

    /// Counts a push as running until the guard is dropped.
    pub fn push_running(&self) -> RunningPush {
        self.inner.pushes.send_modify(|n| *n += 1);
        RunningPush { app: self.clone() }
    }

    /// How many pushes are running.
    pub fn pushes_running(&self) -> usize {
        *self.inner.pushes.borrow()
    }

    /// Waits until no push is running.
    pub async fn pushes_finished(&self) {
        let mut running = self.inner.pushes.subscribe();
        let _ = running.wait_for(|n| *n == 0).await;
    }

    /// The output tree.
    pub fn output(&self) -> &OutputTree {
        &self.inner.output
    }

    /// The configured token, if any.
    pub fn token(&self) -> Option<&ApiToken> {
        self.inner.token.as_ref()
    }

    /// The channel to the daemon.
    pub fn control(&self) -> &mpsc::Sender<Request> {
        &self.inner.control
    }

    /// A receiver of the daemon's status.
    pub fn daemon_status(&self) -> watch::Receiver<DaemonStatus> {
        self.inner.daemon.clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Cancelled when the server shuts down; open streams end on it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// How often streams re-check files.
    pub fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    /// The package search index.
    pub fn packages(&self) -> &PackageIndex {
        &self.inner.packages
    }

    /// The cache of build records.
    pub fn records(&self) -> &RecordCache {
        &self.inner.records
    }
}

/// A running push, counted until dropped (see [`AppState::pushes_finished`]).
#[derive(Debug)]
pub struct RunningPush {
    /// Whose count to lower on drop.
    app: AppState,
}

impl Drop for RunningPush {
    fn drop(&mut self) {
        self.app.inner.pushes.send_modify(|n| *n = n.saturating_sub(1));
    }
}
