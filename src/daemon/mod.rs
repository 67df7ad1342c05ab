//! The daemon behind `buildmaster serve`: one loop that watches the ports tree, takes requests (API
//! and HaikuPorter's trigger files), runs one job at a time (a buildrun, or a publish), publishes after
//! every buildrun, calls the webhook, and stops cleanly on SIGTERM with the buildrun resumable.
//!
//! # Layout
//! - [`control`]: requests (API, trigger files) and the daemon's status.
//! - [`jobs`]: the jobs of a real instance — buildruns (planning included) and publishes.
//! - [`run`]: the loop — one job at a time, publish after a buildrun, clean stop.
//! - [`triggers`]: HaikuPorter's `stop`, `do-everything`, `do-packages`, `do-repository` files.
//! - [`git`]: the ports tree's HEAD and `git pull --ff-only`.
//! - [`webhook`]: the POST after each publish (`REPOSITORY_TRIGGER_URL`).

pub mod control;
pub mod git;
pub mod jobs;
pub mod run;
pub mod triggers;
pub mod webhook;

#[cfg(test)]
mod git_tests;
#[cfg(test)]
mod run_tests;
