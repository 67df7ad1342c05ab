//! `buildmaster repo create|update|list`: Haiku's `package_repo`, natively, with the same options.

use std::path::PathBuf;
use std::process::ExitCode;

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
        /// Be verbose (a count, sharing the global `-v`'s id so clap sees one `-v`).
        #[arg(short = 'v', action = clap::ArgAction::Count)]
        verbose: u8,
        /// Also write the repository's SHA-256 here (`repo.sha256`: 64 lowercase hex characters,
        /// no newline).
        #[arg(long, value_name = "PATH")]
        checksum_file: Option<PathBuf>,
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
        /// Be verbose (a count, sharing the global `-v`'s id so clap sees one `-v`).
        #[arg(short = 'v', action = clap::ArgAction::Count)]
        verbose: u8,
        /// Also write the new repository's SHA-256 here (`repo.sha256` format).
        #[arg(long, value_name = "PATH")]
        checksum_file: Option<PathBuf>,
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
    /// Check that every package's `requires` is resolvable within the repository plus the system
    /// packages (HaikuPorter's consistency report). Exit code 3 when something is unresolvable.
    Check {
        /// A directory of system packages (`.hpkg`) whose provides count too.
        #[arg(long)]
        system_packages: Option<PathBuf>,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
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
            checksum_file,
            repo_info,
            packages,
        } => create(directory, verbose > 0, checksum_file, repo_info, packages),
        RepoCommand::Update {
            directory,
            verbose,
            checksum_file,
            trust,
            source_repo,
            new_repo,
            package_list,
        } => update(
            directory,
            verbose > 0,
            checksum_file,
            trust,
            UpdatePaths {
                source_repo,
                new_repo,
                package_list,
            },
        ),
        RepoCommand::List {
            verbose,
            file_names,
            repo,
        } => list(verbose, file_names, repo),
        RepoCommand::Check {
            system_packages,
            json,
            repo,
        } => super::repo_check::run(&repo, system_packages.as_deref(), json),
    }
}

fn create(
    directory: Option<PathBuf>,
    verbose: bool,
    checksum_file: Option<PathBuf>,
    repo_info: PathBuf,
    packages: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let summary = crate::haiku::repo_tool::create(directory.as_deref(), &repo_info, &packages)?;
    finish(&summary, verbose, checksum_file)
}

/// The three positional paths of `repo update`.
struct UpdatePaths {
    source_repo: PathBuf,
    new_repo: PathBuf,
    package_list: PathBuf,
}

fn update(
    directory: Option<PathBuf>,
    verbose: bool,
    checksum_file: Option<PathBuf>,
    trust: bool,
    paths: UpdatePaths,
) -> anyhow::Result<ExitCode> {
    let summary = crate::haiku::repo_tool::update(
        directory.as_deref(),
        trust,
        &paths.source_repo,
        &paths.new_repo,
        &paths.package_list,
    )?;
    finish(&summary, verbose, checksum_file)
}

/// Writes the optional checksum file and reports what was done, like `package_repo -v`.
fn finish(
    summary: &crate::haiku::repo_tool::RepoSummary,
    verbose: bool,
    checksum_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = checksum_file {
        crate::haiku::repo_tool::write_checksum_file(&path, &summary.checksum)?;
    }
    if verbose {
        println!(
            "wrote {} ({} packages: {} reused, {} read; {} licences)\nsha256 {}",
            summary.output.display(),
            summary.package_file_names.len(),
            summary.reused,
            summary.read,
            summary.licenses,
            summary.checksum
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(verbose: u8, file_names: bool, repo: PathBuf) -> anyhow::Result<ExitCode> {
    let repository = crate::haiku::hpkr_reader::read_repository(&repo)?;
    let text = crate::haiku::listing::list_repository(&repository, verbose > 0, file_names);
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
