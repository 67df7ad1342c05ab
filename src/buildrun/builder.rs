//! One interface over the builders the executor drives: [`RemoteBuilder`] — over SSH or, without
//! `[ssh]`, the master itself, through the same flow — and the fakes of the scheduler tests.
//!
//! [`Builder::wait_ready`] is the builder's own health loop while it is idle: it connects (or sets the
//! local builder up) when an attempt is due and otherwise sleeps until the next attempt the backoff
//! schedule allows — a timer, not a polling loop — so a lost builder that comes back is picked up the
//! moment its re-probe succeeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::inputs::BuilderSide;
use crate::builders::build::{BuildOutcome, BuildRequest};
use crate::builders::config::NetworkMode;
use crate::builders::error::BuilderError;
use crate::builders::exec::OutputSink;
use crate::builders::package::WantedPackage;
use crate::builders::remote::{RemoteBuilder, HEALTH_TICK};
use crate::builders::state::BuilderState;

/// What a builder looks like right now, for status and scheduling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Its state.
    pub state: BuilderState,
    /// Consecutive connection failures.
    pub connection_errors: u32,
    /// The last connection or infrastructure error.
    pub last_error: Option<String>,
    /// The last connection attempt failed in a way only an operator can fix
    /// ([`BuilderError::needs_operator`]: host key, authentication, client key): a one-shot buildrun
    /// stops waiting for this builder.
    pub needs_operator: bool,
}

/// Told a builder's state after each failed connection (or setup) attempt.
pub type Report<'a> = dyn Fn(Snapshot) + Send + Sync + 'a;

/// A builder as the executor sees it.
#[async_trait]
pub trait Builder: Send + Sync {
    /// Unique name (log file names, status).
    fn name(&self) -> &str;

    /// How many of `deps` its cache holds with the recorded size (0 when unknown): the affinity
    /// score. Only asked of idle builders, so it never waits for a build.
    fn cached(&self, deps: &[WantedPackage]) -> usize;

    /// Current state.
    fn snapshot(&self) -> Snapshot;

    /// Resolves when the builder can take a build, connecting or re-probing on its health schedule;
    /// `report` is told the builder's state after every failed attempt (so status pages can say when
    /// it went from reconnecting to lost). Returns false when `cancel` fired first.
    async fn wait_ready(&self, report: &Report<'_>, cancel: &CancellationToken) -> bool;

    /// The builder as a job's inputs are made for it (toolchain, storage, network); `None` for
    /// builders without a toolchain (the scheduler tests' fakes), whose jobs get no manifest.
    fn job_side(&self) -> Option<BuilderSide> {
        None
    }

    /// Runs one build, streaming output to `sink`.
    async fn build(
        &self,
        req: &BuildRequest,
        sink: OutputSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, BuilderError>;
}

/// Sleeps until `next` (or one health tick when unknown); false when cancelled first.
async fn sleep_until_attempt(next: Option<Instant>, cancel: &CancellationToken) -> bool {
    let at = next
        .map(tokio::time::Instant::from_std)
        .unwrap_or_else(|| tokio::time::Instant::now() + HEALTH_TICK);
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep_until(at) => true,
    }
}

/// A [`RemoteBuilder`] behind the lock its build holds.
pub struct Remote {
    name: String,
    /// What a job's inputs are made for (fixed at construction: the toolchain never changes).
    side: BuilderSide,
    inner: Arc<tokio::sync::Mutex<RemoteBuilder>>,
    /// Whether the last connection attempt failed for a reason only an operator can fix (read without
    /// the lock, which a connection attempt holds).
    needs_operator: AtomicBool,
}

impl Remote {
    /// Wraps `builder`.
    pub fn new(builder: RemoteBuilder) -> Self {
        let side = BuilderSide {
            name: builder.name().to_string(),
            toolchain: builder.toolchain().clone(),
            storage: builder.storage().cloned(),
            offline: builder.spec().network == NetworkMode::None,
        };
        Self {
            side,
            name: builder.name().to_string(),
            inner: Arc::new(tokio::sync::Mutex::new(builder)),
            needs_operator: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Builder for Remote {
    fn name(&self) -> &str {
        &self.name
    }

    fn cached(&self, deps: &[WantedPackage]) -> usize {
        match self.inner.try_lock() {
            Ok(b) => b.cache_listing().map_or(0, |l| l.holds_count(deps)),
            Err(_) => 0,
        }
    }

    fn job_side(&self) -> Option<BuilderSide> {
        Some(self.side.clone())
    }

    fn snapshot(&self) -> Snapshot {
        match self.inner.try_lock() {
            Ok(b) => Snapshot {
                state: b.state(),
                connection_errors: b.health().failures,
                last_error: b.health().last_error.clone(),
                needs_operator: self.needs_operator.load(Ordering::Relaxed),
            },
            // Held by a build (or a connection attempt).
            Err(_) => Snapshot {
                state: BuilderState::Busy,
                connection_errors: 0,
                last_error: None,
                needs_operator: false,
            },
        }
    }

    async fn wait_ready(&self, report: &Report<'_>, cancel: &CancellationToken) -> bool {
        loop {
            let next = {
                let mut b = self.inner.lock().await;
                let open = b.is_connected();
                match b.state() {
                    BuilderState::Available | BuilderState::Busy if open => return true,
                    // Marked available but the connection died while idle: reconnect now.
                    BuilderState::Available | BuilderState::Busy => {
                        let _ = b.connect().await;
                        continue;
                    }
                    _ if b.health().attempt_due(Instant::now()) => {
                        let connected = tokio::select! {
                            _ = cancel.cancelled() => return false,
                            r = b.connect() => r,
                        };
                        let needs_operator = connected.as_ref().is_err_and(BuilderError::needs_operator);
                        self.needs_operator.store(needs_operator, Ordering::Relaxed);
                        if connected.is_ok() {
                            return true;
                        }
                        report(Snapshot {
                            state: b.state(),
                            connection_errors: b.health().failures,
                            last_error: b.health().last_error.clone(),
                            needs_operator,
                        });
                        b.health().next_attempt
                    }
                    _ => b.health().next_attempt,
                }
            };
            if !sleep_until_attempt(next, cancel).await {
                return false;
            }
        }
    }

    async fn build(
        &self,
        req: &BuildRequest,
        sink: OutputSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, BuilderError> {
        self.inner.lock().await.build(req, sink, cancel).await
    }
}
