//! `GET /api/events`: a server-sent event whenever the current buildrun changes.
//!
//! Two triggers: the daemon's [`StatusNotifier`](super::state::StatusNotifier) (immediate), and, as the
//! fallback for an output tree written by another process, a look at `last_buildrun` and the current
//! status.json's size and mtime every poll interval. An event is sent only when something differs from the
//! last one sent, so a UI can refetch on every event.
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
use super::output::{BuildrunSummary, FileStamp};
use super::state::{AppState, DaemonStatus};

/// The data of a `status` event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// The current buildrun, `None` before the first.
    pub current: Option<BuildrunSummary>,
    /// What the daemon says about itself.
    pub daemon: DaemonStatus,
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

/// What the files looked like when the last event was sent.
#[derive(PartialEq)]
struct Fingerprint {
    current: Option<u64>,
    status: Option<FileStamp>,
    generation: u64,
}

struct Watcher {
    app: AppState,
    daemon: watch::Receiver<DaemonStatus>,
    last_sent: Option<(Fingerprint, StatusEvent)>,
}

impl Watcher {
    fn fingerprint(&self) -> Fingerprint {
        let current = self.app.output().current().ok().flatten();
        Fingerprint {
            current,
            status: current.and_then(|n| FileStamp::of(&self.app.output().status_path(n))),
            generation: self.daemon.borrow().generation,
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
                            daemon: self.daemon.borrow().clone(),
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
                changed = self.daemon.changed() => {
                    if changed.is_err() {
                        // The notifier is gone (server dropping); files are still polled.
                        self.daemon = self.app.daemon_status();
                    }
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
        app,
        last_sent: None,
    };
    let stream = futures::stream::unfold(watcher, |mut watcher| async move {
        let event = watcher.next_event().await?;
        Some((Ok(event), watcher))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
