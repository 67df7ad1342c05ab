//! `buildmaster repositories list|check`: the instance's Debian and RPM repositories (`[[repositories]]`)
//! — what is configured and how many packages each links, and whether every package is installable
//! from the repository plus its base repositories (exit 3 when not, for gates and scripts).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::repos::check::check_repository;
use crate::repos::config::{resolve, Repository};
use crate::repos::push::select;
use crate::repos::records::Records;
use crate::repos::Formats;
use crate::state::StateDir;

/// `buildmaster repositories`.
#[derive(Debug, Args)]
pub struct RepositoriesArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml`.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: RepositoriesCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum RepositoriesCommand {
    /// Every configured repository: id, format, root, linked packages.
    List,
    /// Every package's dependencies resolvable in the repository plus `--base` repositories; exit 3
    /// when one is not.
    Check {
        /// The repository id.
        id: String,
        /// Base repositories (ids or globs) whose packages count too.
        #[arg(long)]
        base: Vec<String>,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `buildmaster repositories …`.
pub fn run(args: RepositoriesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let repositories = resolve(&config.repositories)?;
    let records = Records::open(&state.database())?;
    match args.command {
        RepositoriesCommand::List => {
            for repository in &repositories {
                println!(
                    "{}\t{}\t{}\t{} packages",
                    repository.id(),
                    repository.format().as_str(),
                    repository.root,
                    records.linked(repository.id())?.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RepositoriesCommand::Check { id, base, json } => {
            let target = select(&repositories, std::slice::from_ref(&id))?;
            let [repository]: [&Repository; 1] = target
                .try_into()
                .map_err(|_| anyhow::anyhow!("{id:?} names more than one repository; give one id"))?;
            let bases = if base.is_empty() {
                Vec::new()
            } else {
                select(&repositories, &base)?
            };
            let (count, unresolved) = check_repository(&records, &Formats::available(), repository, &bases)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&unresolved)?);
            } else {
                for problem in &unresolved {
                    println!(
                        "{}: unresolvable dependency \"{}\"",
                        problem.package, problem.dependency
                    );
                }
                println!(
                    "{}: {count} packages checked: {} unresolvable dependencies",
                    repository.id(),
                    unresolved.len()
                );
            }
            Ok(if unresolved.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
    }
}
