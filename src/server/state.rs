//! What every handler shares: where the output tree and database are, the API token, the channel to the
//! daemon, the daemon's status (a `watch` the daemon updates), the metrics and the shutdown token that ends
//! open event streams.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::auth::{ApiToken, TokenError};
use super::control::ControlRequest;
use super::metrics::Metrics;
use super::output::OutputTree;
use super::packages::PackageIndex;
use super::records::RecordCache;
use crate::config::instance::ServeSection;
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
                "no API token configured (BUILDMASTER_API_TOKEN or [serve] token_file): the API is read-only"
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

/// What the daemon itself is doing, beyond what `status.json` says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    /// Bumped by the daemon whenever a buildrun's files changed, so streams look at once.
    pub generation: u64,
    /// Paused by `POST /api/pause`: no new builds start.
    pub paused: bool,
    /// What the daemon is doing, in a few words (`"idle"`, `"publishing"`, `"polling the ports tree"`).
    pub activity: Option<String>,
}

/// The daemon's handle to tell the server (and through it every open UI) that something changed.
#[derive(Clone, Debug)]
pub struct StatusNotifier {
    sender: Arc<watch::Sender<DaemonStatus>>,
}

impl StatusNotifier {
    /// The buildrun's files changed (status.json rewritten, a build started or ended).
    pub fn changed(&self) {
        self.sender.send_modify(|status| status.generation += 1);
    }

    /// Records whether the daemon is paused.
    pub fn set_paused(&self, paused: bool) {
        self.sender.send_modify(|status| {
            status.paused = paused;
            status.generation += 1;
        });
    }

    /// Records what the daemon is doing.
    pub fn set_activity(&self, activity: impl Into<String>) {
        let activity = activity.into();
        self.sender.send_modify(|status| {
            status.activity = Some(activity);
            status.generation += 1;
        });
    }
}

/// Shared state of all handlers (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    output: OutputTree,
    token: Option<ApiToken>,
    control: mpsc::Sender<ControlRequest>,
    status: Arc<watch::Sender<DaemonStatus>>,
    metrics: Metrics,
    shutdown: CancellationToken,
    poll_interval: Duration,
    packages: PackageIndex,
    records: RecordCache,
}

impl AppState {
    /// The state for `config`; control requests go to `control`, metrics are read from `metrics` (the
    /// daemon keeps a clone to update).
    pub fn new(config: ServerConfig, control: mpsc::Sender<ControlRequest>, metrics: Metrics) -> Self {
        let (status, _) = watch::channel(DaemonStatus::default());
        Self {
            inner: Arc::new(Inner {
                output: OutputTree::new(config.output_dir),
                token: config.token,
                control,
                status: Arc::new(status),
                metrics,
                shutdown: CancellationToken::new(),
                poll_interval: config.poll_interval,
                packages: PackageIndex::new(config.database),
                records: RecordCache::default(),
            }),
        }
    }

    /// The handle the daemon notifies changes through.
    pub fn notifier(&self) -> StatusNotifier {
        StatusNotifier {
            sender: self.inner.status.clone(),
        }
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
    pub fn control(&self) -> &mpsc::Sender<ControlRequest> {
        &self.inner.control
    }

    /// A receiver of the daemon's status.
    pub fn daemon_status(&self) -> watch::Receiver<DaemonStatus> {
        self.inner.status.subscribe()
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
