//! `buildmaster serve`: the daemon. Starts the HTTP server (API, UI, metrics) and the loop that watches
//! the ports tree and runs buildruns and publishes; SIGTERM or SIGINT stop both cleanly — the running
//! buildrun is checkpointed and resumes at the next start — and the process exits 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use buildmaster_storage::StorageBackend;
use clap::Args;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::signals::cancel_on_stop_signals;
use super::GlobalArgs;
use crate::buildrun::fleet;
use crate::config::instance::InstanceConfig;
use crate::daemon::control::DaemonStatus;
use crate::daemon::jobs::InstanceJobs;
use crate::daemon::run::DaemonSettings;
use crate::repos::service::PushService;
use crate::server::metered_storage::MeteredStorage;
use crate::server::metrics::Metrics;
use crate::server::{AppState, ServerConfig};
use crate::state::StateDir;

/// Pending API requests beyond this many are refused (503) rather than queued without bound.
const CONTROL_QUEUE: usize = 64;

/// `buildmaster serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The instance config (`buildmaster.toml`). Default: `<state-dir>/buildmaster.toml` if present.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// HaikuPorter's builders directory (`*.json` + `known_hosts`). Default: `<state-dir>/builders`.
    #[arg(long, env = "BUILDMASTER_BUILDERS_DIR")]
    pub builders_dir: Option<PathBuf>,
    /// Listen here instead of `[serve] listen`.
    #[arg(long)]
    pub listen: Option<String>,
}

/// Runs `buildmaster serve`.
pub fn run(args: ServeArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    state
        .create()
        .with_context(|| format!("cannot create the state directory {}", state.root().display()))?;
    crate::state::private_files::close_to_others(&state);
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_stop_signals(shutdown.clone(), |signal| {
            tracing::info!(signal, "stopping: checkpointing the running buildrun")
        })?;
        let metrics = Metrics::new();
        let storage =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        // Publishing and the builders' dependency downloads both go through this one handle, so every
        // byte to and from object storage reaches `/metrics`.
        let storage: Arc<dyn StorageBackend> = Arc::new(MeteredStorage::new(storage, metrics.clone()));
        let specs = fleet::builder_specs(&state, &config, args.builders_dir.as_deref())?;
        let builders = fleet::make_builders(specs, &state, &config, Some(storage.clone()))?;

        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (status_tx, status_rx) = watch::channel(DaemonStatus::default());
        let app = AppState::new(
            ServerConfig::for_instance(&state, &config.serve)?,
            control_tx,
            status_rx,
            metrics.clone(),
        );
        let repositories = crate::repos::config::resolve(&config.repositories)?;
        // The gate's pipelines and waivers are served for pushed repositories and for a gated
        // HaikuPorts repository alike.
        if !repositories.is_empty() || config.gate.is_some() {
            // `POST /api/push` and `GET /api/repositories`; pushes share the publish lock with the daemon.
            app.set_push_service(Arc::new(
                PushService::open(state.clone(), storage.clone(), repositories, &config).await?,
            ));
        }
        // `POST /api/scratch`: scratch builds on the instance's builders, after a running buildrun.
        if config.gate.is_some() {
            let mut scratch = crate::scratch::run::ScratchContext::for_instance(
                state.clone(),
                config.clone(),
                storage.clone(),
                args.builders_dir.clone(),
                shutdown.clone(),
            )
            .await?;
            scratch.wait_while_busy = true;
            app.set_scratch(Arc::new(scratch));
        }
        // Named API tokens, re-read whenever `buildmaster token` changes the file.
        app.set_tokens_file(config.serve.tokens_file_in(state.root()));
        let listen = args.listen.clone().unwrap_or_else(|| config.serve.listen.clone());
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen} ([serve] listen or --listen)"))?;
        println!(
            "buildmaster serve: UI and API on http://{}/",
            listener.local_addr()?
        );
        let server_stop = shutdown.clone();
        let limits = config.serve.connection_limits();
        let server = tokio::spawn(crate::server::serve_with_limits(
            listener,
            app,
            limits,
            async move { server_stop.cancelled().await },
        ));

        let settings = DaemonSettings {
            tree: config.ports_tree(state.root()),
            poll_interval: Duration::from_secs(config.serve.poll_interval.max(1)),
            webhook_url: std::env::var("REPOSITORY_TRIGGER_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .or_else(|| config.serve.webhook_url.clone()),
            pull: config.serve.pull,
        };
        let jobs = Arc::new(InstanceJobs {
            state: state.clone(),
            config: config.clone(),
            builders,
            storage,
            metrics,
        });
        crate::daemon::run::run(settings, jobs, control_rx, status_tx, shutdown.clone()).await;
        shutdown.cancel();
        server
            .await
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")?;
        tracing::info!("stopped cleanly");
        println!("buildmaster serve: stopped cleanly");
        Ok(ExitCode::SUCCESS)
    })
}
