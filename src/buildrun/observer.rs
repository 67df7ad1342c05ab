//! A hook for what watches builds from outside the buildrun — the daemon's Prometheus metrics, the
//! command line's progress bar — so the executor reports attempt durations, bytes moved and its status
//! without knowing who listens.

use std::time::Duration;

use super::status::StatusJson;

/// How an attempt ended, as far as an observer cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The build succeeded and its results were verified.
    Success,
    /// The build failed, or hit a transient error (it may be retried).
    Failure,
}

/// Receives build events.
pub trait BuildObserver: Send + Sync {
    /// An attempt ended after `duration` (cancelled attempts are not reported).
    fn attempt_ended(&self, duration: Duration, end: AttemptEnd);
    /// A successful attempt sent `to_builder` bytes of dependencies and fetched `from_builder` bytes of
    /// results.
    fn transferred(&self, to_builder: u64, from_builder: u64);
    /// The buildrun's status changed (as written to status.json, at most as often as that file).
    fn status(&self, status: &StatusJson) {
        let _ = status;
    }
}
