//! `buildmaster rebuild --manifest FILE --builder NAME --out DIR`: one recorded build again from its
//! job manifest alone (as `GET /api/buildruns/{n}/builds/{b}/manifest` serves it) on the named
//! builder, its results verified and committed to DIR (the spool is not touched). The build's output
//! streams to stdout. Exit status 0 when the build produced every result the manifest names, 1
//! otherwise; the results are listed with their SHA-256.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::signals::cancel_on_stop_signals;
use super::GlobalArgs;
use crate::buildrun::rebuild::{read_manifest, rebuild, Rebuild};
use crate::config::instance::InstanceConfig;
use crate::state::StateDir;

/// Arguments of `buildmaster rebuild`.
#[derive(Args, Debug)]
pub struct RebuildArgs {
    /// The job manifest (JSON, as the API serves it).
    #[arg(long)]
    pub manifest: PathBuf,
    /// The builder to rebuild on (a `[[builders]]` name).
    #[arg(long)]
    pub builder: String,
    /// Where the results go (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// A HaikuPorter builders directory (`*.json`) instead of `[[builders]]`.
    #[arg(long, env = "BUILDMASTER_BUILDERS_DIR")]
    pub builders_dir: Option<PathBuf>,
}

/// Runs `buildmaster rebuild`.
pub fn run(args: RebuildArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let manifest = read_manifest(&args.manifest)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let storage =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        let cancel = CancellationToken::new();
        cancel_on_stop_signals(cancel.clone(), |_| {
            eprintln!("stopping: the rebuild is cancelled")
        })?;
        let r = Rebuild {
            state: &state,
            config: &config,
            builders_dir: args.builders_dir.as_deref(),
            storage: Some(storage),
            builder: &args.builder,
            out: &args.out,
        };
        let mut stdout = std::io::stdout();
        let mut sink = |_, data: &[u8]| {
            let _ = stdout.write_all(data);
        };
        match rebuild(&r, &manifest, &mut sink, &cancel).await {
            Ok(outcome) => {
                for result in &outcome.results {
                    println!(
                        "rebuilt: {} (sha256 {})",
                        result.file_name,
                        result.sha256.to_hex()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("error: rebuild of {}: {err}", manifest.inputs.port);
                Ok(ExitCode::from(1))
            }
        }
    })
}
