//! `buildmaster repo create|update|list`: Haiku's `package_repo`, natively, with the same options.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

/// `buildmaster repo …`
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// Which repository operation.
    #[command(subcommand)]
    pub command: RepoCommand,
}

/// Repository operations, with `package_repo`'s options.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository file from a repo.info file and packages.
    Create {
        /// Change to this directory before reading packages.
        #[arg(short = 'C')]
        directory: Option<PathBuf>,
        /// Be verbose.
        #[arg(short = 'v')]
        verbose: bool,
        /// The repository info file (`repo.info`).
        repo_info: PathBuf,
        /// The packages, in the order they go into the repository.
        #[arg(required = true)]
        packages: Vec<PathBuf>,
    },
    /// Write a new repository from an old one and a package list.
    Update {
        /// Change to this directory before reading packages.
        #[arg(short = 'C')]
        directory: Option<PathBuf>,
        /// Be verbose.
        #[arg(short = 'v')]
        verbose: bool,
        /// Reuse entries of the old repository by canonical file name; read only new packages.
        #[arg(short = 't')]
        trust: bool,
        /// The existing repository file.
        source_repo: PathBuf,
        /// The repository file to write (its info comes from `<new-repo>.info`).
        new_repo: PathBuf,
        /// The package list: one package file name per line.
        package_list: PathBuf,
    },
    /// Print a repository's contents exactly as `package_repo list` does.
    List {
        /// Verbose: every attribute of every package.
        // Declared like the global `-v` (same id, a count) so clap neither sees two `-v` nor two
        // types for one id; any count > 0 means verbose.
        #[arg(short = 'v', action = clap::ArgAction::Count)]
        verbose: u8,
        /// Only the packages' canonical file names.
        #[arg(short = 'f')]
        file_names: bool,
        /// The repository file.
        repo: PathBuf,
    },
}

/// Runs `buildmaster repo …`.
pub fn run(args: RepoArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RepoCommand::Create {
            directory,
            verbose,
            repo_info,
            packages,
        } => create(directory, verbose, repo_info, packages),
        RepoCommand::Update {
            directory,
            verbose,
            trust,
            source_repo,
            new_repo,
            package_list,
        } => update(directory, verbose, trust, source_repo, new_repo, package_list),
        RepoCommand::List {
            verbose,
            file_names,
            repo,
        } => list(verbose, file_names, repo),
    }
}

fn create(
    _directory: Option<PathBuf>,
    _verbose: bool,
    _repo_info: PathBuf,
    _packages: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    bail!("repo create is not implemented yet")
}

fn update(
    _directory: Option<PathBuf>,
    _verbose: bool,
    _trust: bool,
    _source_repo: PathBuf,
    _new_repo: PathBuf,
    _package_list: PathBuf,
) -> anyhow::Result<ExitCode> {
    bail!("repo update is not implemented yet")
}

fn list(verbose: u8, file_names: bool, repo: PathBuf) -> anyhow::Result<ExitCode> {
    let repository = crate::haiku::hpkr_reader::read_repository(&repo)?;
    let text = crate::haiku::listing::list_repository(&repository, verbose > 0, file_names);
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
