//! One buildrun job as the CLI and the daemon run it: plan what is wanted (task of [`crate::plan`]),
//! run the plan, and for `--update` and `--everything` record the processed revision once the buildrun
//! has ended — with failures too, as HaikuPorter's `buildmaster update` does (failed ports are retried
//! when their recipes change again), but not when it was interrupted.
//!
//! `--everything` records the tree's `HEAD` too: it covers every active port, so it is the natural first
//! run of an instance that then follows `--update` from cron. The revision is read *before* planning, so
//! a commit landing during the buildrun is left for the next `--update`. Named ports record nothing:
//! they do not cover the rest of the tree.

use super::run::{run_buildrun, Context, Summary};
use super::BuildrunError;
use crate::plan::instance::{plan_instance, Wanted};
use crate::plan::revision::{head_revision, set_processed_revision};
use crate::ports::model::RecipeProblem;

/// What a job did.
#[derive(Debug)]
pub struct JobReport {
    /// The buildrun, or `None` when the plan had nothing to build or report.
    pub summary: Option<Summary>,
    /// Recipes that could not be evaluated (reported, never fatal).
    pub problems: Vec<RecipeProblem>,
    /// For `--update` and `--everything`: the revision recorded as processed.
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
    let (planned, everything_head) = tokio::task::spawn_blocking(move || {
        let head = (w == Wanted::Everything).then(|| everything_head(&config.ports_tree(state.root())));
        plan_instance(&config, &state, &w).map(|planned| (planned, head.flatten()))
    })
    .await
    .map_err(|e| BuildrunError::Planning(e.to_string()))?
    .map_err(|e| BuildrunError::Planning(e.to_string()))?;
    for problem in &planned.problems {
        tracing::warn!(recipe = %problem.recipe_path.display(), "{}", problem.message);
    }
    // A named port the tree does not have is a typo, not a request to build nothing: refuse the whole
    // request before a buildrun exists, as HaikuPorter refuses an unknown port.
    let unknown = planned.unknown_ports();
    if !unknown.is_empty() {
        return Err(BuildrunError::UnknownPorts(unknown_ports_message(&unknown)));
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
    if let Some(head) = planned.head.or(everything_head) {
        set_processed_revision(&ctx.state.database(), &head)
            .map_err(|e| BuildrunError::Planning(format!("recording the processed revision: {e}")))?;
        report.processed_revision = Some(head);
    }
    Ok(report)
}

/// "no recipe for X (did you mean Y?), …; nothing was built", with the names cut to a printable length.
fn unknown_ports_message(unknown: &[(&str, Option<&str>)]) -> String {
    const SHOWN: usize = 10;
    const NAME_CHARS: usize = 80;
    let mut parts: Vec<String> = unknown
        .iter()
        .take(SHOWN)
        .map(|(port, suggestion)| {
            let port = crate::bounded_text::shortened(port, NAME_CHARS);
            match suggestion {
                Some(suggestion) => format!("{port:?} (did you mean {suggestion}?)"),
                None => format!("{port:?}"),
            }
        })
        .collect();
    if unknown.len() > SHOWN {
        parts.push(format!("and {} more", unknown.len() - SHOWN));
    }
    format!(
        "the ports tree has no recipe for {}; nothing was built (`buildmaster plan --everything` lists what there is)",
        parts.join(", ")
    )
}

/// The revision an `--everything` run will have processed: the tree's `HEAD`, or `None` (logged) for a
/// tree that is not a git checkout — there is then nothing for `--update` to follow.
fn everything_head(tree: &std::path::Path) -> Option<String> {
    match head_revision(tree) {
        Ok(head) => Some(head),
        Err(err) => {
            tracing::warn!(%err, "not recording a processed revision: `--update` needs a git checkout");
            None
        }
    }
}
