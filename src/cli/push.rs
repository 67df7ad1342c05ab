//! `buildmaster push FILE… --to REPO…`: Debian and RPM packages built elsewhere into the instance's
//! `[[repositories]]`, each file uploaded once and linked into every target it fits, the changed
//! repositories' indexes published.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::repos::config;
use crate::repos::service::PushService;
use crate::state::StateDir;

/// `buildmaster push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The package files (`.deb`, `.rpm`).
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
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let repositories = config::resolve(&config.repositories)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let storage =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        let service = PushService::new(state, storage, repositories);
        let report = service.push(&args.files, &args.to).await?;
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
        Ok(ExitCode::SUCCESS)
    })
}
