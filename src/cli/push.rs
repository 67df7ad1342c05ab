//! `buildmaster push FILE… --to REPO…`: Debian and RPM packages built elsewhere into the instance's
//! `[[repositories]]`, each file uploaded once and linked into every target it fits, the changed
//! repositories' indexes published.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::gate::store::{CheckStatus, Pipeline, PipelineState};
use crate::repos::config;
use crate::repos::push::PushReport;
use crate::repos::service::{PushOutcome, PushService};
use crate::state::StateDir;

/// Exit status of a push whose packages stay staged (its pipeline is red).
pub const STAGED_EXIT: u8 = 4;

/// `buildmaster push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The package files (`.deb`, `.rpm`, `.hpkg`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Target repositories by id; globs match several (`el/*/x86_64`). Repeat or give several.
    #[arg(long = "to", required = true, num_args = 1..)]
    pub to: Vec<String>,
    /// The instance config; default `<state-dir>/buildmaster.toml`.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Runs `buildmaster push`.
pub fn run(args: PushArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let service = open_service(args.config.as_deref(), global).await?;
        Ok(match push_and_report(&service, &args.files, &args.to).await? {
            true => ExitCode::SUCCESS,
            // Accepted but not served: scripts tell it from a promotion by the exit status.
            false => ExitCode::from(STAGED_EXIT),
        })
    })
}

/// Pushes `files` into the repositories `to` as the operator running this command, printing what was
/// uploaded, staged, linked and published; false when a gated push stays staged (not served).
/// `buildmaster push` publishes through it.
pub async fn push_and_report(
    service: &PushService,
    files: &[PathBuf],
    to: &[String],
) -> anyhow::Result<bool> {
    let who = format!("cli:{}", crate::cli::who_am_i());
    Ok(print_outcome(service.push(files, to, &who).await?))
}

/// Prints what a push did; false when it stays staged behind the gate (not served).
pub fn print_outcome(outcome: PushOutcome) -> bool {
    match outcome {
        PushOutcome::Published(report) => print_report(&report),
        PushOutcome::Gated(gated) => {
            for name in &gated.staged {
                println!("staged: {name}");
            }
            print_pipeline(&gated.pipeline);
            for id in gated.promoted.iter().filter(|&&id| id != gated.pipeline.id) {
                println!("pipeline {id}: promoted (unblocked by this push)");
            }
            print_report(&gated.publish);
            return gated.pipeline.state == PipelineState::Promoted;
        }
    }
    true
}

/// The instance's push service as `buildmaster push` and `buildmaster gate` use it: its
/// `[[repositories]]`, its storage, and the gate when `[gate]` names a staging storage.
pub async fn open_service(config: Option<&Path>, global: &GlobalArgs) -> anyhow::Result<PushService> {
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    let config = InstanceConfig::locate(config, state.root())?;
    let repositories = config::resolve(&config.repositories)?;
    let storage = crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
    Ok(PushService::open(state, storage, repositories, &config).await?)
}

/// What an ungated push, or a promotion, uploaded, linked and published.
fn print_report(report: &PushReport) {
    for name in &report.uploaded {
        println!("uploaded: {name}");
    }
    for name in &report.already_stored {
        println!("already stored: {name}");
    }
    for (name, repository) in &report.linked {
        println!("linked: {name} -> {repository}");
    }
    for (repository, index) in &report.published {
        println!(
            "published {repository}: {} index files uploaded, {} unchanged",
            index.uploaded.len(),
            index.unchanged
        );
    }
    // A rerun after a crash may link nothing new and still publish what the killed push left.
    if report.linked.is_empty() && report.published.is_empty() {
        println!("nothing changed");
    }
}

/// A pipeline and its checks, one line each.
pub fn print_pipeline(pipeline: &Pipeline) {
    println!(
        "pipeline {}: {} — {}",
        pipeline.id,
        serde_json::to_value(pipeline.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        pipeline.summary
    );
    for check in &pipeline.checks {
        let status = match check.status {
            CheckStatus::Pending => "pending",
            CheckStatus::Passed => "passed",
            CheckStatus::Failed if check.blocking => "FAILED",
            CheckStatus::Failed => "failed (advisory)",
            CheckStatus::Waived => "waived",
        };
        println!(
            "  {} {}: {status}: {}",
            check.file_name,
            check.kind.as_str(),
            check.summary
        );
    }
}
