//! Scratch builds: a proposed change of the ports tree (a branch or commit) built on the instance's
//! builders exactly as a buildrun would build it, gated, reported to a webhook, never published, and
//! deleted after a TTL (Koji's scratch builds; Packit's CI on a change). See `docs/gate.md`, "Scratch
//! builds".
//!
//! The build itself is a buildrun ([`crate::buildrun::plan_and_run`]) run against a *scratch state
//! directory* `<state>/scratch/<N>/`: a clone of the ports tree at the ref, a snapshot of the state
//! database (so the planner sees the same present packages and the builders get the same dependency
//! set) and hard links of the spool. Results land in that directory; the real buildrun state, output
//! tree and published repository are never written.
//!
//! - [`settings`]: `[scratch]` — TTL and webhook.
//! - [`workspace`]: the scratch state directory (checkout, snapshot, its record `scratch.json`).
//! - [`gate_check`]: inspecting and staging the results under `scratch/<N>/`, and a HaikuPorts
//!   tree's installability check.
//! - [`repository_check`]: a Debian or RPM tree's installability check, in its `[ports] repository`.
//! - [`pipeline`]: its pipeline in the gate's records (kind `scratch`), with the policy's checks.
//! - [`verdict`]: the commit-status JSON POSTed to the webhook.
//! - [`prune`]: deleting expired scratch builds (staging objects, then the directory).
//! - [`run`]: one scratch build, end to end.

pub mod gate_check;
pub mod pipeline;
pub mod prune;
pub mod repository_check;
pub mod run;
pub mod settings;
pub mod verdict;
pub mod workspace;

pub use run::{run_scratch, ScratchReport, ScratchRequest};
pub use settings::ScratchSection;

/// Why a scratch build could not run (a failed build or check is a verdict, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// The ref does not name a commit of the instance's ports tree.
    #[error("ref {reference:?}: {message}")]
    Ref {
        /// The ref as given.
        reference: String,
        /// What git said.
        message: String,
    },
    /// Preparing the scratch directory (clone, snapshot, links, record) failed.
    #[error("scratch directory {path}: {message}")]
    Workspace {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The buildrun failed as a whole (config, planning, builders).
    #[error(transparent)]
    Buildrun(#[from] crate::buildrun::BuildrunError),
    /// The staging storage failed (a retry may help).
    #[error("staging storage: {0}")]
    Staging(String),
    /// The installability check could not run (its task failed).
    #[error("installability check: {0}")]
    Check(String),
}
