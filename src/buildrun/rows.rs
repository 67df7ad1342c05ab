//! The records of the buildrun store: a buildrun's and a build's states and rows, results and
//! builders as recorded (and as the daemon's API serves them).

use serde::{Deserialize, Serialize};

/// Where a buildrun is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Running (or the process running it died: resumed on the next start).
    Running,
    /// Stopped on request (SIGINT/SIGTERM, cancellation) with work left: resumed on the next start.
    Interrupted,
    /// Every build ended (complete, failed or lost).
    Complete,
    /// The run itself failed (not a build): the status says why. Not resumed.
    Failed,
}

impl RunState {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    /// Parses the database spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => Self::Running,
            "interrupted" => Self::Interrupted,
            "complete" => Self::Complete,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Whether a restarted buildmaster picks the buildrun up again.
    pub fn is_resumable(self) -> bool {
        matches!(self, Self::Running | Self::Interrupted)
    }
}

/// Where a build is; HaikuPorter's lists (reference report §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildState {
    /// Waiting for packages other builds of this run produce.
    Blocked,
    /// Ready: every dependency exists; waiting for a builder.
    Scheduled,
    /// Running on a builder.
    Active,
    /// Built; results verified and in the spool.
    Complete,
    /// The build failed (final: not retried automatically).
    Failed,
    /// Can never run: a dependency failed or was lost, or its retry budget for transient errors is
    /// spent.
    Lost,
}

impl BuildState {
    /// The database (and status.json list) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocked => "blocked",
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Lost => "lost",
        }
    }

    /// Parses the database spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "blocked" => Self::Blocked,
            "scheduled" => Self::Scheduled,
            "active" => Self::Active,
            "complete" => Self::Complete,
            "failed" => Self::Failed,
            "lost" => Self::Lost,
            _ => return None,
        })
    }

    /// Whether the build has ended for this buildrun.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Lost)
    }
}

/// One buildrun, without its plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildrunInfo {
    /// Buildrun number (the output directory's name).
    pub id: u64,
    /// What was asked for (`update`, `everything`, `build a b`).
    pub request: String,
    /// Lifecycle state.
    pub state: RunState,
    /// HaikuPorter's `buildStatus` text (`starting builds`, `complete (with 2 failures)`, …).
    pub status: String,
    /// The ports tree commit the run builds, when the tree is a git checkout.
    pub ports_head: Option<String>,
    /// The ports tree's `origin` URL, when known.
    pub ports_origin: Option<String>,
    /// Start (Unix seconds).
    pub started_at: f64,
    /// End (Unix seconds), once ended.
    pub ended_at: Option<f64>,
}

/// One build of a buildrun, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildRow {
    /// Index into the plan's builds.
    pub index: usize,
    /// The port's `name-version`.
    pub port: String,
    /// Where it is.
    pub state: BuildState,
    /// The builder of the current or last attempt.
    pub builder: Option<String>,
    /// Attempts that ended (successfully or not); interrupted attempts do not count.
    pub attempts: u32,
    /// Build numbers of every attempt, in order.
    pub build_numbers: Vec<u64>,
    /// Start of the current or last attempt (Unix seconds).
    pub started_at: Option<f64>,
    /// End of the last attempt (Unix seconds).
    pub ended_at: Option<f64>,
    /// Why it failed or was lost (or why its last attempt was re-queued).
    pub failure_reason: Option<String>,
}

/// A verified result of a completed build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResultRow {
    /// The build's plan index.
    pub index: usize,
    /// Canonical file name.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// A builder's current state, for status pages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuilderRow {
    /// Builder name.
    pub name: String,
    /// `available`, `busy`, `reconnecting` or `lost`.
    pub state: String,
    /// Buildrun of the build it runs, if busy.
    pub buildrun: Option<u64>,
    /// Build number it runs, if busy.
    pub build_number: Option<u64>,
    /// Port it builds, if busy.
    pub port: Option<String>,
    /// The last connection or infrastructure error.
    pub last_error: Option<String>,
    /// Consecutive connection failures.
    pub connection_errors: u32,
    /// When this row last changed (Unix seconds).
    pub updated_at: f64,
}
