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
use super::report::{self, BuilderView, StatusInput};
use super::status::RecordJson;
use super::store::{now_secs, BuildRow, BuildState, BuilderRow, BuildrunStore, ResultRow};
use super::worker::{self, Event, Job};
use super::BuildrunError;
use crate::builders::build::{BuildOutcome, BuildRequest};
use crate::builders::error::{BuilderError, ErrorClass};
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
    /// Ports tree origin and commit, for status.json.
    pub origin: Option<String>,
    /// Ports tree commit.
    pub head: Option<String>,
    /// When the buildrun started.
    pub started_at: f64,
    /// Stops the run: builds in flight are cancelled and re-queued.
    pub cancel: CancellationToken,
}

/// How the executor ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The final `buildStatus`.
    pub status: String,
    /// Whether it stopped on cancellation with work left.
    pub interrupted: bool,
}

struct Executor<'a> {
    p: ExecParams<'a>,
    store: &'a mut BuildrunStore,
    output: &'a Output,
    graph: BuildGraph,
    waiting_on: Vec<usize>,
    ready: Vec<usize>,
    tried: Vec<Vec<usize>>,
    idle: Vec<bool>,
    unavailable: Vec<Option<Snapshot>>,
    current: Vec<Option<(usize, u64)>>,
    jobs: Vec<mpsc::Sender<Job>>,
    status: String,
    status_dirty: bool,
    last_status: Option<Instant>,
    cancelling: bool,
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
                .max(1.0),
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
        idle: vec![false; n],
        unavailable: vec![None; n],
        current: vec![None; n],
        jobs,
        status: "starting builds".into(),
        status_dirty: true,
        last_status: None,
        cancelling: false,
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
        }
        exec.dispatch()?;
    }
    exec.finish()
}

impl Executor<'_> {
    fn port(&self, index: usize) -> String {
        self.p.plan.builds[index].port.versioned_name()
    }

    /// Derives readiness from the recorded rows: active builds (a crash or stop interrupted them) are
    /// re-queued, dependents of failed builds are lost, blocked builds whose dependencies are all
    /// complete are scheduled.
    fn prepare(&mut self) -> Result<(), BuildrunError> {
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

    fn active_count(&self) -> usize {
        self.current.iter().filter(|c| c.is_some()).count()
    }

    fn finished(&self) -> bool {
        self.active_count() == 0 && (self.cancelling || self.ready.is_empty())
    }

    fn begin_cancel(&mut self) {
        self.cancelling = true;
        self.output.master(&format!(
            "interrupted: stopping {} builds in flight; the buildrun stays resumable",
            self.active_count()
        ));
        self.set_status(format!("interrupting ({} builds stopping)", self.active_count()));
    }

    /// The state of builder `b` as the executor knows it.
    fn builder_state(&self, b: usize) -> BuilderState {
        if self.current[b].is_some() {
            BuilderState::Busy
        } else if self.idle[b] {
            BuilderState::Available
        } else {
            let now = self.p.builders[b].snapshot().state;
            match (&self.unavailable[b], now) {
                // Held by a connection attempt: the last state it reported.
                (Some(last), BuilderState::Busy | BuilderState::Available) => last.state,
                (_, state) => state,
            }
        }
    }

    fn set_status(&mut self, status: String) {
        if status != self.status {
            self.status = status;
        }
        self.status_dirty = true;
    }

    /// The status word for a running run, from the lists.
    fn refresh_status(&mut self) {
        if self.cancelling {
            let text = format!("interrupting ({} builds stopping)", self.active_count());
            return self.set_status(text);
        }
        let any_idle = self.idle.iter().any(|&i| i);
        let status = if !self.ready.is_empty() && !any_idle && self.active_count() == 0 {
            let states: Vec<BuilderState> = (0..self.idle.len()).map(|b| self.builder_state(b)).collect();
            if states.iter().all(|&s| s == BuilderState::Lost) {
                "waiting for builders (all lost)".to_string()
            } else {
                "waiting for available builders".to_string()
            }
        } else if !self.ready.is_empty() && !any_idle {
            "waiting for available builders".to_string()
        } else if self.ready.is_empty() && self.active_count() > 0 {
            let names: Vec<&str> = (0..self.current.len())
                .filter(|&b| self.current[b].is_some())
                .map(|b| self.p.builders[b].name())
                .collect();
            if self.p.rows.iter().any(|r| r.state == BuildState::Blocked) {
                "waiting for packages".to_string()
            } else {
                format!("waiting for workers {} to complete", names.join(","))
            }
        } else {
            "starting builds".to_string()
        };
        self.set_status(status);
    }

    fn status_due(&self) -> Option<Instant> {
        self.status_dirty.then(|| {
            self.last_status
                .map_or_else(Instant::now, |t| t + STATUS_MIN_INTERVAL)
        })
    }

    fn builder_views(&self) -> Vec<BuilderView> {
        (0..self.p.builders.len())
            .map(|b| {
                let mut snapshot = self.p.builders[b].snapshot();
                if let Some(last) = &self.unavailable[b] {
                    if snapshot.state == BuilderState::Busy && self.current[b].is_none() {
                        snapshot = last.clone();
                    }
                }
                BuilderView {
                    name: self.p.builders[b].name().to_string(),
                    state: self.builder_state(b),
                    snapshot,
                    current: self.current[b],
                }
            })
            .collect()
    }

    /// Writes status.json (now when `force`, else only if the throttle allows); a failed write is
    /// logged, never fatal.
    fn write_status(&mut self, force: bool) {
        if !force && self.status_due().is_some_and(|due| due > Instant::now()) {
            return;
        }
        self.write_status_with_end(None);
    }

    fn write_status_with_end(&mut self, end: Option<f64>) {
        let views = self.builder_views();
        let next = self.store.next_build_number().unwrap_or_default();
        let json = report::status_json(&StatusInput {
            plan: self.p.plan,
            rows: &self.p.rows,
            results: &self.p.results,
            builders: &views,
            next_build_number: next,
            origin: self.p.origin.as_deref(),
            head: self.p.head.as_deref(),
            status: &self.status,
            start: self.p.started_at,
            end,
        });
        if let Err(err) = self.output.status(&json) {
            tracing::warn!(%err, "cannot write status.json");
        }
        if let Err(err) = self
            .store
            .set_run_state(self.p.id, super::store::RunState::Running, &self.status)
        {
            tracing::warn!(%err, "cannot record the buildrun status");
        }
        self.status_dirty = false;
        self.last_status = Some(Instant::now());
    }

    fn save_builder(&mut self, b: usize) {
        let views = self.builder_views();
        let view = &views[b];
        let row = BuilderRow {
            name: view.name.clone(),
            state: report::state_word(view.state).into(),
            buildrun: view.current.map(|_| self.p.id),
            build_number: view.current.map(|(_, n)| n),
            port: view.current.map(|(i, _)| self.port(i)),
            last_error: view.snapshot.last_error.clone(),
            connection_errors: view.snapshot.connection_errors,
            updated_at: now_secs(),
        };
        if let Err(err) = self.store.save_builder(&row) {
            tracing::warn!(%err, "cannot record a builder's state");
        }
    }

    /// The dependencies of build `index` as the builder needs them.
    fn dependencies(&self, index: usize) -> Result<Vec<WantedPackage>, String> {
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

    /// The most urgent ready build.
    fn take_most_urgent(&mut self) -> Option<usize> {
        let best = (0..self.ready.len()).max_by(|&a, &b| {
            let pa = Policy::CriticalPath.priority(&self.graph, self.ready[a], 0);
            let pb = Policy::CriticalPath.priority(&self.graph, self.ready[b], 0);
            pa.partial_cmp(&pb).unwrap_or(std::cmp::Ordering::Equal)
        })?;
        Some(self.ready.swap_remove(best))
    }

    /// The idle builder for build `index`: one it has not failed on, then the most cached
    /// dependencies, then configuration order.
    fn pick_builder(&self, index: usize, deps: &[WantedPackage]) -> Option<usize> {
        (0..self.idle.len()).filter(|&b| self.idle[b]).max_by_key(|&b| {
            (
                !self.tried[index].contains(&b),
                self.p.builders[b].cached(deps),
                std::cmp::Reverse(b),
            )
        })
    }

    /// Hands ready builds to idle builders until one of the two runs out.
    fn dispatch(&mut self) -> Result<(), BuildrunError> {
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
            let b = self.pick_builder(index, &deps).expect("an idle builder exists");
            let name = self.p.builders[b].name().to_string();
            let number = self
                .store
                .start_attempt(self.p.id, &mut self.p.rows[index], &name)?;
            let log = self.output.build_log(number).map_err(BuildrunError::Output)?;
            let build = &self.p.plan.builds[index];
            let request = BuildRequest {
                number,
                port: build.port.versioned_name(),
                dependencies: deps,
                results: build.results.clone(),
                ports_tree: self.p.ports_sync.clone(),
            };
            self.idle[b] = false;
            self.current[b] = Some((index, number));
            let port = request.port.clone();
            if self.jobs[b].try_send(Job { index, request, log }).is_err() {
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

    fn handle(&mut self, event: Event) -> Result<(), BuildrunError> {
        match event {
            Event::Idle { builder } => {
                self.idle[builder] = true;
                if self.unavailable[builder].take().is_some() {
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

    fn finish_attempt(
        &mut self,
        b: usize,
        index: usize,
        number: u64,
        started: f64,
        result: Result<BuildOutcome, BuilderError>,
    ) -> Result<(), BuildrunError> {
        let name = self.p.builders[b].name().to_string();
        let port = self.port(index);
        let ended = now_secs();
        let failure = match result {
            Ok(outcome) => {
                self.complete(index, &outcome)?;
                self.output
                    .master(&format!("build {number} ({port}) complete on builder {name}"));
                self.output
                    .builder(&name, &format!("build {number} ({port}) complete"));
                None
            }
            Err(err) => {
                let reason = err.to_string();
                self.output
                    .builder(&name, &format!("build {number} ({port}) ended: {reason}"));
                match err.class() {
                    ErrorClass::Cancelled => {
                        self.output.master(&format!(
                            "build {number} ({port}) interrupted on builder {name}; re-queued"
                        ));
                        self.requeue(index, format!("interrupted: {reason}"))?;
                        Some(format!("interrupted: {reason}"))
                    }
                    ErrorClass::Transport | ErrorClass::Infrastructure => {
                        self.p.rows[index].attempts += 1;
                        self.tried[index].push(b);
                        let attempts = self.p.rows[index].attempts;
                        if attempts < self.p.max_attempts {
                            self.output.master(&format!(
                                "transient error in build {number} ({port}) on builder {name}, \
                                 rescheduling (attempt {attempts} of {}): {reason}",
                                self.p.max_attempts
                            ));
                            self.requeue(index, format!("attempt {attempts} failed: {reason}"))?;
                        } else {
                            self.fail(
                                index,
                                format!("{attempts} attempts failed with transient errors; last: {reason}"),
                                Some(number),
                            )?;
                        }
                        Some(reason)
                    }
                    ErrorClass::BuildFailure => {
                        self.p.rows[index].attempts += 1;
                        self.fail(index, reason.clone(), Some(number))?;
                        Some(reason)
                    }
                }
            }
        };
        let record = RecordJson::of(
            &self.p.plan.builds[index],
            &self.p.rows[index].build_numbers,
            started,
            ended,
            &name,
            failure,
        );
        if let Err(err) = self.output.record(number, &record) {
            tracing::warn!(%err, "cannot write a build record");
        }
        Ok(())
    }

    fn complete(&mut self, index: usize, outcome: &BuildOutcome) -> Result<(), BuildrunError> {
        let results: Vec<ResultRow> = outcome
            .results
            .iter()
            .map(|r| ResultRow {
                index,
                file_name: r.file_name.clone(),
                size: r.size,
                sha256: r.sha256.to_hex(),
            })
            .collect();
        let row = &mut self.p.rows[index];
        row.state = BuildState::Complete;
        row.attempts += 1;
        row.ended_at = Some(now_secs());
        row.failure_reason = None;
        self.store.complete_build(self.p.id, row, &results)?;
        self.p.results.insert(index, results);
        let mut unblocked = Vec::new();
        for &dependent in self.graph.dependents(index) {
            self.waiting_on[dependent] = self.waiting_on[dependent].saturating_sub(1);
            if self.waiting_on[dependent] == 0 && self.p.rows[dependent].state == BuildState::Blocked {
                self.p.rows[dependent].state = BuildState::Scheduled;
                unblocked.push(dependent);
            }
        }
        let rows: Vec<&BuildRow> = unblocked.iter().map(|&i| &self.p.rows[i]).collect();
        self.store.save_builds(self.p.id, &rows)?;
        self.ready.extend(unblocked);
        Ok(())
    }

    fn requeue(&mut self, index: usize, reason: String) -> Result<(), BuildrunError> {
        let row = &mut self.p.rows[index];
        row.state = BuildState::Scheduled;
        row.ended_at = Some(now_secs());
        row.failure_reason = Some(reason);
        self.store.save_build(self.p.id, row)?;
        self.ready.push(index);
        Ok(())
    }

    /// Marks every dependent of `index` that has not ended as lost, transitively, naming `index`.
    /// Returns their indices (not yet saved).
    fn lose_dependents(&mut self, index: usize) -> Vec<usize> {
        let failed = self.port(index);
        let mut lost = Vec::new();
        let mut work = vec![index];
        while let Some(i) = work.pop() {
            for &d in self.graph.dependents(i) {
                if !self.p.rows[d].state.is_final() {
                    self.p.rows[d].state = BuildState::Lost;
                    self.p.rows[d].failure_reason = Some(format!("dependency {failed} failed"));
                    self.p.rows[d].ended_at = Some(now_secs());
                    lost.push(d);
                    work.push(d);
                }
            }
        }
        lost
    }

    /// Build `index` failed for good: it and (in the same transaction) its lost dependents.
    fn fail(&mut self, index: usize, reason: String, number: Option<u64>) -> Result<(), BuildrunError> {
        let port = self.port(index);
        let row = &mut self.p.rows[index];
        row.state = BuildState::Failed;
        row.ended_at = Some(now_secs());
        row.failure_reason = Some(reason.clone());
        let lost = self.lose_dependents(index);
        self.ready.retain(|i| !lost.contains(i));
        let mut rows: Vec<&BuildRow> = vec![&self.p.rows[index]];
        rows.extend(lost.iter().map(|&i| &self.p.rows[i]));
        self.store.save_builds(self.p.id, &rows)?;
        let build = number.map(|n| format!("build {n} ")).unwrap_or_default();
        self.output.master(&format!("{build}({port}) failed: {reason}"));
        for &i in &lost {
            self.output.master(&format!(
                "build of {} lost: dependency {port} failed",
                self.port(i)
            ));
        }
        Ok(())
    }

    /// The final status; builds that could never start (a dependency that never completed) are lost.
    fn finish(mut self) -> Result<ExecOutcome, BuildrunError> {
        if self.cancelling {
            let status = "interrupted (resumable)".to_string();
            self.set_status(status.clone());
            self.write_status_with_end(None);
            return Ok(ExecOutcome {
                status,
                interrupted: true,
            });
        }
        let stranded: Vec<usize> = (0..self.p.rows.len())
            .filter(|&i| !self.p.rows[i].state.is_final())
            .collect();
        for &i in &stranded {
            let row = &mut self.p.rows[i];
            row.state = BuildState::Lost;
            row.failure_reason = Some("a dependency never completed".into());
        }
        let rows: Vec<&BuildRow> = stranded.iter().map(|&i| &self.p.rows[i]).collect();
        self.store.save_builds(self.p.id, &rows)?;
        let failures = self
            .p
            .rows
            .iter()
            .filter(|r| matches!(r.state, BuildState::Failed | BuildState::Lost))
            .count();
        let status = if failures == 0 {
            "complete".to_string()
        } else {
            format!("complete (with {failures} failures)")
        };
        self.set_status(status.clone());
        self.output.master(&format!("buildrun {}: {status}", self.p.id));
        self.write_status_with_end(Some(now_secs()));
        Ok(ExecOutcome {
            status,
            interrupted: false,
        })
    }
}
