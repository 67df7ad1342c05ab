//! The executor's view for status pages: each builder's state, the `buildStatus` text, and
//! status.json written (throttled) and builder rows recorded as things change.

use tokio::time::Instant;

use super::executor::{Executor, STATUS_MIN_INTERVAL};
use super::report::{self, BuilderView, StatusInput};
use super::store::{now_secs, BuildState, BuilderRow, RunState};
use crate::builders::state::BuilderState;

impl Executor<'_> {
    /// The state of builder `b` as the executor knows it.
    pub(super) fn builder_state(&self, b: usize) -> BuilderState {
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

    pub(super) fn set_status(&mut self, status: String) {
        if status != self.status {
            self.status = status;
        }
        self.status_dirty = true;
    }

    /// The status word for a running run, from the lists.
    pub(super) fn refresh_status(&mut self) {
        if self.cancelling {
            let text = format!("interrupting ({} builds stopping)", self.active_count());
            return self.set_status(text);
        }
        let any_idle = self.idle.iter().any(|&i| i);
        let status = if any_idle && self.backing_off(Instant::now()) {
            "waiting to retry after transient errors".to_string()
        } else if !self.ready.is_empty() && !any_idle && self.active_count() == 0 {
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

    pub(super) fn status_due(&self) -> Option<Instant> {
        self.status_dirty.then(|| {
            self.last_status
                .map_or_else(Instant::now, |t| t + STATUS_MIN_INTERVAL)
        })
    }

    pub(super) fn builder_views(&self) -> Vec<BuilderView> {
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
    pub(super) fn write_status(&mut self, force: bool) {
        if !force && self.status_due().is_some_and(|due| due > Instant::now()) {
            return;
        }
        self.write_status_with_end(None);
    }

    pub(super) fn write_status_with_end(&mut self, end: Option<f64>) {
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
        if let Some(observer) = &self.p.observer {
            observer.status(&json);
        }
        // A durable write costs an fsync: only when the text changed.
        if self.saved_status.as_deref() != Some(self.status.as_str()) {
            match self
                .store
                .set_run_state(self.p.id, RunState::Running, &self.status)
            {
                Ok(()) => self.saved_status = Some(self.status.clone()),
                Err(err) => tracing::warn!(%err, "cannot record the buildrun status"),
            }
        }
        self.status_dirty = false;
        self.last_status = Some(Instant::now());
    }

    pub(super) fn save_builder(&mut self, b: usize) {
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
        let unchanged = self.saved_builders[b].as_ref().is_some_and(|saved| {
            BuilderRow {
                updated_at: saved.updated_at,
                ..row.clone()
            } == *saved
        });
        if unchanged {
            return;
        }
        match self.store.save_builder(&row) {
            Ok(()) => self.saved_builders[b] = Some(row),
            Err(err) => tracing::warn!(%err, "cannot record a builder's state"),
        }
    }
}
