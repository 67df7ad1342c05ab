//! `buildmaster storage put|get|ls|rm`. Work in progress.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::GlobalArgs;

/// `buildmaster storage …`
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Which storage operation.
    #[command(subcommand)]
    pub command: StorageCommand,
}

/// Storage operations.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// List keys.
    Ls,
}

/// Runs `buildmaster storage …`.
pub fn run(_args: StorageArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
