//! `buildmaster plan [--update|--everything|PORT…] [--json]`: what a buildrun would build, in which
//! order, and why every other requested port is not built.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::progress::{self, PlanBar};
use crate::cli::wanted::WantedArgs;
use crate::cli::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::plan::instance::{plan_instance_reporting, InstancePlan};
use crate::plan::model::{Plan, SkipReason};
use crate::plan::Request;
use crate::state::StateDir;

/// `buildmaster plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Which ports to plan.
    #[command(flatten)]
    pub select: WantedArgs,
    /// Print the plan as JSON (builds in order, skipped ports with reasons).
    #[arg(long)]
    pub json: bool,
}

/// Plans and prints. Exit 0 whenever planning worked, even if ports are skipped.
pub fn run(args: PlanArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let Some(wanted) = args.select.wanted() else {
        anyhow::bail!("nothing to plan: name ports, or use --everything or --update");
    };
    let state = StateDir::new(&global.state_dir);
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let bar = PlanBar::new(progress::enabled(global));
    let planned = plan_instance_reporting(&config, &state, &wanted, &*bar);
    // Cleared before anything is printed, the error included.
    bar.clear();
    let planned =
        planned.with_context(|| format!("planning with state directory {}", state.root().display()))?;
    tracing::info!(
        recipes = planned.tree_stats.recipes,
        evaluated = planned.tree_stats.evaluated,
        cached = planned.tree_stats.cached,
        load_ms = planned.tree_stats.elapsed.as_millis() as u64,
        plan_ms = planned.planning.as_millis() as u64,
        "planned"
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&planned.plan)?);
    } else {
        print_text(&planned, global.verbose > 0);
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan for people: numbered builds with what they wait for, then the skipped ports.
fn print_text(planned: &InstancePlan, verbose: bool) {
    let plan: &Plan = &planned.plan;
    if plan.builds.is_empty() {
        println!("nothing to build");
    }
    for (i, build) in plan.builds.iter().enumerate() {
        let needs: Vec<String> = build
            .after
            .iter()
            .map(|&d| plan.builds[d].port.versioned_name())
            .collect();
        if needs.is_empty() {
            println!("{}. {}", i + 1, build.port.versioned_name());
        } else {
            println!(
                "{}. {}  (needs: {})",
                i + 1,
                build.port.versioned_name(),
                needs.join(", ")
            );
        }
    }
    // With --everything, ports no version of which builds here are listed only on request: HaikuPorts
    // has hundreds, and they are not news.
    let everything = planned.request == Request::Everything;
    let mut quiet = 0usize;
    for skipped in &plan.skipped {
        if everything && !verbose && matches!(skipped.reason, SkipReason::NotBuildableOnArchitecture { .. }) {
            quiet += 1;
            continue;
        }
        match planned.did_you_mean.get(&skipped.port) {
            Some(suggestion) => println!("skipped: {skipped} (did you mean {suggestion}?)"),
            None => println!("skipped: {skipped}"),
        }
    }
    if quiet > 0 {
        println!("({quiet} ports not buildable on this architecture not listed; -v lists them)");
    }
    if !everything {
        for problem in &planned.problems {
            println!(
                "recipe problem: {}: {}",
                problem.recipe_path.display(),
                problem.message
            );
        }
    }
    if let Some(head) = &planned.head {
        if let Request::Update { files } = &planned.request {
            println!("{} changed files up to {head}", files.len());
        }
    }
}
