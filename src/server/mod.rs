//! The HTTP server of `buildmaster serve`: a JSON API over the output tree and the state database, live
//! status and log tails over server-sent events, Prometheus metrics, bearer-token-protected control
//! endpoints that hand requests to the daemon, and the embedded web UI. See `docs/api.md`.
//!
//! The output tree in HaikuPorter's layout is the contract with the buildrun executor: the server only
//! reads it, so it serves an adopted HaikuPorter instance's history as well as ours.
//!
//! # Layout
//! - [`state`]: [`AppState`] (shared by handlers), [`ServerConfig`]. The daemon's side of the wiring is
//!   its own types: requests are `daemon::control::Request` on an `mpsc` channel, its status a
//!   `watch` of `daemon::control::DaemonStatus`.
//! - [`output`]: reading `output/buildruns/…`; path-parameter validation; credential stripping.
//! - [`api`]: read-only JSON endpoints; [`logs`]: log ranges and the live log tail; [`events`]: status
//!   events; [`manifest`]: a build's job manifest.
//! - [`control`]: the mutating endpoints; [`auth`]: who calls and what they may do; [`tokens`]: the
//!   named tokens' file; [`push`]: package uploads into `[[repositories]]` and their list; [`gate`]:
//!   pipelines, waivers, promote requests and the audit log of a gated instance; [`scratch`]: scratch
//!   builds started through the API.
//! - [`metrics`]: the [`Metrics`] handle and `/metrics`; [`metered_storage`]: counting storage bytes into
//!   it; [`packages`]: package search; [`records`]: build
//!   records; [`ui`]: the embedded UI; [`error`]: [`ApiError`].
//! - [`listener`]: accepting connections within [`ConnectionLimits`] (a connection cap and a
//!   header-read deadline); [`request_limits`]: the bounds of a request's target and headers.
//! - [`json_errors`]: error answers made by the framework (extractor rejections, 405) re-sent as
//!   [`ApiError`]s, so that every error is JSON.

pub mod api;
pub mod auth;
pub mod control;
pub mod error;
pub mod events;
pub mod gate;
pub mod json_errors;
pub mod listener;
pub mod logs;
pub mod manifest;
pub mod metered_storage;
pub mod metrics;
pub mod output;
pub mod packages;
pub mod push;
pub mod records;
pub mod request_limits;
pub mod scratch;
pub mod state;
pub mod tokens;
pub mod ui;

use std::future::Future;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

pub use auth::{ApiToken, TokenError};
pub use error::ApiError;
pub use listener::ConnectionLimits;
pub use metrics::{Direction, Metrics, Outcome};
pub use state::{AppState, ServerConfig};

/// Most bytes a request body may have (control requests are small JSON documents).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The routes.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::app_js))
        .route("/ui/ansi.js", get(ui::ansi_js))
        .route("/ui/pipelines.js", get(ui::pipelines_js))
        .route("/ui/style.css", get(ui::style_css))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/api/events", get(events::events))
        .route("/api/daemon", get(api::daemon))
        .route("/api/builders", get(api::builders))
        .route("/api/packages", get(api::packages))
        .route(
            "/api/buildruns",
            get(api::list_buildruns).post(control::start_buildrun),
        )
        .route("/api/buildruns/current", get(api::current_buildrun))
        .route("/api/buildruns/{n}", get(api::get_buildrun))
        .route("/api/buildruns/{n}/records", get(api::records))
        .route("/api/buildruns/{n}/master.log", get(logs::master_log))
        .route("/api/buildruns/{n}/builders/{name}/log", get(logs::builder_log))
        .route("/api/buildruns/{n}/builds/{b}/log", get(logs::build_log))
        .route(
            "/api/buildruns/{n}/builds/{b}/log/stream",
            get(logs::stream_build_log),
        )
        .route(
            "/api/buildruns/{n}/builds/{b}/manifest",
            get(manifest::build_manifest),
        )
        .route("/api/repositories", get(push::repositories))
        .route(
            "/api/push",
            // Packages are large: this route alone takes bodies up to its own bound.
            post(push::push).layer(axum::extract::DefaultBodyLimit::max(
                push::MAX_PUSH_BYTES as usize,
            )),
        )
        .route("/api/pipelines", get(gate::list_pipelines))
        .route("/api/pipelines/{id}", get(gate::get_pipeline))
        .route("/api/audit", get(gate::audit))
        .route("/api/pipelines/{id}/promote", post(gate::promote))
        .route("/api/waivers", post(gate::waive))
        .route("/api/scratch", post(scratch::start))
        .route("/api/publish", post(control::publish))
        .route("/api/pause", post(control::pause))
        .route("/api/resume", post(control::resume))
        .fallback(|| async { ApiError::NotFound("no such endpoint; see docs/api.md".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_limits::enforce))
        // Outermost, so that it sees every answer the layers inside make.
        .layer(axum::middleware::from_fn(json_errors::rewrite))
        .with_state(app)
}

/// Serves `app` on `listener` with the default [`ConnectionLimits`] until `shutdown` completes; then
/// open event streams end and the server finishes the requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, app, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] within `limits`.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, ?limits, "HTTP server listening");
    }
    let streams = app.shutdown().clone();
    let served = listener::serve_bounded(listener, router(app.clone()), limits, streams, shutdown).await;
    // A push answered early (`wait=false`) still runs its checks under the publish lock: let it end.
    let running = app.pushes_running();
    if running > 0 {
        tracing::info!(running, "waiting for running pushes to finish their checks");
        app.pushes_finished().await;
    }
    served
}
