//! `GET /api/events`: a server-sent event whenever the current buildrun changes.
//!
//! Two triggers: a change of the daemon's status `watch` (immediate), and a look at `last_buildrun` and the
//! current status.json's size and mtime every poll interval — the executor rewrites status.json on every
//! state change, and the same look serves an output tree written by another process. An event is sent only
//! when something differs from the last one sent, so a UI can refetch on every event.
//!
//! Events: `status` — data [`StatusEvent`]: the current buildrun's summary (counts by state, status text)
//! and the daemon's status. Sent once on connect, then on every change.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::watch;

use super::error::ApiError;
use super::logs::json_event;
use super::output::{strip_credentials, BuildrunSummary, FileStamp};
use super::state::AppState;
use crate::daemon::control::DaemonStatus;

/// The data of a `status` event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// The current buildrun, `None` before the first.
    pub current: Option<BuildrunSummary>,
    /// What the daemon says about itself (`daemon::control::DaemonStatus`, credentials in URLs removed).
    pub daemon: serde_json::Value,
}

/// The current buildrun's summary, `None` when there is none or its status.json is missing.
pub async fn current_summary(app: &AppState) -> Result<Option<BuildrunSummary>, ApiError> {
    let Some(n) = app.output().current()? else {
        return Ok(None);
    };
    match app.output().status(n).await {
        Ok(status) => Ok(Some(BuildrunSummary::from_status(n, &status))),
        Err(ApiError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The daemon's status as JSON, with credentials in URLs removed (its last error may quote one).
pub fn daemon_json(status: &DaemonStatus) -> serde_json::Value {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    strip_credentials(&mut value);
    value
}

/// What the files looked like when the last event was sent.
#[derive(PartialEq)]
struct Fingerprint {
    current: Option<u64>,
    status: Option<FileStamp>,
    daemon: DaemonStatus,
}

struct Watcher {
    app: AppState,
    daemon: watch::Receiver<DaemonStatus>,
    /// The daemon's status sender is gone (`changed()` would return at once forever).
    daemon_gone: bool,
    last_sent: Option<(Fingerprint, StatusEvent)>,
}

impl Watcher {
    fn fingerprint(&self) -> Fingerprint {
        let current = self.app.output().current().ok().flatten();
        Fingerprint {
            current,
            status: current.and_then(|n| FileStamp::of(&self.app.output().status_path(n))),
            daemon: self.daemon.borrow().clone(),
        }
    }

    /// Waits for the next change; `None` on shutdown.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            let fingerprint = self.fingerprint();
            let unchanged = self
                .last_sent
                .as_ref()
                .is_some_and(|(last, _)| *last == fingerprint);
            if !unchanged {
                match current_summary(&self.app).await {
                    Ok(current) => {
                        let event = StatusEvent {
                            current,
                            daemon: daemon_json(&fingerprint.daemon),
                        };
                        let same = self.last_sent.as_ref().is_some_and(|(_, last)| *last == event);
                        let out = json_event("status", &event);
                        self.last_sent = Some((fingerprint, event));
                        if !same {
                            return Some(out);
                        }
                    }
                    // status.json mid-rewrite: look again at the next tick without recording it as sent.
                    Err(e) => tracing::debug!(error = %e, "status event postponed"),
                }
            }
            tokio::select! {
                changed = self.daemon.changed(), if !self.daemon_gone => {
                    // The daemon has stopped: its last status stays, the files are still polled.
                    self.daemon_gone = changed.is_err();
                }
                _ = tokio::time::sleep(self.app.poll_interval()) => {}
                _ = self.app.shutdown().cancelled() => return None,
            }
        }
    }
}

/// `GET /api/events`.
pub async fn events(State(app): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watcher = Watcher {
        daemon: app.daemon_status(),
        daemon_gone: false,
        app,
        last_sent: None,
    };
    let stream = futures::stream::unfold(watcher, |mut watcher| async move {
        let event = watcher.next_event().await?;
        Some((Ok(event), watcher))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
