//! Promotion by hand (Bodhi's "push to stable" request): repositories named in
//! `[gate] manual_promotion` do not get a green pipeline's packages until somebody with the `promote`
//! right asks (`POST /api/pipelines/{id}/promote`, `buildmaster gate promote N`). Until then the
//! pipeline is `green`, its packages stay staged, and nothing that depends on them counts them as
//! present. The request is audited; the promotion itself is the gate's, as for any green pipeline:
//! at once for pushed packages, at the next publish for built ones (`haikuports`).

use super::store::{Pipeline, PipelineKind, PipelineState};

/// The repositories whose green pipelines wait for a promote request.
#[derive(Clone, Debug, Default)]
pub struct ManualPromotion {
    /// Globs over repository ids (`debian/stable`, `rpm/*`).
    patterns: Vec<glob::Pattern>,
}

impl ManualPromotion {
    /// From `[gate] manual_promotion`; an error names the bad glob.
    pub fn new(globs: &[String]) -> Result<Self, String> {
        let patterns = globs
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| format!("[gate] manual_promotion {g:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether `repository` is promoted by hand.
    pub fn covers(&self, repository: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(repository))
    }

    /// Whether `pipeline` waits for a promote request before its packages are promoted: one of its
    /// packages goes into a repository promoted by hand, and nobody asked yet.
    pub fn awaits_request(&self, pipeline: &Pipeline) -> bool {
        pipeline.promote_requested_by.is_none()
            && pipeline
                .packages
                .iter()
                .flat_map(|s| s.targets.iter())
                .any(|t| self.covers(t))
    }
}

/// Why a pipeline cannot be promoted by hand now; the API answers 409 with it (404 for `Unknown`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromoteRefused {
    /// No such pipeline.
    #[error("there is no pipeline {0}")]
    Unknown(i64),
    /// Not green: it is checking, red (fix or waive first) or already promoted.
    #[error("pipeline {id} is {state}, not green: {summary}")]
    NotGreen {
        /// The pipeline.
        id: i64,
        /// Its state.
        state: String,
        /// Its summary (why it is red).
        summary: String,
    },
    /// A scratch build's pipeline: never promoted.
    #[error("pipeline {0} is a scratch build's: scratch builds are never promoted")]
    Scratch(i64),
}

/// Checks that `pipeline` (number `id`) may be promoted by hand: it exists, is not a scratch build's,
/// and is green.
pub fn check_promotable(id: i64, pipeline: Option<&Pipeline>) -> Result<&Pipeline, PromoteRefused> {
    let pipeline = pipeline.ok_or(PromoteRefused::Unknown(id))?;
    if pipeline.kind == PipelineKind::Scratch {
        return Err(PromoteRefused::Scratch(id));
    }
    if pipeline.state != PipelineState::Green {
        let state = serde_json::to_value(pipeline.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(PromoteRefused::NotGreen {
            id,
            state,
            summary: pipeline.summary.clone(),
        });
    }
    Ok(pipeline)
}
