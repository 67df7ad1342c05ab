//! `buildmaster scratch --ref REF [--port NAME…]`: a scratch build of a proposed change (docs/gate.md,
//! "Scratch builds"); `--prune`: delete the expired ones; `--list`: the ones kept.
//!
//! Exit codes: 0 success (built and every package installable, or nothing to build); 1 the scratch build
//! could not run (bad ref, config, staging storage); 5 its verdict is `failure` or `error`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::signals::cancel_on_stop_signals;
use super::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::scratch::prune::prune_expired;
use crate::scratch::run::ScratchContext;
use crate::scratch::{run_scratch, ScratchRequest};
use crate::state::StateDir;

/// Exit code of a scratch build whose verdict is not `success`.
const EXIT_NOT_GREEN: u8 = 5;

/// `buildmaster scratch`.
#[derive(Debug, Args)]
pub struct ScratchArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// HaikuPorter's builders directory, as for `buildmaster buildrun`.
    #[arg(long, env = "BUILDMASTER_BUILDERS_DIR")]
    pub builders_dir: Option<PathBuf>,
    /// The branch, tag or commit of the instance's ports tree to build.
    #[arg(long = "ref", value_name = "REF", required_unless_present_any = ["prune", "list"])]
    pub reference: Option<String>,
    /// Only delete expired scratch builds (their staging objects and directories).
    #[arg(long, conflicts_with = "reference")]
    pub prune: bool,
    /// Only list the scratch builds kept (number, ref, commit, verdict, expiry).
    #[arg(long, conflicts_with_all = ["reference", "prune"])]
    pub list: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Ports to build; none: what `buildrun --update` would build at the ref.
    #[arg(long = "port", value_name = "NAME")]
    pub ports: Vec<String>,
}

/// `buildmaster scratch --list`: the kept scratch builds, one line each (or their records as JSON).
fn list(state: &StateDir, json: bool) -> anyhow::Result<ExitCode> {
    let mut records = Vec::new();
    for ws in crate::scratch::workspace::all(state) {
        match ws {
            Ok(ws) => records.push(ws.record),
            Err(err) => eprintln!("warning: {err}"),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &records {
        println!(
            "scratch {}\t{}\t{}\t{}\texpires {}\t{} staged\t{}",
            r.id,
            r.reference,
            r.sha,
            r.verdict.as_deref().unwrap_or("running"),
            r.expires_at,
            r.staged.len(),
            r.description
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `buildmaster scratch`.
pub fn run(args: ScratchArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    if args.list {
        return list(&state, args.json);
    }
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let storage =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        let cancel = CancellationToken::new();
        let cx =
            ScratchContext::for_instance(state, config, storage, args.builders_dir, cancel.clone()).await?;
        let now = crate::repos::unix_seconds(std::time::SystemTime::now());
        let Some(reference) = args.reference else {
            let report = prune_expired(&cx.state, cx.staging.as_deref(), now).await;
            for id in &report.removed {
                println!("removed scratch build {id}");
            }
            println!("{} staging objects deleted", report.objects);
            for failure in &report.failed {
                eprintln!("error: {failure}");
            }
            return Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        };
        cancel_on_stop_signals(cancel, |_| eprintln!("stopping the scratch build"))?;
        let request = ScratchRequest {
            reference,
            ports: args.ports,
            who: format!("cli:{}", super::who_am_i()),
            pipeline: None,
        };
        let report = run_scratch(&cx, &request, now).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "scratch build {} of {} at {}: {} — {}",
                report.record.id,
                report.record.reference,
                report.record.sha,
                report.verdict.state,
                report.verdict.description
            );
            for key in &report.record.staged {
                println!("staged: {key}");
            }
        }
        Ok(if report.verdict.state == "success" {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_NOT_GREEN)
        })
    })
}
