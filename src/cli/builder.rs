//! `buildmaster builder …`: operator tools for builders — the same builders `buildrun` and `serve` use
//! (the instance config's `[[builders]]`, else HaikuPorter's builders directory, else the local builder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::builders::config::BuilderSpec;
use crate::buildrun::fleet::builder_specs;
use crate::config::instance::InstanceConfig;
use crate::state::StateDir;

/// `buildmaster builder`.
#[derive(Debug, Args)]
pub struct BuilderArgs {
    /// HaikuPorter's builders directory (`<ports tree>/buildmaster/builders`): one JSON file per
    /// builder and the shared `known_hosts`, used when the config has no `[[builders]]`. Default:
    /// `<state-dir>/builders` if it exists; with neither, the local builder (named `local`).
    #[arg(long, env = "BUILDMASTER_BUILDERS_DIR")]
    pub builders_dir: Option<PathBuf>,
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: BuilderCommand,
}

/// Builder subcommands.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Connect (verifying the host key) and report cache size and count, free disk, the build tool's
    /// presence and round-trip latency.
    Check {
        /// The builder's name.
        name: String,
    },
}

/// The builder `name` among exactly the builders `buildrun` and `serve` would use: the instance config's
/// `[[builders]]` (`--config`, else `<state>/buildmaster.toml`), else the builders directory, else the
/// implicit local builder.
fn find(args: &BuilderArgs, state_dir: &Path, name: &str) -> anyhow::Result<BuilderSpec> {
    let state = StateDir::new(state_dir);
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let specs = builder_specs(&state, &config, args.builders_dir.as_deref())?;
    let known: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
    let Some(spec) = specs.iter().find(|spec| spec.name == name) else {
        anyhow::bail!(
            "no builder named {:?} (known: {}); pass --config or --builders-dir to use other builders",
            crate::bounded_text::shortened(name, 80),
            known.join(", ")
        );
    };
    Ok(spec.clone())
}

/// Runs `buildmaster builder …`.
pub fn run(args: BuilderArgs, global: &super::GlobalArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        BuilderCommand::Check { name } => {
            let spec = find(&args, &global.state_dir, name)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(crate::builders::check::check(&spec))?;
            println!("{report}");
            Ok(if report.build_tool_found {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
