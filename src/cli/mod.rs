//! The command-line surface. Each subcommand group has its own file; this one holds the top-level
//! parser, the global options and the dispatch.

pub mod builder;
pub mod buildrun;
pub mod gate;
pub mod healthcheck;
pub mod hpkg;
pub mod plan;
pub mod ports;
pub mod progress;
pub mod publish;
pub mod push;
pub mod rebuild;
pub mod repo;
pub mod repo_check;
pub mod repositories;
pub mod scratch;
pub mod serve;
pub mod signals;
pub mod sources;
pub mod storage;
pub mod token;
pub mod wanted;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// `buildmaster`: build-farm coordinator with pluggable object storage.
#[derive(Debug, Parser)]
#[command(name = "buildmaster", version, about, long_about = None)]
pub struct Cli {
    /// Options every subcommand understands.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by all subcommands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// JSON storage backend config (HaikuPorter's format). Empty or unset: the filesystem backend in
    /// `<state-dir>/storage`.
    #[arg(long, env = "STORAGE_BACKEND_CONFIG", global = true,
          value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    pub storage_backend_config: Option<PathBuf>,
    /// The instance's state directory.
    #[arg(
        long,
        env = "BUILDMASTER_STATE_DIR",
        default_value = "buildmaster-state",
        global = true
    )]
    pub state_dir: PathBuf,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,
    /// More log output (-v info, -vv debug, -vvv trace), given before the subcommand. `RUST_LOG`
    /// overrides. Not global: `repo list -v` and friends keep Haiku's meaning of `-v`.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Operator access to the configured storage backend: put, get, ls, rm.
    Storage(storage::StorageArgs),
    /// Haiku packages: list (like `package list`), create (like `package create`).
    Hpkg(hpkg::HpkgArgs),
    /// Haiku repositories: create, update, list (like `package_repo`).
    Repo(repo::RepoArgs),
    /// Upload new packages, verify, stub the local copies, regenerate and upload the index.
    Publish(publish::PublishArgs),
    /// Push Debian, RPM and Haiku packages built elsewhere into `[[repositories]]`: upload once, link, publish.
    Push(push::PushArgs),
    /// The Debian and RPM repositories of `[[repositories]]`: list them, check installability.
    Repositories(repositories::RepositoriesArgs),
    /// The gate of a gated instance: pipelines, waivers, the audit log.
    Gate(gate::GateArgs),
    /// Named API tokens: add (prints the secret once), revoke, list.
    Token(token::TokenArgs),
    /// Move packages no recent index names to `packages/.obsolete/`; expire old ones.
    Prune(publish::PruneArgs),
    /// Rebuild the state database from a published index (lost state dir, HaikuPorter takeover).
    Recover(publish::RecoverArgs),
    /// The daemon: watch the ports tree, build, publish, serve the API and the web UI.
    Serve(serve::ServeArgs),
    /// Builders: check that one is reachable and ready.
    Builder(builder::BuilderArgs),
    /// Ask the running daemon's `/healthz` (the container's HEALTHCHECK); exit 0 if healthy.
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Plan a buildrun: the ports to build, their order, and why other requested ports are not built.
    Plan(plan::PlanArgs),
    /// Ports trees: dump the evaluated tree as JSON.
    Ports(ports::PortsArgs),
    /// One buildrun: resume an unfinished one, else plan, build on the builders, then publish.
    Buildrun(buildrun::BuildrunArgs),
    /// The source cache: fetch recipe sources into storage once, add one by hand, list, check.
    Sources(sources::SourcesArgs),
    /// Rebuild one recorded build from its job manifest alone on a named builder (results to a directory).
    Rebuild(rebuild::RebuildArgs),
    /// Build a ref of the ports tree as a buildrun would, gate it, report the verdict; never publish.
    Scratch(scratch::ScratchArgs),
}

/// Sets up `tracing` on stderr, as text or JSON; `long_running` (the daemon) logs at info by default.
/// Who runs this command, for the audit log: `$USER` (or `$LOGNAME`), else the numeric uid.
pub fn who_am_i() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|name| !name.is_empty())
        .map(|name| crate::bounded_text::shortened(&name, 64))
        // SAFETY: getuid(2) has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

pub fn init_tracing(global: &GlobalArgs, long_running: bool) {
    let default = match global.verbose {
        // A daemon's log is its record of what happened; one-shot commands stay quiet.
        0 if long_running => "info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Plain stderr, except that progress bars are lifted out of the way of each line.
        .with_writer(progress::LogWriter)
        // Colours only for a person at a terminal; files, pipes and container logs get plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none(),
        );
    if global.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the parsed command; the exit code distinguishes "ran and found a problem" from errors.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Storage(args) => storage::run(args, &cli.global),
        Command::Hpkg(args) => hpkg::run(args),
        Command::Repo(args) => repo::run(args),
        Command::Publish(args) => publish::run_publish(args, &cli.global),
        Command::Push(args) => push::run(args, &cli.global),
        Command::Repositories(args) => repositories::run(args, &cli.global),
        Command::Gate(args) => gate::run(args, &cli.global),
        Command::Token(args) => token::run(args, &cli.global),
        Command::Prune(args) => publish::run_prune(args, &cli.global),
        Command::Recover(args) => publish::run_recover(args, &cli.global),
        Command::Builder(args) => builder::run(args, &cli.global),
        Command::Healthcheck(args) => healthcheck::run(args, &cli.global),
        Command::Plan(args) => plan::run(args, &cli.global),
        Command::Ports(args) => ports::run(args, &cli.global),
        Command::Buildrun(args) => buildrun::run(args, &cli.global),
        Command::Scratch(args) => scratch::run(args, &cli.global),
        Command::Sources(args) => sources::run(args, &cli.global),
        Command::Rebuild(args) => rebuild::run(args, &cli.global),
        Command::Serve(args) => serve::run(args, &cli.global),
    }
}
