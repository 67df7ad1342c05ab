//! Buildruns: a plan's builds run on the builders, event-driven and durable, with HaikuPorter's output
//! tree, resumed after a crash or a stop. See `docs/buildruns.md`.
//!
//! # Layout
//! - [`job`]: plan → run → record the processed revision, as the CLI and the daemon run a buildrun.
//! - [`run`]: the entry points, [`run_buildrun`] and [`resume_unfinished`], and their [`Context`].
//! - [`executor`]: the event loop: priority, affinity, retries, failure propagation, waiting for
//!   builders.
//! - [`outcome`], [`progress`]: the executor's handling of ended attempts, and its status view.
//! - [`worker`]: one task per builder: ready → job → outcome.
//! - [`rebuild`]: one build again from its job manifest alone, on a builder named by the operator.
//! - [`inputs`]: a build's sources placed from the source cache and its job manifest recorded, just
//!   before it starts.
//! - [`patience`]: backoff between attempts, and how long a one-shot run waits for builders; the
//!   executor's side of it is in `waiting.rs`.
//! - [`builder`]: the [`Builder`] trait over remote and local builders.
//! - [`fleet`]: which builders a buildrun uses (`[[builders]]`, HaikuPorter's builders directory, or
//!   one local builder).
//! - [`served`]: a Debian or RPM tree's present packages: the served repository's pool files.
//! - [`lock`]: one buildrun at a time per state directory.
//! - [`deps`]: a build's dependencies as [`WantedPackage`](crate::builders::package::WantedPackage)s.
//! - [`rows`]: the store's records ([`RunState`], [`BuildState`], rows).
//! - [`store`]: buildruns, builds, results and counters in the state database.
//! - [`observer`]: the hook the daemon's metrics use to watch attempts and transfers.
//! - [`output`]: `output/buildruns/<N>/…`, logs, records, atomic status.json.
//! - [`status`], [`report`]: HaikuPorter's status.json and record shapes, and assembling them.

pub mod builder;
pub mod deps;
pub mod executor;
pub mod fleet;
pub mod inputs;
pub mod job;
pub mod lock;
pub mod observer;
pub mod outcome;
pub mod output;
pub mod patience;
pub mod progress;
pub mod rebuild;
pub mod report;
pub mod rows;
pub mod run;
pub mod served;
pub mod status;
pub mod store;
mod waiting;
pub mod worker;

pub use builder::Builder;
pub use job::{plan_and_run, JobReport};
pub use patience::Patience;
pub use run::{resume_unfinished, run_buildrun, Context, Summary};
pub use store::{BuildState, BuildrunStore, RunState};

/// Why a buildrun could not run (individual build failures are not errors: they are in the summary).
#[derive(Debug, thiserror::Error)]
pub enum BuildrunError {
    /// The durable state failed; nothing further was done.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The output tree could not be written.
    #[error("writing the buildrun output: {0}")]
    Output(std::io::Error),
    /// The builders' configuration is invalid.
    #[error("builders: {0}")]
    Config(String),
    /// The plan cannot be run (not in build order, or inconsistent with its records).
    #[error("invalid plan: {0}")]
    Plan(String),
    /// Another process is running a buildrun on this state directory.
    #[error("{0}")]
    Busy(String),
    /// Planning failed (ports tree, existing packages, `--update` revisions).
    #[error("planning: {0}")]
    Planning(String),
    /// Ports were named that the tree has no recipe for (a typo): nothing was started.
    #[error("{0}")]
    UnknownPorts(String),
    /// The present dependencies could not be looked up.
    #[error("dependencies: {0}")]
    Dependencies(String),
}
