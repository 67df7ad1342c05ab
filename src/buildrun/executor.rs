//! The executor: runs a buildrun's builds on the builders, event-driven.
//!
//! Each builder has a worker task ([`super::worker`]); the executor reacts to their events — a builder
//! became idle or unavailable, a build ended — and to cancellation. After every event it hands ready
//! builds to idle builders at once: the most urgent build first (critical path, then number of
//! dependents: [`Policy::CriticalPath`] over the plan's [`BuildGraph`], with durations from earlier
//! runs), to the idle builder whose cache already holds most of its dependencies, preferring builders
//! it has not failed on.
//!
//! Outcomes: success unblocks dependents; a transient error (transport, builder infrastructure)
//! re-queues the build up to `max_attempts`; a build failure is final and every dependent becomes
//! lost, transitively, naming the failed build. When no builder is left the run waits (status
//! `waiting for builders (all lost)`) until a worker's re-probe brings one back. Every state change is
//! committed to the [`BuildrunStore`] before it is acted on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::builder::{Builder, Snapshot};
use super::deps::{self, PresentPackages};
use super::output::Output;
use super::patience::Patience;
use super::report;
use super::store::{BuildRow, BuildState, BuilderRow, BuildrunStore, ResultRow};
use super::worker::{self, Event, Job};
use super::BuildrunError;
use crate::builders::build::BuildRequest;
use crate::builders::package::WantedPackage;
use crate::builders::ports_tree::PortsTreeSync;
use crate::builders::state::BuilderState;
use crate::plan::model::Plan;
use crate::scheduler::graph::{Build, BuildGraph};
use crate::scheduler::Policy;
use crate::state::StateDir;

/// Shortest interval between two status.json writes: a burst of events (a thousand builds made lost
/// by one failure) becomes one write, yet the file is never more than this much behind.
pub const STATUS_MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Duration assumed for a port never built before (seconds): only relative sizes matter for the
/// critical path, so unknown ports weigh like a typical small port.
const UNKNOWN_DURATION_SECS: f64 = 60.0;

/// Floor of a recorded duration, so that a build that took no measurable time still weighs something
/// on the critical path.
const MIN_DURATION_SECS: f64 = 0.001;

/// What the executor needs besides the store and the output.
pub struct ExecParams<'a> {
    /// Buildrun number.
    pub id: u64,
    /// The plan.
    pub plan: &'a Plan,
    /// Build rows by plan index, as recorded (fresh, or from the store on resume).
    pub rows: Vec<BuildRow>,
    /// Results of builds already complete (resume), by plan index.
    pub results: HashMap<usize, Vec<ResultRow>>,
    /// The state directory (spool paths of built packages).
    pub state: &'a StateDir,
    /// The builders.
    pub builders: &'a [Arc<dyn Builder>],
    /// The plan's present packages, resolved.
    pub present: &'a PresentPackages,
    /// How remote builders sync their ports tree.
    pub ports_sync: PortsTreeSync,
    /// Attempts per build for transient errors.
    pub max_attempts: u32,
    /// The cap on each build log (`[buildrun] max_build_log_bytes`).
    pub max_build_log_bytes: u64,
    /// Ports tree origin and commit, for status.json.
    pub origin: Option<String>,
    /// Ports tree commit.
    pub head: Option<String>,
    /// When the buildrun started.
    pub started_at: f64,
    /// Stops the run: builds in flight are cancelled and re-queued.
    pub cancel: CancellationToken,
    /// Told about every attempt's end and bytes moved (the daemon's metrics).
    pub observer: Option<Arc<dyn super::observer::BuildObserver>>,
    /// Backoff between attempts; whether to stop when no builder can work.
    pub patience: Patience,
    /// What every build's inputs and job manifest are made from.
    pub inputs: Arc<super::inputs::InputSettings>,
}

/// How the executor ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The final `buildStatus`.
    pub status: String,
    /// Whether it stopped on cancellation with work left.
    pub interrupted: bool,
    /// Why a one-shot run stopped with work left: no builder could work.
    pub stalled: Option<String>,
}

/// The executor's state; its methods are split by concern: dispatching here, outcomes in
/// [`super::outcome`], status and builder views in [`super::progress`].
pub(super) struct Executor<'a> {
    /// What it runs (rows and results change as builds end).
    pub(super) p: ExecParams<'a>,
    /// Where every change is committed first.
    pub(super) store: &'a mut BuildrunStore,
    /// The output tree.
    pub(super) output: &'a Output,
    /// The plan's graph, with duration estimates.
    pub(super) graph: BuildGraph,
    /// Per build: dependencies not complete yet.
    pub(super) waiting_on: Vec<usize>,
    /// Builds ready to run.
    pub(super) ready: Vec<usize>,
    /// Per build: builders it failed on transiently.
    pub(super) tried: Vec<Vec<usize>>,
    /// Per build: before this instant it does not run again on a builder in `tried` (backoff).
    pub(super) retry_at: Vec<Option<Instant>>,
    /// Since when no builder could work (none idle, none building) while builds wait.
    pub(super) no_builder_since: Option<Instant>,
    /// Why a one-shot run gave up on its builders (set together with `cancelling`).
    pub(super) stalled: Option<String>,
    /// Per builder: ready and waiting for a job.
    pub(super) idle: Vec<bool>,
    /// Per builder: what it reported when it became unavailable (cleared when ready again).
    pub(super) unavailable: Vec<Option<Snapshot>>,
    /// Per builder: the build it runs (plan index, build number).
    pub(super) current: Vec<Option<(usize, u64)>>,
    /// Per builder: its worker's job queue.
    pub(super) jobs: Vec<mpsc::Sender<Job>>,
    /// `buildStatus`.
    pub(super) status: String,
    /// status.json is behind.
    pub(super) status_dirty: bool,
    /// When status.json was last written.
    pub(super) last_status: Option<Instant>,
    /// Stopping: nothing new starts.
    pub(super) cancelling: bool,
    /// Per builder: the row last recorded (unchanged rows are not written again).
    pub(super) saved_builders: Vec<Option<BuilderRow>>,
    /// The status text last recorded in the store.
    pub(super) saved_status: Option<String>,
}

fn graph_of(plan: &Plan, durations: &HashMap<String, f64>) -> Result<BuildGraph, BuildrunError> {
    let builds = plan
        .builds
        .iter()
        .map(|b| Build {
            name: b.port.versioned_name(),
            duration: durations
                .get(&b.port.name)
                .copied()
                .unwrap_or(UNKNOWN_DURATION_SECS)
                .max(MIN_DURATION_SECS),
            deps: b.after.clone(),
        })
        .collect();
    BuildGraph::new(builds).map_err(|e| BuildrunError::Plan(e.to_string()))
}

/// Runs the builds of `p.rows` that are not final yet; returns when every build has ended or the run
/// was cancelled and the builds in flight have stopped.
pub async fn execute(
    store: &mut BuildrunStore,
    output: &Output,
    p: ExecParams<'_>,
) -> Result<ExecOutcome, BuildrunError> {
    let durations = store.port_durations()?;
    let graph = graph_of(p.plan, &durations)?;
    if p.rows.len() != p.plan.builds.len() {
        return Err(BuildrunError::Plan(format!(
            "buildrun {} records {} builds but its plan has {}",
            p.id,
            p.rows.len(),
            p.plan.builds.len()
        )));
    }
    let n = p.builders.len();
    if n == 0 && p.rows.iter().any(|r| !r.state.is_final()) {
        return Err(BuildrunError::Config(
            "no builders to run the buildrun on; configure [[builders]] or a builders directory, or              leave both out for the local builder"
                .into(),
        ));
    }
    // Workers stop when the run returns, whatever the way (the guard cancels their token).
    let workers_cancel = p.cancel.child_token();
    let _stop_workers = workers_cancel.clone().drop_guard();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut jobs = Vec::with_capacity(n);
    for (index, builder) in p.builders.iter().enumerate() {
        let (tx, rx) = mpsc::channel(1);
        jobs.push(tx);
        crate::builders::task::spawn_named(
            "buildrun-worker",
            builder.name(),
            worker::run(
                index,
                builder.clone(),
                rx,
                events_tx.clone(),
                workers_cancel.clone(),
            ),
        );
    }
    drop(events_tx);
    let count = p.plan.builds.len();
    let mut exec = Executor {
        graph,
        store,
        output,
        waiting_on: vec![0; count],
        ready: Vec::new(),
        tried: vec![Vec::new(); count],
        retry_at: vec![None; count],
        no_builder_since: None,
        stalled: None,
        idle: vec![false; n],
        unavailable: vec![None; n],
        current: vec![None; n],
        jobs,
        status: "starting builds".into(),
        status_dirty: true,
        last_status: None,
        cancelling: false,
        saved_builders: vec![None; n],
        saved_status: None,
        p,
    };
    exec.prepare()?;
    exec.output.master(&format!(
        "buildrun {}: {} builds ({} already ended), {} builders",
        exec.p.id,
        count,
        exec.p.rows.iter().filter(|r| r.state.is_final()).count(),
        n
    ));
    exec.dispatch()?;
    loop {
        if exec.finished() {
            break;
        }
        let due = exec.status_due();
        let wake = exec.next_wake();
        tokio::select! {
            biased;
            _ = exec.p.cancel.cancelled(), if !exec.cancelling => exec.begin_cancel(),
            event = events.recv() => match event {
                Some(event) => exec.handle(event)?,
                // Every worker stopped: only on cancellation.
                None => break,
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                exec.write_status(false);
            }
            // A backoff ended or the one-shot wait for builders ran out: looked at below.
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
        }
        exec.dispatch()?;
        exec.check_builders(Instant::now());
    }
    exec.finish()
}

impl Executor<'_> {
    pub(super) fn port(&self, index: usize) -> String {
        self.p.plan.builds[index].port.versioned_name()
    }

    /// Derives readiness from the recorded rows: active builds (a crash or stop interrupted them) are
    /// re-queued, dependents of failed builds are lost, blocked builds whose dependencies are all
    /// complete are scheduled.
    pub(super) fn prepare(&mut self) -> Result<(), BuildrunError> {
        let mut changed = Vec::new();
        for index in 0..self.p.rows.len() {
            let row = &mut self.p.rows[index];
            if row.state == BuildState::Active {
                row.state = BuildState::Scheduled;
                row.failure_reason = Some("interrupted; re-queued".into());
                changed.push(index);
            }
        }
        for index in 0..self.p.rows.len() {
            if matches!(self.p.rows[index].state, BuildState::Failed) {
                let lost = self.lose_dependents(index);
                changed.extend(lost);
            }
        }
        for index in 0..self.p.rows.len() {
            let waiting = self.p.plan.builds[index]
                .after
                .iter()
                .filter(|&&a| self.p.rows[a].state != BuildState::Complete)
                .count();
            self.waiting_on[index] = waiting;
            let row = &mut self.p.rows[index];
            if row.state == BuildState::Blocked && waiting == 0 {
                row.state = BuildState::Scheduled;
                changed.push(index);
            }
            if row.state == BuildState::Scheduled {
                if waiting == 0 {
                    self.ready.push(index);
                } else {
                    row.state = BuildState::Blocked;
                    changed.push(index);
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        let rows: Vec<&BuildRow> = changed.iter().map(|&i| &self.p.rows[i]).collect();
        self.store.save_builds(self.p.id, &rows)?;
        Ok(())
    }

    pub(super) fn active_count(&self) -> usize {
        self.current.iter().filter(|c| c.is_some()).count()
    }

    pub(super) fn finished(&self) -> bool {
        self.active_count() == 0 && (self.cancelling || self.ready.is_empty())
    }

    pub(super) fn begin_cancel(&mut self) {
        self.cancelling = true;
        self.output.master(&format!(
            "interrupted: stopping {} builds in flight; the buildrun stays resumable",
            self.active_count()
        ));
        self.set_status(format!("interrupting ({} builds stopping)", self.active_count()));
    }

    /// The dependencies of build `index` as the builder needs them.
    pub(super) fn dependencies(&self, index: usize) -> Result<Vec<WantedPackage>, String> {
        let build = &self.p.plan.builds[index];
        let mut out: Vec<WantedPackage> = Vec::new();
        for present in &build.present {
            out.push(self.p.present.get(&present.file_name)?);
        }
        for &after in &build.after {
            let results = self
                .p
                .results
                .get(&after)
                .ok_or_else(|| format!("dependency {} has no recorded results", self.port(after)))?;
            for result in results {
                let wanted = build.missing_ids.is_empty()
                    || deps::package_id(&result.file_name)
                        .is_some_and(|id| build.missing_ids.iter().any(|m| m == id));
                if wanted {
                    out.push(deps::built(self.p.state, result)?);
                }
            }
        }
        out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        out.dedup_by(|a, b| a.file_name == b.file_name);
        Ok(out)
    }

    /// Whether build `index` may run on builder `b` now: a builder it failed on only after its backoff.
    pub(super) fn eligible(&self, index: usize, b: usize, now: Instant) -> bool {
        !self.tried[index].contains(&b) || self.retry_at[index].is_none_or(|at| now >= at)
    }

    /// The most urgent ready build that some idle builder may take now.
    pub(super) fn take_most_urgent(&mut self) -> Option<usize> {
        let now = Instant::now();
        let best = (0..self.ready.len())
            .filter(|&k| (0..self.idle.len()).any(|b| self.idle[b] && self.eligible(self.ready[k], b, now)))
            .max_by(|&a, &b| {
                let pa = Policy::CriticalPath.priority(&self.graph, self.ready[a], 0);
                let pb = Policy::CriticalPath.priority(&self.graph, self.ready[b], 0);
                pa.partial_cmp(&pb).unwrap_or(std::cmp::Ordering::Equal)
            })?;
        Some(self.ready.swap_remove(best))
    }

    /// The idle builder for build `index`: one it may run on now (see [`Self::eligible`]), preferring
    /// one it has not failed on, then the most cached dependencies, then configuration order.
    pub(super) fn pick_builder(&self, index: usize, deps: &[WantedPackage]) -> Option<usize> {
        let now = Instant::now();
        (0..self.idle.len())
            .filter(|&b| self.idle[b] && self.eligible(index, b, now))
            .max_by_key(|&b| {
                (
                    !self.tried[index].contains(&b),
                    self.p.builders[b].cached(deps),
                    std::cmp::Reverse(b),
                )
            })
    }

    /// Hands ready builds to idle builders until one of the two runs out.
    pub(super) fn dispatch(&mut self) -> Result<(), BuildrunError> {
        while !self.cancelling && self.idle.iter().any(|&i| i) && !self.ready.is_empty() {
            let Some(index) = self.take_most_urgent() else {
                break;
            };
            let deps = match self.dependencies(index) {
                Ok(deps) => deps,
                Err(reason) => {
                    self.fail(index, reason, None)?;
                    continue;
                }
            };
            let Some(b) = self.pick_builder(index, &deps) else {
                // `take_most_urgent` only returns a build some idle builder may take; keep it queued.
                self.ready.push(index);
                break;
            };
            let name = self.p.builders[b].name().to_string();
            let number = self
                .store
                .start_attempt(self.p.id, &mut self.p.rows[index], &name)?;
            let log = self.output.build_log(number).map_err(BuildrunError::Output)?;
            let build = &self.p.plan.builds[index];
            let request = BuildRequest {
                number,
                port: build.target(),
                dependencies: deps,
                // Filled by the worker from the source cache just before the build (inputs.rs).
                inputs: Vec::new(),
                results: build.results.clone(),
                ports_tree: self.p.ports_sync.clone(),
            };
            self.idle[b] = false;
            self.current[b] = Some((index, number));
            let port = request.port.clone();
            if self.jobs[b]
                .try_send(Job {
                    index,
                    request,
                    log,
                    log_limit: self.p.max_build_log_bytes,
                    inputs: worker::JobInputsFor {
                        settings: self.p.inputs.clone(),
                        port: build.port.clone(),
                    },
                })
                .is_err()
            {
                // The worker is gone (only while stopping): put the build back.
                self.current[b] = None;
                self.requeue(index, "its builder's worker stopped".into())?;
                continue;
            }
            self.output
                .master(&format!("starting build {number} ({port}) on builder {name}"));
            self.output
                .builder(&name, &format!("starting build {number} ({port})"));
            self.save_builder(b);
        }
        self.refresh_status();
        self.write_status(false);
        Ok(())
    }

    pub(super) fn handle(&mut self, event: Event) -> Result<(), BuildrunError> {
        match event {
            Event::Idle { builder } => {
                self.idle[builder] = true;
                if self.unavailable[builder].take().is_some() {
                    // Its reconnection already waited (the builder's own backoff): builds that failed
                    // on it need not wait again.
                    for &i in &self.ready {
                        if self.tried[i].contains(&builder) {
                            self.retry_at[i] = None;
                        }
                    }
                    let name = self.p.builders[builder].name().to_string();
                    self.output.master(&format!("builder {name} available"));
                    self.output.builder(&name, "available");
                }
                self.save_builder(builder);
            }
            Event::Unavailable { builder, snapshot } => {
                self.idle[builder] = false;
                let name = self.p.builders[builder].name().to_string();
                let what = format!(
                    "builder {name} {}: {}",
                    report::state_word(snapshot.state),
                    snapshot.last_error.as_deref().unwrap_or("not connected yet")
                );
                self.output.builder(&name, &what);
                if snapshot.state == BuilderState::Lost {
                    self.output.master(&what);
                }
                self.unavailable[builder] = Some(snapshot);
                self.save_builder(builder);
            }
            Event::Finished {
                builder,
                index,
                number,
                started,
                result,
            } => {
                self.current[builder] = None;
                self.finish_attempt(builder, index, number, started, result)?;
                self.save_builder(builder);
            }
        }
        self.status_dirty = true;
        Ok(())
    }
}
