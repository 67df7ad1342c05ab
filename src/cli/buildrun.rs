//! `buildmaster buildrun [--update|--everything|PORT…] [--no-publish]`: one buildrun, then exit.
//!
//! An unfinished buildrun (the process was killed, or stopped with SIGINT/SIGTERM) is resumed first,
//! and then nothing else is started (a bare `buildmaster buildrun` only resumes); otherwise the request
//! is planned and run. Packages built go
//! through `publish` (upload, verify, stub, index) unless `--no-publish`; those of a Debian or RPM
//! tree (`[ports] kind`) are pushed into `[ports] repository` as `buildmaster push` does.
//!
//! Exit codes: 0 the buildrun ended (even with failed builds, as HaikuPorter: they are listed);
//! 1 the run itself failed (bad config, state database, planning); 2 publishing refused packages or
//! left some out of the index;
//! 3 nothing to do; 4 no builder could work (resumable once the builders are fixed); 130 interrupted
//! (resumable: run the command again).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use buildmaster_storage::StorageBackend;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::progress::{self, BuildrunBar};
use super::signals::cancel_on_stop_signals;
use super::wanted::WantedArgs;
use super::GlobalArgs;
use crate::buildrun::{fleet, job, resume_unfinished, Context, Patience, Summary};
use crate::config::instance::InstanceConfig;
use crate::plan::recipe_tree::TreeKind;
use crate::publish::{publish, PublishSettings, Publisher};
use crate::state::{Database, StateDir};

/// Exit code when a publish refused packages or left some out of the index.
const EXIT_PUBLISH_REFUSED: u8 = 2;
/// Exit code when there was nothing to do (HaikuPorter's `buildmaster` script uses 3 too).
const EXIT_NOTHING_TO_DO: u8 = 3;
/// Exit code when no builder could work (every builder needs an operator, or none was usable for
/// [`Patience::builder_wait`]): the buildrun stays resumable.
const EXIT_NO_BUILDER: u8 = 4;
/// Exit code when stopped by a signal with work left.
const EXIT_INTERRUPTED: u8 = 130;

/// `buildmaster buildrun`.
#[derive(Debug, Args)]
pub struct BuildrunArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// HaikuPorter's builders directory (one JSON per builder and `known_hosts`), used when the config
    /// has no `[[builders]]`. Default `<state-dir>/builders` if it exists; with neither, one local
    /// builder runs the builds on this machine.
    #[arg(long, env = "BUILDMASTER_BUILDERS_DIR")]
    pub builders_dir: Option<PathBuf>,
    /// Which ports to build. With none, only an unfinished buildrun is resumed.
    #[command(flatten)]
    pub select: WantedArgs,
    /// Leave built packages in the spool; do not publish them.
    #[arg(long)]
    pub no_publish: bool,
}

fn print_summary(s: &Summary) {
    let verb = if s.resumed { "resumed buildrun" } else { "buildrun" };
    println!("{verb} {}: {}", s.id, s.status);
    for port in &s.complete {
        println!("built: {port}");
    }
    for (port, why) in &s.failed {
        println!("failed: {port}: {why}");
    }
    for (port, why) in &s.lost {
        println!("lost: {port}: {why}");
    }
    for (port, why) in &s.skipped {
        println!("skipped: {port}: {why}");
    }
}

async fn publish_spool(
    storage: Arc<dyn StorageBackend>,
    state: &StateDir,
    config: &InstanceConfig,
) -> anyhow::Result<u8> {
    let mut publisher = Publisher {
        state: state.clone(),
        db: Database::open(&state.database())?,
        storage,
        // `[publish]` of buildmaster.toml (the retry window, the gate), as `buildmaster publish` reads it.
        settings: PublishSettings::for_instance(config, state.root(), &format!("cli:{}", super::who_am_i()))
            .await?,
    };
    let report = publish(&mut publisher, false)
        .await
        .context("publishing the built packages")?;
    for name in &report.uploaded {
        println!("published: {name}");
    }
    for rejected in &report.rejected {
        eprintln!("rejected {}: {}", rejected.path.display(), rejected.reason);
    }
    if let Some(gate) = &report.gate {
        super::publish::print_gate(gate);
    }
    println!(
        "index of {} packages (sha256 {})",
        report.index_packages, report.repo_sha256
    );
    Ok(if report.rejected.is_empty() {
        0
    } else {
        EXIT_PUBLISH_REFUSED
    })
}

/// A Debian or RPM tree's buildrun: the packages of its format in the spool that `[ports]
/// repository` does not link yet — what it built, and what an earlier failed push left — pushed
/// through `buildmaster push`'s service (uploaded once into the pool, linked, the index published,
/// or staged behind the gate), as the daemon pushes them.
async fn push_built(
    storage: Arc<dyn StorageBackend>,
    state: &StateDir,
    config: &InstanceConfig,
) -> anyhow::Result<u8> {
    let who = format!("cli:{}", super::who_am_i());
    let pushed = crate::buildrun::served::push_unpushed(config, state, storage, &who)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(match pushed.map(super::push::print_outcome) {
        Some(false) => EXIT_PUBLISH_REFUSED,
        _ => 0,
    })
}

/// Whether the spool holds packages not yet published (the one check the daemon uses too).
fn spool_has_unpublished(state: &StateDir) -> anyhow::Result<bool> {
    let db = Database::open(&state.database())?;
    Ok(crate::publish::spool::has_unpublished(state, &db)?)
}

/// Runs `buildmaster buildrun`.
pub fn run(args: BuildrunArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let wanted = args.select.wanted();
    let state = StateDir::new(&global.state_dir);
    crate::state::private_files::close_to_others(&state);
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let storage =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        let specs = fleet::builder_specs(&state, &config, args.builders_dir.as_deref())?;
        let builders = fleet::make_builders(specs, &state, &config, Some(storage.clone()))?;
        let cancel = CancellationToken::new();
        cancel_on_stop_signals(cancel.clone(), |_| {
            eprintln!("stopping: builds in flight are cancelled; run `buildmaster buildrun` again to resume")
        })?;
        // Builds done of all, what runs and waits, busy builders: on a terminal only (progress::enabled).
        let bar = BuildrunBar::new(progress::enabled(global));
        let ctx = Context {
            state: state.clone(),
            config,
            builders,
            cancel,
            observer: Some(bar.clone()),
            // A one-shot run ends when no builder can work, instead of waiting forever.
            patience: Patience::one_shot(),
        };
        let resumed = resume_unfinished(&ctx).await;
        if !matches!(resumed, Ok(None)) {
            // Cleared before anything is printed, the error included.
            bar.clear();
        }
        let summary = match resumed? {
            Some(summary) => {
                if let (false, Some(wanted)) = (summary.interrupted, &wanted) {
                    println!(
                        "finished the unfinished buildrun {}; run the command again for {}",
                        summary.id,
                        job::describe(wanted)
                    );
                }
                summary
            }
            None => {
                let Some(wanted) = &wanted else {
                    println!("no unfinished buildrun to resume; say what to build: --update, --everything, or port names");
                    return Ok(ExitCode::from(EXIT_NOTHING_TO_DO));
                };
                let report = job::plan_and_run(&ctx, wanted).await;
                bar.clear();
                let report = report?;
                for problem in &report.problems {
                    eprintln!(
                        "recipe problem: {}: {}",
                        problem.recipe_path.display(),
                        problem.message
                    );
                }
                if let Some(revision) = &report.processed_revision {
                    println!("processed revision {revision}");
                }
                match report.summary {
                    Some(summary) => summary,
                    None => {
                        println!("nothing to do");
                        // Packages left unpublished by an earlier run (a failed publish) go out now.
                        if ctx.config.ports.kind != TreeKind::Haikuports {
                            // Left in the spool by an earlier push that failed: pushed now.
                            let code = if args.no_publish { 0 } else { push_built(storage.clone(), &state, &ctx.config).await? };
                            if code != 0 {
                                return Ok(ExitCode::from(code));
                            }
                            return Ok(ExitCode::from(EXIT_NOTHING_TO_DO));
                        }
                        if !args.no_publish && spool_has_unpublished(&state)? {
                            let code = publish_spool(storage, &state, &ctx.config).await?;
                            if code != 0 {
                                return Ok(ExitCode::from(code));
                            }
                        }
                        return Ok(ExitCode::from(EXIT_NOTHING_TO_DO));
                    }
                }
            }
        };
        print_summary(&summary);
        if let Some(why) = &summary.stalled {
            eprintln!(
                "error: buildrun {} stopped: {why}\nfix the builders (docs/builders.md) and run \
                 `buildmaster buildrun` again to resume it",
                summary.id
            );
            return Ok(ExitCode::from(EXIT_NO_BUILDER));
        }
        if summary.interrupted {
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        if ctx.config.ports.kind != TreeKind::Haikuports {
            if args.no_publish {
                return Ok(ExitCode::SUCCESS);
            }
            return Ok(ExitCode::from(push_built(storage.clone(), &state, &ctx.config).await?));
        }
        if args.no_publish || (summary.built_packages.is_empty() && !spool_has_unpublished(&state)?) {
            return Ok(ExitCode::SUCCESS);
        }
        Ok(ExitCode::from(publish_spool(storage, &state, &ctx.config).await?))
    })
}
