//! Starting and resuming buildruns: the entry points the CLI and the daemon call.
//!
//! [`run_buildrun`] records a new buildrun for a plan (numbers continue after an adopted HaikuPorter
//! output tree) and executes it; [`resume_unfinished`] picks up the buildrun a killed or stopped
//! buildmaster left running: builds that were active run again (not counted as an attempt), complete
//! builds are never rebuilt as long as their results are still in the spool or the package records.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::builder::Builder;
use super::deps::{self, PresentPackages};
use super::executor::{self, ExecParams};
use super::inputs::InputSettings;
use super::lock::RunLock;
use super::output::{self, Output};
use super::served;
use super::store::{BuildRow, BuildState, BuildrunStore, ResultRow, RunState};
use super::BuildrunError;
use crate::builders::ports_tree::PortsTreeSync;
use crate::config::instance::{InstanceConfig, PortsTreeSyncMode};
use crate::plan::model::Plan;
use crate::plan::recipe_tree::TreeKind;
use crate::state::{Database, StateDir};

/// Where small inputs made on the master (HaikuPorter's `.uri` files) are kept, under the state
/// directory.
pub(crate) const MADE_INPUTS_DIR: &str = "job-inputs";

/// What a buildrun runs with.
pub struct Context {
    /// The state directory (database, spool, output).
    pub state: StateDir,
    /// The instance config (`[ports]`, `[buildrun]`).
    pub config: InstanceConfig,
    /// The builders (see [`super::fleet`]).
    pub builders: Vec<Arc<dyn Builder>>,
    /// Stops the run: builds in flight are cancelled, and the buildrun stays resumable.
    pub cancel: CancellationToken,
    /// Told about every attempt's end and bytes moved (the daemon's metrics); `None` for the CLI.
    pub observer: Option<Arc<dyn super::observer::BuildObserver>>,
    /// Backoff between attempts, and whether the run stops when no builder can work (the CLI) or
    /// waits for one (the daemon).
    pub patience: super::patience::Patience,
}

/// How a buildrun ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Buildrun number.
    pub id: u64,
    /// The final `buildStatus` (`complete`, `complete (with 2 failures)`, `interrupted (resumable)`).
    pub status: String,
    /// Whether it was stopped with work left (resumable).
    pub interrupted: bool,
    /// Why a one-shot run stopped with work left because no builder could work (each builder and its
    /// error); `interrupted` is then set too, and the run resumes once the builders are fixed.
    pub stalled: Option<String>,
    /// Whether this call resumed an earlier run.
    pub resumed: bool,
    /// Ports built (`name-version`).
    pub complete: Vec<String>,
    /// Ports that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Ports that could not be built because a dependency failed, with the reason.
    pub lost: Vec<(String, String)>,
    /// Requested ports the plan skipped, with HaikuPorter's reason.
    pub skipped: Vec<(String, String)>,
    /// Packages built by this buildrun (in the spool, ready to publish).
    pub built_packages: Vec<String>,
}

impl Summary {
    /// Whether any build failed or was lost.
    pub fn has_failures(&self) -> bool {
        !self.failed.is_empty() || !self.lost.is_empty()
    }
}

async fn git(tree: &Path, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// How builders bring their ports tree to `head`.
pub(crate) fn ports_sync(config: &InstanceConfig, tree: &Path, head: Option<&str>) -> PortsTreeSync {
    match (config.buildrun.ports_tree_sync, head) {
        (PortsTreeSyncMode::Skip, _) | (_, None) => PortsTreeSync::Skip,
        (PortsTreeSyncMode::Fetch, Some(head)) => PortsTreeSync::Fetch {
            revision: head.into(),
        },
        (PortsTreeSyncMode::Bundle, Some(head)) => PortsTreeSync::Bundle {
            repo: tree.to_path_buf(),
            revision: head.into(),
        },
    }
}

/// Refuses to start or resume without builders (before anything is recorded, so a resumable buildrun
/// stays resumable).
fn require_builders(ctx: &Context) -> Result<(), BuildrunError> {
    if ctx.builders.is_empty() {
        return Err(BuildrunError::Config(
            "no builders to run the buildrun on; configure [[builders]] or a builders directory, or \
             leave both out for the local builder"
                .into(),
        ));
    }
    Ok(())
}

fn open_store(state: &StateDir) -> Result<BuildrunStore, BuildrunError> {
    state.create().map_err(|e| {
        BuildrunError::Output(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", state.root().display()),
        ))
    })?;
    Ok(BuildrunStore::open(&state.database())?)
}

/// The last build number a HaikuPorter instance used: its `<tree>/buildmaster/buildnumber` holds the
/// next one. Counting from it too means a taken-over instance never reuses a number, even when its old
/// output was deleted.
fn haikuporter_last_build(tree: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(tree.join("buildmaster").join("buildnumber")).ok()?;
    text.trim().parse::<u64>().ok()?.checked_sub(1)
}

/// Records and runs a new buildrun of `plan`; `request` says what was asked for (`update`,
/// `everything`, `build a b`).
pub async fn run_buildrun(ctx: &Context, plan: Plan, request: &str) -> Result<Summary, BuildrunError> {
    require_builders(ctx)?;
    let mut store = open_store(&ctx.state)?;
    let _lock = RunLock::acquire(&ctx.state)?;
    let out_root = ctx.state.output();
    let tree = ctx.config.ports_tree(ctx.state.root());
    store.adopt_counters(
        output::last_buildrun(&out_root),
        output::highest_numbered(&out_root.join("records"), "json")
            .max(output::highest_numbered(&out_root.join("builds"), "log"))
            .max(haikuporter_last_build(&tree)),
    )?;
    let head = git(&tree, &["rev-parse", "HEAD"]).await;
    // A token in the origin URL must not reach the database or status.json.
    let origin = git(&tree, &["remote", "get-url", "origin"])
        .await
        .map(|url| crate::config::secrets::without_credentials(&url));
    let id = store.create_buildrun(request, head.as_deref(), origin.as_deref(), &plan)?;
    drive(ctx, store, id, plan, false).await
}

/// Resumes the newest unfinished buildrun, if there is one.
pub async fn resume_unfinished(ctx: &Context) -> Result<Option<Summary>, BuildrunError> {
    let store = open_store(&ctx.state)?;
    let _lock = RunLock::acquire(&ctx.state)?;
    let Some(info) = store.unfinished()? else {
        return Ok(None);
    };
    require_builders(ctx)?;
    let plan = store.plan(info.id)?;
    drive(ctx, store, info.id, plan, true).await.map(Some)
}

/// Complete builds whose results are gone (neither in the spool nor recorded as packages) must run
/// again: re-queued with the reason, their result rows dropped from the map.
fn recheck_complete(
    state: &StateDir,
    rows: &mut [BuildRow],
    results: &mut HashMap<usize, Vec<ResultRow>>,
) -> Vec<(usize, String)> {
    let db = Database::open(&state.database()).ok();
    let mut requeued = Vec::new();
    for row in rows.iter_mut().filter(|r| r.state == BuildState::Complete) {
        let missing: Vec<String> = results
            .get(&row.index)
            .map(|rs| {
                rs.iter()
                    .filter(|r| !deps::result_exists(state, db.as_ref(), r))
                    .map(|r| r.file_name.clone())
                    .collect()
            })
            .unwrap_or_else(|| vec!["(no results recorded)".into()]);
        if !missing.is_empty() {
            let reason = format!(
                "results missing after restart ({}); rebuilding",
                missing.join(", ")
            );
            row.state = BuildState::Scheduled;
            row.failure_reason = Some(reason.clone());
            results.remove(&row.index);
            requeued.push((row.index, reason));
        }
    }
    requeued
}

async fn drive(
    ctx: &Context,
    mut store: BuildrunStore,
    id: u64,
    plan: Plan,
    resumed: bool,
) -> Result<Summary, BuildrunError> {
    let info = store
        .buildrun(id)?
        .ok_or_else(|| BuildrunError::Plan(format!("buildrun {id} is not recorded")))?;
    let output = Output::open(&ctx.state.output(), id).map_err(BuildrunError::Output)?;
    let mut rows = store.builds(id)?;
    let mut results: HashMap<usize, Vec<ResultRow>> = HashMap::new();
    for r in store.results(id)? {
        results.entry(r.index).or_default().push(r);
    }
    if resumed {
        output.master(&format!("resuming buildrun {id} ({})", info.request));
        for (index, reason) in recheck_complete(&ctx.state, &mut rows, &mut results) {
            output.master(&format!("{}: {reason}", rows[index].port));
            store.save_build(id, &rows[index])?;
        }
    } else {
        output.master(&format!(
            "buildrun {id} ({}): planned {} builds",
            info.request,
            plan.builds.len()
        ));
    }
    let outcome = async {
        let present = present_packages(ctx, &plan).await?;
        let tree = ctx.config.ports_tree(ctx.state.root());
        let params = ExecParams {
            id,
            plan: &plan,
            rows,
            results,
            state: &ctx.state,
            builders: &ctx.builders,
            present: &present,
            ports_sync: ports_sync(&ctx.config, &tree, info.ports_head.as_deref()),
            max_attempts: ctx.config.buildrun.max_attempts.max(1),
            max_build_log_bytes: ctx.config.buildrun.max_build_log_bytes,
            // Rows written before credentials were stripped on the way in.
            origin: info
                .ports_origin
                .as_deref()
                .map(crate::config::secrets::without_credentials),
            head: info.ports_head.clone(),
            started_at: info.started_at,
            cancel: ctx.cancel.clone(),
            observer: ctx.observer.clone(),
            patience: ctx.patience.clone(),
            inputs: Arc::new(InputSettings {
                tree: tree.clone(),
                target_arch: ctx.config.ports.target_architecture.clone(),
                database: ctx.state.database(),
                made_dir: ctx.state.root().join(MADE_INPUTS_DIR),
                buildrun: id,
                tree_revision: info.ports_head.clone(),
            }),
        };
        executor::execute(&mut store, &output, params).await
    }
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => {
            let status = format!("failed: {err}");
            output.master(&status);
            let _ = store.set_run_state(id, RunState::Failed, &status);
            return Err(err);
        }
    };
    let state = if outcome.interrupted {
        RunState::Interrupted
    } else {
        RunState::Complete
    };
    store.set_run_state(id, state, &outcome.status)?;
    let mut summary = summarize(&store, id, &plan, outcome.status, outcome.interrupted, resumed)?;
    summary.stalled = outcome.stalled;
    Ok(summary)
}

/// The plan's present packages: for a HaikuPorts tree from the package records, the spool and the
/// system packages; for a Debian or RPM tree the served repository's pool files (see [`served`]).
async fn present_packages(ctx: &Context, plan: &Plan) -> Result<PresentPackages, BuildrunError> {
    if ctx.config.ports.kind == TreeKind::Haikuports {
        let system = ctx.config.system_packages(ctx.state.root());
        return PresentPackages::resolve(plan, &ctx.state, system)
            .await
            .map_err(BuildrunError::Dependencies);
    }
    let (config, state) = (ctx.config.clone(), ctx.state.clone());
    tokio::task::spawn_blocking(move || served::pool_dependencies(&config, &state))
        .await
        .map_err(|e| BuildrunError::Dependencies(e.to_string()))?
        .map(PresentPackages::known)
        .map_err(BuildrunError::Dependencies)
}

fn summarize(
    store: &BuildrunStore,
    id: u64,
    plan: &Plan,
    status: String,
    interrupted: bool,
    resumed: bool,
) -> Result<Summary, BuildrunError> {
    let mut summary = Summary {
        id,
        status,
        interrupted,
        resumed,
        ..Summary::default()
    };
    for row in store.builds(id)? {
        let reason = row.failure_reason.clone().unwrap_or_default();
        match row.state {
            BuildState::Complete => summary.complete.push(row.port),
            BuildState::Failed => summary.failed.push((row.port, reason)),
            BuildState::Lost => summary.lost.push((row.port, reason)),
            _ => {}
        }
    }
    summary.built_packages = store.results(id)?.into_iter().map(|r| r.file_name).collect();
    summary.skipped = plan
        .skipped
        .iter()
        .map(|s| (s.port.clone(), s.reason.describe(&s.port)))
        .collect();
    Ok(summary)
}
