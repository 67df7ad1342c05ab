//! One buildrun job as the CLI and the daemon run it: plan what is wanted (task of [`crate::plan`]),
//! run the plan, and for `--update` record the processed revision once the buildrun has ended —
//! with failures too, as HaikuPorter's `buildmaster update` does (failed ports are retried when their
//! recipes change again), but not when it was interrupted.

use super::run::{run_buildrun, Context, Summary};
use super::BuildrunError;
use crate::plan::instance::{plan_instance, Wanted};
use crate::plan::revision::set_processed_revision;
use crate::ports::model::RecipeProblem;

/// What a job did.
#[derive(Debug)]
pub struct JobReport {
    /// The buildrun, or `None` when the plan had nothing to build or report.
    pub summary: Option<Summary>,
    /// Recipes that could not be evaluated (reported, never fatal).
    pub problems: Vec<RecipeProblem>,
    /// For `--update`: the revision recorded as processed.
    pub processed_revision: Option<String>,
}

/// The request as buildruns.txt readers and status pages show it.
pub fn describe(wanted: &Wanted) -> String {
    match wanted {
        Wanted::Update => "update".into(),
        Wanted::Everything => "everything".into(),
        Wanted::Ports(ports) => format!("build {}", ports.join(" ")),
    }
}

/// Plans `wanted` for the context's instance, runs the plan, records the processed revision.
pub async fn plan_and_run(ctx: &Context, wanted: &Wanted) -> Result<JobReport, BuildrunError> {
    let (config, state, w) = (ctx.config.clone(), ctx.state.clone(), wanted.clone());
    // Loading the tree runs bash workers and reads packages: off the async threads.
    let planned = tokio::task::spawn_blocking(move || plan_instance(&config, &state, &w))
        .await
        .map_err(|e| BuildrunError::Planning(e.to_string()))?
        .map_err(|e| BuildrunError::Planning(e.to_string()))?;
    for problem in &planned.problems {
        tracing::warn!(recipe = %problem.recipe_path.display(), "{}", problem.message);
    }
    let mut report = JobReport {
        summary: None,
        problems: planned.problems,
        processed_revision: None,
    };
    let plan = planned.plan;
    if !plan.builds.is_empty() || !plan.skipped.is_empty() {
        let summary = run_buildrun(ctx, plan, &describe(wanted)).await?;
        let interrupted = summary.interrupted;
        report.summary = Some(summary);
        if interrupted {
            return Ok(report);
        }
    }
    if let Some(head) = planned.head {
        set_processed_revision(&ctx.state.database(), &head)
            .map_err(|e| BuildrunError::Planning(format!("recording the processed revision: {e}")))?;
        report.processed_revision = Some(head);
    }
    Ok(report)
}
