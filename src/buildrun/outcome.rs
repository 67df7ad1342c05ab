//! What the executor does when an attempt ends: complete (results recorded, dependents unblocked),
//! re-queue (transient errors within the budget, cancellation), fail (and every dependent lost), and
//! the run's final status.

use super::executor::{ExecOutcome, Executor};
use super::observer::AttemptEnd;
use super::status::RecordJson;
use super::store::{now_secs, BuildRow, BuildState, ResultRow};
use super::BuildrunError;
use crate::builders::build::BuildOutcome;
use crate::builders::error::{BuilderError, ErrorClass};

impl Executor<'_> {
    pub(super) fn finish_attempt(
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
        if let Some(observer) = &self.p.observer {
            let took = std::time::Duration::from_secs_f64((ended - started).max(0.0));
            match &result {
                Ok(outcome) => {
                    observer.attempt_ended(took, AttemptEnd::Success);
                    let fetched = outcome.results.iter().map(|r| r.size).sum();
                    observer.transferred(outcome.transfer.bytes, fetched);
                }
                Err(err) if err.class() != ErrorClass::Cancelled => {
                    observer.attempt_ended(took, AttemptEnd::Failure)
                }
                Err(_) => {}
            }
        }
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
                            // Another builder may take it at once; this one only after the backoff.
                            let delay = self.p.patience.retry_delay(attempts);
                            self.retry_at[index] = Some(tokio::time::Instant::now() + delay);
                            self.output.master(&format!(
                                "transient error in build {number} ({port}) on builder {name}, \
                                 rescheduling (attempt {attempts} of {}; not on {name} again for {} s): \
                                 {reason}",
                                self.p.max_attempts,
                                delay.as_secs()
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

    pub(super) fn complete(&mut self, index: usize, outcome: &BuildOutcome) -> Result<(), BuildrunError> {
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

    pub(super) fn requeue(&mut self, index: usize, reason: String) -> Result<(), BuildrunError> {
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
    pub(super) fn lose_dependents(&mut self, index: usize) -> Vec<usize> {
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
    pub(super) fn fail(
        &mut self,
        index: usize,
        reason: String,
        number: Option<u64>,
    ) -> Result<(), BuildrunError> {
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
    pub(super) fn finish(mut self) -> Result<ExecOutcome, BuildrunError> {
        if self.cancelling {
            let status = match &self.stalled {
                Some(why) => format!("stopped (resumable): {why}"),
                None => "interrupted (resumable)".to_string(),
            };
            self.set_status(status.clone());
            self.write_status_with_end(None);
            return Ok(ExecOutcome {
                status,
                interrupted: true,
                stalled: self.stalled.take(),
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
            stalled: None,
        })
    }
}
