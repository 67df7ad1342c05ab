//! `buildmaster gate pipelines|waive|promote|audit`: the gate of a gated instance (`[gate]`) —
//! pipelines and their checks (scratch builds' too), waivers in a repository and promote requests
//! (audited, re-evaluated at once), and the audit log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::push::print_pipeline;
use super::GlobalArgs;
use crate::gate::policy::CheckKind;
use crate::gate::store::Pipeline;
use crate::gate::waivers::NewWaiver;

/// `buildmaster gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml`.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: GateCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// The newest pipelines, or one with its checks' logs.
    Pipelines {
        /// A pipeline number: show it with its logs.
        id: Option<i64>,
        /// How many to list.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Let a package through a failing check in a repository until a time, for a reason (audited);
    /// the open pipelines are evaluated again at once.
    Waive {
        /// The repository id it applies in (`haikuports` for the packages buildruns build).
        #[arg(long)]
        repository: String,
        /// The package name.
        #[arg(long)]
        package: String,
        /// Only this version; default every version staged before the waiver expires.
        #[arg(long)]
        version: Option<String>,
        /// The check: installability, lint or test.
        #[arg(long)]
        check: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
        /// How long the waiver holds, in hours.
        #[arg(long)]
        hours: f64,
    },
    /// Promote a green pipeline into repositories promoted by hand (`[gate] manual_promotion`);
    /// audited.
    Promote {
        /// The pipeline number.
        id: i64,
    },
    /// The audit log, newest first.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// Runs `buildmaster gate …`.
pub fn run(args: GateArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let service = super::push::open_service(args.config.as_deref(), global).await?;
        anyhow::ensure!(
            service.gated(),
            "this instance has no gate: add [gate] staging = \"…\" to buildmaster.toml (docs/gate.md)"
        );
        match args.command {
            GateCommand::Pipelines { id: Some(id), .. } => {
                let pipeline = service
                    .pipeline(id)?
                    .with_context(|| format!("there is no pipeline {id}"))?;
                print_pipeline(&pipeline);
                print_origin(&pipeline);
                for check in pipeline.checks.iter().filter(|c| !c.log.is_empty()) {
                    println!(
                        "--- {} {} log ---\n{}",
                        check.file_name,
                        check.kind.as_str(),
                        check.log
                    );
                }
            }
            GateCommand::Pipelines { id: None, limit } => {
                for pipeline in service.pipelines(limit)? {
                    print_pipeline(&pipeline);
                    print_origin(&pipeline);
                }
            }
            GateCommand::Waive {
                repository,
                package,
                version,
                check,
                reason,
                hours,
            } => {
                let kind = CheckKind::parse(&check)
                    .with_context(|| format!("--check {check:?}: give installability, lint or test"))?;
                anyhow::ensure!(
                    hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0,
                    "--hours {hours}: give a duration between 0 and a year"
                );
                anyhow::ensure!(
                    !reason.trim().is_empty(),
                    "--reason: say why (it goes into the audit log)"
                );
                let until = SystemTime::now() + Duration::from_secs_f64(hours * 3600.0);
                let waiver = NewWaiver {
                    repository,
                    package,
                    version,
                    kind,
                    reason,
                    until: crate::repos::unix_seconds(until),
                };
                let who = format!("cli:{}", super::who_am_i());
                let (id, promoted) = service.waive(&waiver, &who).await?;
                println!("waiver {id}: {} {check} for {hours} h", waiver.describe());
                for pipeline in promoted {
                    println!("pipeline {pipeline}: promoted");
                }
            }
            GateCommand::Promote { id } => {
                let who = format!("cli:{}", super::who_am_i());
                let promoted = service.request_promotion(id, &who).await??;
                println!("pipeline {id}: promotion requested by {who}");
                for pipeline in &promoted {
                    println!("pipeline {pipeline}: promoted");
                }
                if !promoted.contains(&id) {
                    // Built packages (`haikuports`) are promoted by a publish.
                    println!("pipeline {id}: the next publish promotes it");
                }
            }
            GateCommand::Audit { limit } => {
                for entry in service.audit_log(limit, None)? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        entry.id, entry.at, entry.who, entry.action, entry.subject, entry.detail
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The line saying what opened `pipeline` and who asked: `  buildrun by daemon`, `  scratch of
/// feature/x at 0123… by cli:ann`; with who asked to promote it by hand, if anyone did.
fn print_origin(pipeline: &Pipeline) {
    let kind = serde_json::to_value(pipeline.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let of = pipeline
        .reference
        .as_ref()
        .map(|r| format!(" of {r}"))
        .unwrap_or_default();
    let requested = pipeline
        .promote_requested_by
        .as_ref()
        .map(|w| format!("; promotion requested by {w}"))
        .unwrap_or_default();
    println!("  {kind}{of} by {}{requested}", pipeline.who);
}
