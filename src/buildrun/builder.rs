//! One interface over the builders the executor drives: [`RemoteBuilder`] (SSH) and [`LocalBuilder`]
//! (processes on the master), and the fakes of the scheduler tests.
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

use crate::builders::build::{BuildOutcome, BuildRequest};
use crate::builders::cache::CacheListing;
use crate::builders::error::{BuilderError, ErrorClass};
use crate::builders::exec::OutputSink;
use crate::builders::local::LocalBuilder;
use crate::builders::package::WantedPackage;
use crate::builders::remote::{RemoteBuilder, HEALTH_TICK};
use crate::builders::state::{BuilderState, Health, ReconnectPolicy};

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
    inner: Arc<tokio::sync::Mutex<RemoteBuilder>>,
    /// Whether the last connection attempt failed for a reason only an operator can fix (read without
    /// the lock, which a connection attempt holds).
    needs_operator: AtomicBool,
}

impl Remote {
    /// Wraps `builder`.
    pub fn new(builder: RemoteBuilder) -> Self {
        Self {
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
                let open = b.connection().is_some_and(|c| !c.is_closed());
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

/// A [`LocalBuilder`] with its cache listing (taken at setup) and a health record, so that a failing
/// setup backs off and is retried like a remote builder's connection.
pub struct Local {
    name: String,
    builder: LocalBuilder,
    listing: tokio::sync::Mutex<Option<CacheListing>>,
    health: std::sync::Mutex<Health>,
}

impl Local {
    /// Wraps `builder`, called `name`.
    pub fn new(name: &str, builder: LocalBuilder, policy: ReconnectPolicy) -> Self {
        Self {
            name: name.to_string(),
            builder,
            listing: tokio::sync::Mutex::new(None),
            health: std::sync::Mutex::new(Health::new(policy, Instant::now())),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // A poisoned lock only means a panic elsewhere; the health record itself stays usable.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Builder for Local {
    fn name(&self) -> &str {
        &self.name
    }

    fn cached(&self, deps: &[WantedPackage]) -> usize {
        match self.listing.try_lock() {
            Ok(guard) => guard.as_ref().map_or(0, |l| l.holds_count(deps)),
            Err(_) => 0,
        }
    }

    fn snapshot(&self) -> Snapshot {
        let h = self.health();
        Snapshot {
            state: h.state,
            connection_errors: h.failures,
            last_error: h.last_error.clone(),
            // A failing local setup (a missing build tool, a full disk) is bounded by the one-shot
            // run's wait for builders instead.
            needs_operator: false,
        }
    }

    async fn wait_ready(&self, report: &Report<'_>, cancel: &CancellationToken) -> bool {
        loop {
            let mut listing = self.listing.lock().await;
            if listing.is_some() {
                return true;
            }
            let due = self.health().attempt_due(Instant::now());
            if due {
                match self.builder.setup().await {
                    Ok(found) => {
                        *listing = Some(found);
                        self.health().connected();
                        return true;
                    }
                    Err(err) => {
                        let state = self.health().connection_failed(&err.to_string(), Instant::now());
                        tracing::warn!(builder = self.name, %err, ?state, "local builder setup failed");
                        report(self.snapshot());
                    }
                }
            }
            drop(listing);
            let next = self.health().next_attempt;
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
        let mut guard = self.listing.lock().await;
        let Some(listing) = guard.as_mut() else {
            return Err(BuilderError::Lost {
                builder: self.name.clone(),
                during: "build (not set up)".into(),
            });
        };
        self.health().set_busy(true);
        let result = self.builder.build(listing, req, sink, cancel).await;
        let mut health = self.health();
        match &result {
            Err(err) if err.is_transient() => {
                let state = health.infrastructure_failed(&err.to_string(), Instant::now());
                if state == BuilderState::Lost {
                    // Set up from scratch (directories, config, listing) when it comes back.
                    *guard = None;
                }
            }
            Err(err) if err.class() == ErrorClass::Cancelled => health.set_busy(false),
            _ => {
                health.infrastructure_ok();
                health.set_busy(false);
            }
        }
        result
    }
}
