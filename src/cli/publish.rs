//! `buildmaster publish`, `prune` and `recover`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::progress::PublishBars;
use super::{progress, GlobalArgs};
use crate::config::instance::InstanceConfig;
use crate::gate::haikuports_publish::GateSummary;
use crate::publish::prune::{prune, PruneReport};
use crate::publish::recover::{recover, RecoverSource};
use crate::publish::recover_info::RepoInfoRecovery;
use crate::publish::{publish, PublishReport, PublishSettings, Publisher};
use crate::repos::service::PushService;
use crate::state::{Database, StateDir};

/// `buildmaster publish`
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Show what would be uploaded and indexed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Publish even if the index loses more than a tenth of the published package names (an
    /// intended mass withdrawal); without it such an index is refused before anything is uploaded.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Seconds to keep retrying, with backoff, through transient storage errors (an S3 server
    /// restarting, a network cut) before failing; 0 fails at the first one. Default: `[publish]
    /// retry_window` in the instance config, else 600.
    #[arg(long, value_name = "SECS")]
    pub retry_window: Option<u64>,
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `buildmaster prune`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Show what would be moved and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Move more than the configured share of packages in one run.
    #[arg(long)]
    pub force: bool,
    /// Keep objects named by any index published within this many hours.
    #[arg(long, default_value_t = 24.0)]
    pub grace_hours: f64,
    /// Delete objects from `packages/.obsolete/` after this many days.
    #[arg(long, default_value_t = 30.0)]
    pub retention_days: f64,
    /// Largest share of packages one run may move without `--force` (0–1).
    #[arg(long, default_value_t = 0.10)]
    pub max_share: f64,
    /// The instance config, whose `[[repositories]]` are pruned too; default
    /// `<state-dir>/buildmaster.toml`.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `buildmaster recover`
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Where the published index is read from: the bucket (state directory lost) or
    /// `<state>/repository/repo` (taking over a HaikuPorter instance).
    #[arg(long = "from", value_enum, default_value = "bucket")]
    pub source: RecoverSource,
}

/// The publisher of the instance in `--state-dir`. Only `recover` (`create`) makes a new state directory;
/// `publish` and `prune` refuse one that does not exist, so a forgotten `--state-dir` never publishes an
/// empty instance's index.
async fn publisher(
    global: &GlobalArgs,
    settings: PublishSettings,
    create: bool,
) -> anyhow::Result<Publisher> {
    let state = StateDir::new(&global.state_dir);
    if !create {
        state.require_existing()?;
    }
    state
        .create()
        .with_context(|| format!("cannot create the state directory {}", state.root().display()))?;
    let db = Database::open(&state.database())?;
    let storage = crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
    Ok(Publisher {
        state,
        db,
        storage,
        settings,
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// Runs `buildmaster publish`.
pub fn run_publish(args: PublishArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let config = InstanceConfig::locate(args.config.as_deref(), &global.state_dir)?;
        let bars = PublishBars::new(progress::enabled(global));
        let who = format!("cli:{}", super::who_am_i());
        let defaults = PublishSettings::for_instance(&config, &global.state_dir, &who).await?;
        let settings = PublishSettings {
            progress: Some(bars.clone()),
            allow_shrink: args.allow_shrink,
            retry_window: args
                .retry_window
                .map_or(defaults.retry_window, Duration::from_secs),
            ..defaults
        };
        let mut p = publisher(global, settings, false).await?;
        let report = publish(&mut p, args.dry_run).await;
        // Cleared before anything is printed, the error included.
        bars.clear();
        let report = report?;
        print_publish(&report);
        let staged = report
            .gate
            .as_ref()
            .is_some_and(|g| !g.red.is_empty() || !g.waiting.is_empty());
        Ok(if !report.rejected.is_empty() {
            ExitCode::from(3)
        } else if staged {
            // As `buildmaster push`: packages stay staged behind a red pipeline (or a green one
            // waiting for a promote request).
            ExitCode::from(4)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn print_publish(r: &PublishReport) {
    let verb = if r.dry_run { "would publish" } else { "published" };
    for name in &r.uploaded {
        println!("uploaded {name}");
    }
    for name in &r.already_stored {
        println!("already in storage: {name}");
    }
    if r.dry_run {
        for name in &r.new_packages {
            println!("would upload {name}");
        }
    }
    for rejected in &r.rejected {
        eprintln!("rejected {}: {}", rejected.path.display(), rejected.reason);
    }
    if let Some(gate) = &r.gate {
        print_gate(gate);
    }
    println!(
        "{verb} index of {} packages (sha256 {}){}",
        r.index_packages,
        r.repo_sha256,
        if r.dry_run || r.index_uploaded {
            ""
        } else {
            ", unchanged"
        }
    );
}

/// What the gate did: staged uploads, promoted pipelines, red ones with why.
pub fn print_gate(gate: &GateSummary) {
    for name in &gate.staged {
        println!("staged {name}");
    }
    for id in &gate.promoted {
        println!("pipeline {id}: promoted");
    }
    for (id, why) in &gate.red {
        println!("pipeline {id}: red — {why}");
    }
    for id in &gate.waiting {
        println!("pipeline {id}: green — waiting for a promote request (buildmaster gate promote {id})");
    }
}

/// Runs `buildmaster prune`.
pub fn run_prune(args: PruneArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.max_share),
        "--max-share must be between 0 and 1"
    );
    let settings = PublishSettings {
        grace: Duration::from_secs_f64(args.grace_hours.max(0.0) * 3600.0),
        obsolete_retention: Duration::from_secs_f64(args.retention_days.max(0.0) * 86400.0),
        max_prune_share: args.max_share,
        ..PublishSettings::default()
    };
    runtime()?.block_on(async {
        let config = InstanceConfig::locate(args.config.as_deref(), &global.state_dir)?;
        let repositories = crate::repos::config::resolve(&config.repositories)?;
        let mut p = publisher(global, settings, false).await?;
        // An instance with only pushed repositories has no HaikuPorts repository to prune (it cannot
        // publish one without repo.info); skipping deletes nothing, so it is always safe.
        let pushed_only = !repositories.is_empty() && !p.state.repository().join("repo.info").is_file();
        let mut refused = false;
        if pushed_only {
            println!("no HaikuPorts repository here (no repository/repo.info): pruning the pushed repositories only");
        } else {
            let report = prune(&mut p, args.dry_run, args.force).await?;
            print_prune(&report);
            refused = report.refused.is_some();
        }
        if !repositories.is_empty() {
            // The pushed repositories' superseded index files, each after its retention window.
            let service = PushService::new(p.state.clone(), p.storage.clone(), repositories);
            for (id, pruned) in service.prune(args.dry_run).await? {
                let verb = if args.dry_run { "would delete" } else { "deleted" };
                for key in &pruned.deleted {
                    println!("{verb} {key}");
                }
                println!(
                    "{id}: {} superseded index files kept within their retention",
                    pruned.kept
                );
            }
        }
        Ok(if refused {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn print_prune(r: &PruneReport) {
    let (moved, expired) = if r.dry_run {
        ("would move", "would delete")
    } else {
        ("moved", "deleted")
    };
    for name in &r.moved {
        println!("{moved} packages/{name} to packages/.obsolete/");
    }
    for name in &r.expired {
        println!("{expired} packages/.obsolete/{name}");
    }
    if let Some(why) = &r.refused {
        eprintln!("prune refused: {why}");
    }
    println!(
        "{} packages, {} unreferenced kept within the grace period, {} {moved}, {} {expired}",
        r.packages,
        r.kept_in_grace.len(),
        r.moved.len(),
        r.expired.len()
    );
    if r.leftovers_removed > 0 {
        println!("{} leftovers of interrupted uploads removed", r.leftovers_removed);
    }
}

/// Runs `buildmaster recover`.
pub fn run_recover(args: RecoverArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let mut p = publisher(global, PublishSettings::default(), true).await?;
        let report = recover(&mut p, args.source).await?;
        for name in &report.missing_in_storage {
            eprintln!("not in storage: packages/{name}");
        }
        for name in &report.package_list_mismatches {
            eprintln!("package.list and repo disagree on {name}");
        }
        match &report.repo_info {
            RepoInfoRecovery::Restored(path) => println!("restored {} from the bucket", path.display()),
            RepoInfoRecovery::AlreadyPresent(path) => println!("kept {} (already present)", path.display()),
            RepoInfoRecovery::NotInBucket(path) => eprintln!(
                "the bucket holds no repo.info: write {} before the next publish (see docs/publishing.md)",
                path.display()
            ),
            RepoInfoRecovery::Local => {}
        }
        println!(
            "recovered {} packages ({} stubs created)",
            report.recovered, report.stubs_created
        );
        Ok(ExitCode::SUCCESS)
    })
}
