//! Build scheduling over an explicit dependency graph.
//!
//! - [`graph`]: [`BuildGraph`], builds with durations and dependencies; critical-path lengths.
//! - [`policy`]: which ready build goes next: by critical path (ours) or FIFO (HaikuPorter's).
//! - [`simulate`]: an event-driven simulation of N builders running a graph under a policy.
//! - [`generate`]: synthetic dependency graphs shaped like a ports tree, for benchmarks and tests.

pub mod generate;
pub mod graph;
pub mod policy;
pub mod simulate;

pub use graph::BuildGraph;
pub use policy::Policy;
pub use simulate::{simulate, Schedule};
