//! One scratch build, end to end: prune expired ones, resolve the ref, prepare the scratch directory,
//! run a buildrun there through the buildrun code path ([`crate::buildrun::plan_and_run`], the same
//! planner, builders, build command and dependency resolution), stage and check its packages, record
//! and report the verdict.

use std::path::PathBuf;
use std::sync::Arc;

use buildmaster_storage::StorageBackend;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::gate_check::{installability, stage, Installability};
use super::prune::{prune_expired, PruneReport};
use super::verdict::{self, Verdict, CONTEXT};
use super::workspace::{resolve_ref, ScratchRecord, Workspace};
use super::ScratchError;
use crate::buildrun::lock::RunLock;
use crate::buildrun::{fleet, plan_and_run, Context, Patience, Summary};
use crate::config::instance::InstanceConfig;
use crate::plan::instance::Wanted;
use crate::state::StateDir;

/// What to build.
#[derive(Clone, Debug)]
pub struct ScratchRequest {
    /// A branch, tag or commit of the instance's ports tree.
    pub reference: String,
    /// Ports to build; empty means what a `buildrun --update` would build at the ref (the ports
    /// changed since the instance's processed revision).
    pub ports: Vec<String>,
    /// Who asked (`cli:<user>`, `api:<token>`): the audit log's "who".
    pub who: String,
}

/// The instance a scratch build runs for.
pub struct ScratchContext {
    /// The instance's state directory (read: database snapshot, spool links, repository).
    pub state: StateDir,
    /// The instance config.
    pub config: InstanceConfig,
    /// The package storage, from which builders fetch published dependencies.
    pub storage: Arc<dyn StorageBackend>,
    /// The gate's staging storage, when `[gate]` is configured.
    pub staging: Option<Arc<dyn StorageBackend>>,
    /// HaikuPorter's builders directory, as `buildmaster buildrun --builders-dir`.
    pub builders_dir: Option<PathBuf>,
    /// Stops the build.
    pub cancel: CancellationToken,
}

/// What a scratch build did.
#[derive(Clone, Debug, Serialize)]
pub struct ScratchReport {
    /// Its record (`scratch.json`), verdict included.
    pub record: ScratchRecord,
    /// The verdict as sent to the webhook.
    pub verdict: Verdict,
    /// The buildrun's summary, when something was planned.
    #[serde(skip)]
    pub summary: Option<Summary>,
    /// The installability check, when packages were built.
    pub installability: Option<Installability>,
    /// Milliseconds spent preparing the scratch directory (clone, snapshots, links): the cost of a
    /// scratch build over a buildrun of the same ports.
    pub prepare_ms: u64,
    /// Scratch builds deleted before this one started.
    #[serde(skip)]
    pub pruned: PruneReport,
}

/// The build and gate's result, before it becomes a verdict.
struct Gated {
    summary: Option<Summary>,
    installability: Option<Installability>,
}

/// The instance config with the scratch clone as ports tree and the system packages pinned to the
/// instance's directory (it is relative to the state directory by default).
fn scratch_config(cx: &ScratchContext, ws: &Workspace) -> InstanceConfig {
    let mut config = cx.config.clone();
    config.ports.system_packages = cx.config.system_packages(cx.state.root());
    config.ports.tree = Some(ws.tree());
    config
}

async fn build_and_gate(
    cx: &ScratchContext,
    ws: &mut Workspace,
    ports: &[String],
) -> Result<Gated, ScratchError> {
    // The builders' ports trees and package directories are the instance's: a scratch build holds the
    // instance's buildrun lock, so that it and a buildrun never switch a builder's tree under each
    // other (each is refused as busy while the other runs, as two buildruns are).
    let _instance = RunLock::acquire(&cx.state)?;
    let state = ws.state();
    let config = scratch_config(cx, ws);
    // The instance's builders, whichever way it configures them (the default builders directory is
    // the instance's, not the scratch directory's).
    let dir = cx
        .builders_dir
        .clone()
        .or_else(|| Some(cx.state.root().join("builders")).filter(|d| d.is_dir()));
    let specs = fleet::builder_specs(&state, &config, dir.as_deref())?;
    let builders = fleet::make_builders(specs, &state, &config, Some(cx.storage.clone()))?;
    let ctx = Context {
        state: state.clone(),
        config,
        builders,
        cancel: cx.cancel.clone(),
        observer: None,
        patience: Patience::one_shot(),
    };
    let wanted = if ports.is_empty() {
        Wanted::Update
    } else {
        Wanted::Ports(ports.to_vec())
    };
    let report = plan_and_run(&ctx, &wanted).await?;
    let Some(summary) = report.summary else {
        return Ok(Gated {
            summary: None,
            installability: None,
        });
    };
    let built: Vec<PathBuf> = summary
        .built_packages
        .iter()
        .map(|name| state.packages().join(name))
        .collect();
    if let Some(staging) = &cx.staging {
        ws.record.staged = stage(staging.as_ref(), ws.record.id, &built).await?;
        ws.save()?;
    }
    let system = ctx.config.ports.system_packages.clone();
    let installability = tokio::task::spawn_blocking({
        let repository = cx.state.repository();
        move || installability(&built, &repository, system.as_deref())
    })
    .await
    .map_err(|e| ScratchError::Check(e.to_string()))??;
    Ok(Gated {
        summary: Some(summary),
        installability: Some(installability),
    })
}

/// `success`/`failure` and a description for a build that ran.
fn judge(gated: &Gated) -> (&'static str, String) {
    let Some(summary) = &gated.summary else {
        return ("success", "nothing to build at this ref".into());
    };
    // Not a verdict on the change: the scratch build could not finish.
    if let Some(why) = &summary.stalled {
        return ("error", format!("no builder could work: {why}"));
    }
    if summary.interrupted {
        return ("error", "interrupted before every build ended".into());
    }
    let mut problems = Vec::new();
    problems.extend(summary.failed.iter().map(|(port, _)| format!("{port} failed")));
    problems.extend(summary.lost.iter().map(|(port, _)| format!("{port} lost")));
    // A buildrun reports a requested port it cannot build and carries on; for a proposed change that
    // port is the point, so it fails the verdict.
    problems.extend(
        summary
            .skipped
            .iter()
            .map(|(port, why)| format!("{port} not built: {why}")),
    );
    if let Some(check) = &gated.installability {
        problems.extend(check.unresolved.iter().map(|u| {
            format!(
                "{} cannot be installed: nothing provides {}",
                u.package, u.requires
            )
        }));
    }
    if problems.is_empty() {
        (
            "success",
            format!(
                "built {}; every package installable",
                summary.built_packages.join(", ")
            ),
        )
    } else {
        ("failure", problems.join("; "))
    }
}

/// Appends the scratch build to the gate's audit log (an instance without `[gate]` has none).
fn audit(cx: &ScratchContext, who: &str, record: &ScratchRecord, now: i64) {
    if cx.config.gate.is_none() {
        return;
    }
    let detail = format!(
        "ref {} at {}: {} — {}",
        record.reference,
        record.sha,
        record.verdict.as_deref().unwrap_or("error"),
        record.description
    );
    let result = crate::gate::store::GateStore::open(&cx.state.database())
        .and_then(|mut store| store.audit(who, "scratch", &format!("scratch {}", record.id), &detail, now));
    if let Err(err) = result {
        tracing::warn!(%err, scratch = record.id, "could not audit the scratch build");
    }
}

/// Runs a scratch build of `request` at `now` (unix seconds).
pub async fn run_scratch(
    cx: &ScratchContext,
    request: &ScratchRequest,
    now: i64,
) -> Result<ScratchReport, ScratchError> {
    let settings = cx.config.scratch.clone().unwrap_or_default();
    let pruned = prune_expired(&cx.state, cx.staging.as_deref(), now).await;
    for failure in &pruned.failed {
        tracing::warn!("pruning scratch builds: {failure}");
    }
    let tree = cx.config.ports_tree(cx.state.root());
    let sha = resolve_ref(&tree, &request.reference)?;
    let preparing = std::time::Instant::now();
    let mut ws = Workspace::create(
        &cx.state,
        &cx.config,
        &request.reference,
        &sha,
        now,
        settings.ttl_seconds(),
    )?;
    let prepare_ms = preparing.elapsed().as_millis() as u64;
    let outcome = build_and_gate(cx, &mut ws, &request.ports).await;
    let (state, description) = match &outcome {
        Ok(gated) => {
            let (state, description) = judge(gated);
            (state, description)
        }
        Err(err) => ("error", err.to_string()),
    };
    ws.record.verdict = Some(state.to_string());
    ws.record.description = crate::bounded_text::shortened(&description, 1000);
    ws.save()?;
    audit(cx, &request.who, &ws.record, now);
    let verdict = Verdict {
        state: state.to_string(),
        sha: ws.record.sha.clone(),
        reference: ws.record.reference.clone(),
        context: CONTEXT.to_string(),
        description: ws.record.description.clone(),
        pipeline: ws.record.id,
    };
    verdict::report(settings.webhook_url.as_deref(), &verdict).await;
    let (summary, installability) = match outcome {
        Ok(gated) => (gated.summary, gated.installability),
        Err(_) => (None, None),
    };
    Ok(ScratchReport {
        record: ws.record,
        verdict,
        summary,
        installability,
        prepare_ms,
        pruned,
    })
}
