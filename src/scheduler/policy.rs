//! Which ready build goes to a free builder next.

use super::graph::{BuildGraph, BuildId};

/// A scheduling policy: a priority over ready builds (higher first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Longest remaining critical path first, then most dependents, then port order. Builds that
    /// gate long chains start early, so the run is not left waiting on one late, long chain.
    CriticalPath,
    /// First ready, first built, in the order the ports were requested: HaikuPorter's policy, kept as
    /// the baseline.
    Fifo,
}

/// A sortable priority key: larger is more urgent.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Priority(f64, usize, std::cmp::Reverse<usize>);

impl Policy {
    /// The priority of a ready build that became ready as the `ready_seq`-th one.
    pub fn priority(self, graph: &BuildGraph, id: BuildId, ready_seq: usize) -> Priority {
        match self {
            Self::CriticalPath => Priority(
                graph.bottom_level(id),
                graph.dependents(id).len(),
                std::cmp::Reverse(id),
            ),
            Self::Fifo => Priority(0.0, 0, std::cmp::Reverse(ready_seq)),
        }
    }
}
