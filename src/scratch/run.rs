//! One scratch build, end to end: prune expired ones, resolve the ref, prepare the scratch directory,
//! run a buildrun there through the buildrun code path ([`crate::buildrun::plan_and_run`], the same
//! planner, builders, build command and dependency resolution), stage and check its packages (in its
//! pipeline, when the instance has a gate: [`super::pipeline`]), record and report the verdict.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use buildmaster_storage::StorageBackend;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::gate_check::{haikuports, inspect_built, stage, Installability};
use super::pipeline::{for_scratch, ScratchPipeline};
use super::prune::{prune_expired, PruneReport};
use super::repository_check::in_repository;
use super::verdict::{self, Verdict, CONTEXT};
use super::workspace::{resolve_ref, ScratchRecord, Workspace};
use super::ScratchError;
use crate::buildrun::lock::RunLock;
use crate::buildrun::BuildrunError;
use crate::buildrun::{fleet, plan_and_run, Context, Patience, Summary};
use crate::config::instance::InstanceConfig;
use crate::gate::buildrun::HAIKUPORTS;
use crate::gate::policy::{CheckKind, Mode, Policy};
use crate::plan::instance::Wanted;
use crate::plan::recipe_tree::TreeKind;
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
    /// The pipeline already opened for it (`POST /api/scratch` answers with it before the build
    /// runs); `None`: one is opened when the instance has a gate.
    pub pipeline: Option<i64>,
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
    /// `[publish.policy]`, resolved: the lint and test commands (and installability's mode) a real
    /// buildrun's gate applies, applied to the scratch build's packages too.
    pub policy: Option<Policy>,
    /// Wait for a running buildrun (or scratch build) to end instead of failing as busy: the API's
    /// scratch builds queue; the CLI's are refused at once, as two buildruns are.
    pub wait_while_busy: bool,
    /// Stops the build.
    pub cancel: CancellationToken,
}

impl ScratchContext {
    /// The context of the instance in `state` as `config` describes it: its `[gate] staging` storage
    /// opened and `[publish.policy]` resolved now, so that a wrong one is named before anything is
    /// built.
    pub async fn for_instance(
        state: StateDir,
        config: InstanceConfig,
        storage: Arc<dyn StorageBackend>,
        builders_dir: Option<PathBuf>,
        cancel: CancellationToken,
    ) -> Result<Self, ScratchError> {
        let staging = match &config.gate {
            None => None,
            Some(gate) => {
                let fail = |e: &dyn std::fmt::Display| {
                    ScratchError::Staging(format!("[gate] staging {}: {e}", gate.staging.display()))
                };
                let settings =
                    crate::config::storage::StorageConfig::load(&gate.staging).map_err(|e| fail(&e))?;
                Some(
                    crate::storage::open_config(&settings)
                        .await
                        .map_err(|e| fail(&e))?,
                )
            }
        };
        let policy = match config.ports.kind {
            TreeKind::Haikuports => crate::gate::buildrun::haikuports_policy(&config)
                .map_err(|e| ScratchError::Check(e.to_string()))?,
            _ => Some(repository_policy(&config, &state, &storage)?),
        };
        Ok(Self {
            state,
            config,
            storage,
            staging,
            builders_dir,
            policy,
            wait_while_busy: false,
            cancel,
        })
    }
}

/// A Debian or RPM tree's checks: its `[ports] repository`'s policy, its test on a builder bound to
/// the `[[builders]]` and to what the repository serves, as the push service binds it.
fn repository_policy(
    config: &InstanceConfig,
    state: &StateDir,
    storage: &Arc<dyn StorageBackend>,
) -> Result<Policy, ScratchError> {
    let mut repository =
        crate::plan::foreign::served_repository(config).map_err(|e| ScratchError::Check(e.to_string()))?;
    let one = std::slice::from_mut(&mut repository);
    crate::gate::builder_tests::bind(one, &config.builders)
        .map_err(|e| ScratchError::Check(e.to_string()))?;
    crate::gate::builder_tests::served::bind_served(one, state, storage);
    Ok(repository.policy)
}

/// How often a scratch build that waits for the buildrun lock tries again.
const BUSY_RETRY: Duration = Duration::from_secs(2);

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
    /// Whether an unresolved requirement fails the verdict (the policy's installability mode).
    installability_blocks: bool,
    /// Each blocking lint or test failure.
    command_failures: Vec<String>,
}

/// The repository whose gate checks the tree's packages: the HaikuPorts repository, or a Debian or
/// RPM tree's `[ports] repository`.
fn target_repository(config: &InstanceConfig) -> String {
    match (config.ports.kind, &config.ports.repository) {
        (TreeKind::Haikuports, _) | (_, None) => HAIKUPORTS.to_string(),
        (_, Some(id)) => id.clone(),
    }
}

/// The instance config with the scratch clone as ports tree and the system packages pinned to the
/// instance's directory (it is relative to the state directory by default).
fn scratch_config(cx: &ScratchContext, ws: &Workspace) -> InstanceConfig {
    let mut config = cx.config.clone();
    config.ports.system_packages = cx.config.system_packages(cx.state.root());
    config.ports.tree = Some(ws.tree());
    config
}

/// The instance's buildrun lock; with `wait_while_busy`, waits for it until cancelled.
async fn lock_instance(cx: &ScratchContext) -> Result<RunLock, ScratchError> {
    loop {
        match RunLock::acquire(&cx.state) {
            Err(BuildrunError::Busy(why)) if cx.wait_while_busy => {
                tracing::info!(%why, "scratch build waiting for the running buildrun");
                tokio::select! {
                    () = cx.cancel.cancelled() => return Err(BuildrunError::Busy(why).into()),
                    () = tokio::time::sleep(BUSY_RETRY) => {}
                }
            }
            other => return Ok(other?),
        }
    }
}

async fn build_and_gate(
    cx: &ScratchContext,
    ws: &mut Workspace,
    ports: &[String],
    pipeline: Option<&ScratchPipeline>,
) -> Result<Gated, ScratchError> {
    // The builders' ports trees and package directories are the instance's: a scratch build holds the
    // instance's buildrun lock, so that it and a buildrun never switch a builder's tree under each
    // other (the CLI's is refused as busy while a buildrun runs, as two buildruns are; the API's
    // waits).
    let _instance = lock_instance(cx).await?;
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
    let installability_blocks = cx
        .policy
        .as_ref()
        .is_none_or(|p| p.mode(CheckKind::Installability) == Mode::Block);
    let Some(summary) = report.summary else {
        return Ok(Gated {
            summary: None,
            installability: None,
            installability_blocks,
            command_failures: Vec::new(),
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
    let target = target_repository(&ctx.config);
    let kind = ctx.config.ports.kind;
    let (packages, installability) = tokio::task::spawn_blocking({
        let (built, staged, database) = (built.clone(), ws.record.staged.clone(), state.database());
        let (repository, system) = (cx.state.repository(), ctx.config.ports.system_packages.clone());
        let repositories = crate::repos::config::resolve(&ctx.config.repositories)
            .map_err(|e| ScratchError::Check(e.to_string()))?;
        move || {
            let packages = inspect_built(kind.format(), &built, &staged, &target)?;
            let installability = match kind {
                TreeKind::Haikuports => haikuports(&built, &repository, system.as_deref())?,
                _ => in_repository(&database, &repositories, &packages)?,
            };
            Ok::<_, ScratchError>((packages, installability))
        }
    })
    .await
    .map_err(|e| ScratchError::Check(e.to_string()))??;
    let command_failures = match pipeline {
        Some(pipeline) => {
            let now = crate::repos::unix_seconds(std::time::SystemTime::now());
            let policy = cx
                .policy
                .as_ref()
                .map(|p| for_scratch(p, &ctx.config, &state, dir.clone(), &cx.storage));
            pipeline
                .check(&built, &packages, &installability, policy.as_ref(), now)
                .await?
        }
        None => Vec::new(),
    };
    Ok(Gated {
        summary: Some(summary),
        installability: Some(installability),
        installability_blocks,
        command_failures,
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
    problems.extend(gated.command_failures.iter().cloned());
    if let Some(check) = gated
        .installability
        .as_ref()
        .filter(|_| gated.installability_blocks)
    {
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

/// Opens the pipeline of a scratch build of `reference` for `who` on a gated instance (the API does
/// before it queues the build); `None` without a gate.
pub fn open_pipeline(
    cx: &ScratchContext,
    who: &str,
    reference: &str,
    now: i64,
) -> Result<Option<ScratchPipeline>, ScratchError> {
    if cx.config.gate.is_none() {
        return Ok(None);
    }
    ScratchPipeline::open(&cx.state.database(), who, reference, now).map(Some)
}

/// Runs a scratch build of `request` at `now` (unix seconds). When it cannot run, its pipeline (if
/// any) is closed red with the reason.
pub async fn run_scratch(
    cx: &ScratchContext,
    request: &ScratchRequest,
    now: i64,
) -> Result<ScratchReport, ScratchError> {
    let pipeline = match request.pipeline {
        Some(id) => Some(ScratchPipeline::existing(&cx.state.database(), id)),
        None => open_pipeline(cx, &request.who, &request.reference, now)?,
    };
    let result = run_in_pipeline(cx, request, pipeline.as_ref(), now).await;
    if let (Err(err), Some(pipeline)) = (&result, &pipeline) {
        if let Err(close) = pipeline.close("error", &err.to_string(), now) {
            tracing::warn!(%close, pipeline = pipeline.id, "could not close the scratch build's pipeline");
        }
    }
    result
}

async fn run_in_pipeline(
    cx: &ScratchContext,
    request: &ScratchRequest,
    pipeline: Option<&ScratchPipeline>,
    now: i64,
) -> Result<ScratchReport, ScratchError> {
    let settings = cx.config.scratch.clone().unwrap_or_default();
    let pruned = prune_expired(&cx.state, cx.staging.as_deref(), now).await;
    for failure in &pruned.failed {
        tracing::warn!("pruning scratch builds: {failure}");
    }
    let tree = cx.config.ports_tree(cx.state.root());
    let sha = resolve_ref(&tree, &request.reference)?;
    if let Some(pipeline) = pipeline {
        pipeline.resolved(&request.reference, &sha)?;
    }
    let preparing = std::time::Instant::now();
    let mut ws = Workspace::create(
        &cx.state,
        &cx.config,
        &request.reference,
        &sha,
        now,
        settings.ttl_seconds(),
    )?;
    ws.record.pipeline = pipeline.map(|p| p.id);
    let prepare_ms = preparing.elapsed().as_millis() as u64;
    let outcome = build_and_gate(cx, &mut ws, &request.ports, pipeline).await;
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
    if let Some(pipeline) = pipeline {
        pipeline.close(state, &ws.record.description, now)?;
    }
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
