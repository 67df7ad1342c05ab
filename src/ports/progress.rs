//! Progress reports from loading a ports tree, for a front end to show: the loader only counts, it
//! never draws. `buildmaster plan` renders these as a terminal bar (`cli::progress`).

use std::fmt;

/// Told how recipe evaluation advances. Called from the loading thread and from the evaluator's worker
/// threads, so implementations only count and never block. Both methods default to doing nothing.
pub trait EvalProgress: Send + Sync + fmt::Debug {
    /// `evaluations` more evaluations are due (one pass: recipes for the primary architecture, then
    /// the secondary-architecture pass). Cache hits are included and reported done at once.
    fn planned(&self, evaluations: usize) {
        let _ = evaluations;
    }
    /// `evaluations` more evaluations are done (answered by the cache, or run through bash).
    fn evaluated(&self, evaluations: usize) {
        let _ = evaluations;
    }
}

/// Reports nothing: loading without a front end.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvalProgress;

impl EvalProgress for NoEvalProgress {}
