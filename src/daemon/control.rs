//! What the daemon can be asked to do, from the API or a trigger file, and what it tells the world
//! about itself. One job runs at a time; requests queue behind it in order, and identical pending
//! requests collapse into one.

use serde::Serialize;

pub use crate::plan::instance::Wanted;

/// A request to the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Run a buildrun, then publish.
    Buildrun(Wanted),
    /// Publish only (HaikuPorter's `do-repository`).
    Publish,
    /// Start no new job until resumed (the running one finishes).
    Pause,
    /// Undo [`Request::Pause`].
    Resume,
}

/// What the daemon is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Activity {
    /// Starting up (resuming an unfinished buildrun, if any).
    #[default]
    Starting,
    /// Waiting for a commit or a request.
    Idle,
    /// Paused by the API or a `stop` file; `by` says which.
    Paused {
        /// `api` or the stop file's path.
        by: String,
    },
    /// Running a job.
    Running {
        /// The job.
        job: Request,
    },
    /// Shutting down: the running job is being checkpointed.
    Stopping,
}

/// The daemon's status, published on a `watch` channel for the API and the UI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DaemonStatus {
    /// What it is doing.
    pub activity: Activity,
    /// Jobs waiting, in order.
    pub queue: Vec<Request>,
    /// The ports tree's checked-out commit, when known.
    pub ports_tree_head: Option<String>,
    /// The last job's failure, if it failed (cleared by the next success).
    pub last_error: Option<String>,
}

/// Appends `request` to `queue` unless an identical one is already waiting.
pub fn enqueue(queue: &mut Vec<Request>, request: Request) {
    if !queue.contains(&request) {
        queue.push(request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_pending_requests_collapse() {
        let mut queue = Vec::new();
        enqueue(&mut queue, Request::Buildrun(Wanted::Update));
        enqueue(&mut queue, Request::Publish);
        enqueue(&mut queue, Request::Buildrun(Wanted::Update));
        enqueue(&mut queue, Request::Buildrun(Wanted::Ports(vec!["a".into()])));
        assert_eq!(queue.len(), 3);
    }
}
