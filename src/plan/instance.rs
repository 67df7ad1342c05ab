//! Planning for an instance: its config and state directory in, a plan out. This is what
//! `buildmaster plan` prints and what a buildrun starts from: load the ports tree (recipe cache in the
//! state directory), read the existing packages, turn `--update` into changed files, plan. A Debian
//! or RPM tree (`[ports] kind`) is planned by [`crate::plan::foreign`] into the same [`Plan`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::instance::InstanceConfig;
use crate::plan::catalog::{BuildPolicy, WithPolicy};
use crate::plan::existing::{ExistingError, ExistingPackages};
use crate::plan::foreign::{plan_foreign, ForeignPlanError};
use crate::plan::model::{Plan, SkipReason};
use crate::plan::planner::plan;
use crate::plan::recipe_tree::TreeKind;
use crate::plan::request::Request;
use crate::plan::revision::{update_files, RevisionError};
use crate::plan::suggest::did_you_mean;
use crate::ports::model::RecipeProblem;
use crate::ports::{
    EvalOptions, EvalProgress, EvalStats, NoEvalProgress, PortsError, PortsTree, DEFAULT_RECIPE_TIMEOUT,
};
use crate::state::{Database, DbError, StateDir};

/// What to plan, as the operator asks for it (also what the daemon's API and trigger files request).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Wanted {
    /// Named ports (`name` or `name-version`).
    Ports(Vec<String>),
    /// Every active port with missing packages.
    Everything,
    /// The ports changed since the processed revision.
    Update,
}

/// A plan with what it was made from.
#[derive(Debug)]
pub struct InstancePlan {
    /// The plan.
    pub plan: Plan,
    /// The request it answers (for `--update`: the changed files).
    pub request: Request,
    /// Every recipe of the tree that could not be evaluated.
    pub problems: Vec<RecipeProblem>,
    /// For `--update`: the tree's `HEAD`, to record as processed after a successful buildrun.
    pub head: Option<String>,
    /// Figures from loading the tree.
    pub tree_stats: EvalStats,
    /// Time spent reading existing packages and planning (after the tree was loaded).
    pub planning: Duration,
    /// For each requested port the tree does not have, the closest one it does ("did you mean").
    pub did_you_mean: BTreeMap<String, String>,
}

impl InstancePlan {
    /// The requested ports the tree has no recipe for, each with a suggestion if there is one.
    pub fn unknown_ports(&self) -> Vec<(&str, Option<&str>)> {
        self.plan
            .skipped
            .iter()
            .filter(|skipped| skipped.reason == SkipReason::NotFound)
            .map(|skipped| {
                let port = skipped.port.as_str();
                (port, self.did_you_mean.get(port).map(String::as_str))
            })
            .collect()
    }
}

/// Why an instance could not be planned; each names the file or directory to fix.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The ports tree could not be loaded.
    #[error(transparent)]
    Ports(#[from] PortsError),
    /// The state database could not be opened.
    #[error(transparent)]
    Database(#[from] DbError),
    /// Existing packages could not be read.
    #[error(transparent)]
    Existing(#[from] ExistingError),
    /// `--update` could not determine the changed files.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// A Debian or RPM tree could not be planned.
    #[error(transparent)]
    Foreign(#[from] ForeignPlanError),
}

/// The evaluation options for an instance: its `[ports]` section, the recipe cache in the state
/// directory, one bash worker per core.
pub fn eval_options(config: &InstanceConfig, state: &StateDir) -> EvalOptions {
    EvalOptions {
        target_arch: config.ports.target_architecture.clone(),
        secondary_archs: config.ports.secondary_architectures.clone(),
        allow_untested: config.ports.allow_untested,
        licenses_dir: config.ports.licenses_directory.clone(),
        cache: Some(state.recipe_cache()),
        jobs: 0,
    }
}

/// Loads the tree and the existing packages of the instance and plans `wanted`.
pub fn plan_instance(
    config: &InstanceConfig,
    state: &StateDir,
    wanted: &Wanted,
) -> Result<InstancePlan, PlanError> {
    plan_instance_reporting(config, state, wanted, &NoEvalProgress)
}

/// [`plan_instance`], telling `progress` how recipe evaluation advances (`buildmaster plan`'s bar).
pub fn plan_instance_reporting(
    config: &InstanceConfig,
    state: &StateDir,
    wanted: &Wanted,
    progress: &dyn EvalProgress,
) -> Result<InstancePlan, PlanError> {
    if config.ports.kind != TreeKind::Haikuports {
        // Debian and RPM trees: their toolchains' planners, into the same plan type.
        return Ok(plan_foreign(config, state, wanted)?);
    }
    let root: PathBuf = config.ports_tree(state.root());
    let options = eval_options(config, state);
    let tree = PortsTree::load_reporting(&root, &options, DEFAULT_RECIPE_TIMEOUT, progress)?;
    let started = Instant::now();
    let (request, head) = match wanted {
        Wanted::Ports(ports) => (Request::Ports(ports.clone()), None),
        Wanted::Everything => (Request::Everything, None),
        Wanted::Update => {
            let (files, head) = update_files(&root, &state.database())?;
            (Request::Update { files }, Some(head))
        }
    };
    let db = Database::open(&state.database())?;
    let system = config.system_packages(state.root());
    let existing =
        ExistingPackages::load(&db, &state.packages(), system.as_deref(), Some(&state.database()))?;
    tracing::debug!(
        packages = existing.packages.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "existing packages read"
    );
    let catalog = WithPolicy {
        catalog: &tree,
        policy: BuildPolicy {
            allow_untested: config.ports.allow_untested,
        },
    };
    let plan = plan(&catalog, &existing, &request);
    let did_you_mean = plan
        .skipped
        .iter()
        .filter(|skipped| skipped.reason == SkipReason::NotFound)
        .filter_map(|skipped| Some((skipped.port.clone(), did_you_mean(&tree, &skipped.port)?)))
        .collect();
    Ok(InstancePlan {
        plan,
        request,
        problems: tree.problems.clone(),
        head,
        tree_stats: tree.stats(),
        planning: started.elapsed(),
        did_you_mean,
    })
}
