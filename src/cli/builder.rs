//! `buildmaster builder …`: operator tools for builders. Builders come from HaikuPorter's builders
//! directory (`*.json` plus the shared `known_hosts`) and/or the `[[builders]]` sections of a TOML
//! config file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Deserialize;

use crate::builders::config::{load_haikuporter_dir, BuilderSection, BuilderSpec};

/// `buildmaster builder`.
#[derive(Debug, Args)]
pub struct BuilderArgs {
    /// HaikuPorter's builders directory (`<ports tree>/buildmaster/builders`): one JSON file per
    /// builder and the shared `known_hosts`. Default: `<state-dir>/builders` if it exists.
    #[arg(long, env = "BUILDMASTER_BUILDERS_DIR")]
    pub builders_dir: Option<PathBuf>,
    /// A TOML file whose `[[builders]]` sections define builders.
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

/// The part of a TOML config this command reads; other sections belong to other subsystems.
#[derive(Debug, Deserialize)]
struct BuildersOnly {
    #[serde(default)]
    builders: Vec<BuilderSection>,
}

fn find(args: &BuilderArgs, state_dir: &Path, name: &str) -> anyhow::Result<BuilderSpec> {
    let mut known = Vec::new();
    if let Some(config) = &args.config {
        let text =
            std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
        let parsed: BuildersOnly =
            toml::from_str(&text).with_context(|| format!("parsing [[builders]] in {}", config.display()))?;
        for section in parsed.builders {
            if section.name == name {
                return Ok(section.resolve()?);
            }
            known.push(section.name);
        }
    }
    let dir = args
        .builders_dir
        .clone()
        .unwrap_or_else(|| state_dir.join("builders"));
    if dir.is_dir() {
        for spec in load_haikuporter_dir(&dir)? {
            match spec {
                Ok(spec) if spec.name == name => return Ok(spec),
                Ok(spec) => known.push(spec.name),
                Err(err) => tracing::warn!(%err, "skipping an invalid builder file"),
            }
        }
    }
    anyhow::bail!(
        "no builder named {name:?} (known: {}); pass --builders-dir or --config",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
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
