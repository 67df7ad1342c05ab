//! `POST /api/push?name=FILE&to=REPO[&to=REPO…][&wait=false]`: one Debian, RPM or Haiku package as the
//! request body, pushed like `buildmaster push FILE --to REPO…` by a token with the `push` right for
//! every target (checked before the body is read). The body is streamed to `<state>/incoming/` within
//! [`MAX_PUSH_BYTES`], pushed under the publish lock, and removed; the answer is the push's report —
//! or, with `wait=false` on a gated instance, 202 with the pipeline's number as soon as the pipeline
//! exists, its checks running on in the background. `GET /api/repositories` lists the configured
//! repositories (read-only).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use futures::StreamExt as _;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use super::auth::{Caller, Right};
use super::error::{echo, ApiError};
use super::state::{AppState, RunningPush};
use crate::formats::FormatKind;
use crate::gate::store::Pipeline;
use crate::repos::push::select;
use crate::repos::push::PushReport;
use crate::repos::service::{PushOutcome, PushService};
use crate::repos::RepoError;

/// Largest package one request may push (the Pulp-style GitLab helper-images RPM is ~500 MB).
pub const MAX_PUSH_BYTES: u64 = 4 << 30;

/// A push's answer.
#[derive(Debug, Serialize)]
pub struct PushAnswer {
    /// Files uploaded into the pool (ungated), or into the staging storage (gated).
    uploaded: Vec<String>,
    /// Files already in the pool.
    already_stored: Vec<String>,
    /// `[file, repository]` links made.
    linked: Vec<(String, String)>,
    /// Repositories whose index was published.
    published: Vec<String>,
    /// The push's pipeline, when the instance is gated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline: Option<Pipeline>,
    /// Pipelines promoted by this push (its own, and any it unblocked).
    promoted: Vec<i64>,
}

impl From<PushReport> for PushAnswer {
    fn from(report: PushReport) -> Self {
        Self {
            uploaded: report.uploaded,
            already_stored: report.already_stored,
            linked: report.linked,
            published: report.published.into_iter().map(|(id, _)| id).collect(),
            pipeline: None,
            promoted: Vec::new(),
        }
    }
}

impl From<PushOutcome> for PushAnswer {
    fn from(outcome: PushOutcome) -> Self {
        match outcome {
            PushOutcome::Published(report) => report.into(),
            PushOutcome::Gated(gated) => {
                let gated = *gated;
                Self {
                    uploaded: gated.staged,
                    pipeline: Some(gated.pipeline),
                    promoted: gated.promoted,
                    ..gated.publish.into()
                }
            }
        }
    }
}

/// One configured repository, as `GET /api/repositories` lists it.
#[derive(Debug, Serialize)]
pub struct RepositoryJson {
    id: String,
    format: &'static str,
    root: String,
    signed: bool,
    /// Packages linked into it; `null` when the records could not be read.
    packages: Option<u64>,
}

/// `GET /api/repositories`.
pub async fn repositories(State(app): State<AppState>) -> Json<Vec<RepositoryJson>> {
    let Some(service) = app.push_service() else {
        return Json(Vec::new());
    };
    let counting = service.clone();
    // SQLite reads block: off the async threads. A failure leaves the counts out, not the listing.
    let counts = tokio::task::spawn_blocking(move || counting.linked_counts())
        .await
        .ok()
        .and_then(|counts| {
            counts
                .map_err(|e| tracing::warn!("counting the repositories' packages: {e}"))
                .ok()
        });
    let list = service
        .repositories()
        .iter()
        .enumerate()
        .map(|(i, r)| RepositoryJson {
            id: r.id().to_string(),
            format: r.format().as_str(),
            root: r.root.clone(),
            signed: r.signing_key.is_some(),
            packages: counts.as_ref().and_then(|c| c.get(i).copied()),
        })
        .collect();
    Json(list)
}

/// A file name a client may give: a package's, with no path.
fn checked_name(name: &str) -> Result<&str, ApiError> {
    let valid = FormatKind::of_file_name(name).is_some()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'));
    if valid {
        Ok(name)
    } else {
        Err(ApiError::BadRequest(format!(
            "name={} is not a package file name: letters, digits and . _ - + ~, ending in .deb, .rpm or .hpkg",
            echo(name)
        )))
    }
}

/// What `POST /api/push` asks, from its query.
struct PushRequest {
    /// The package's file name.
    name: String,
    /// Target repository patterns.
    to: Vec<String>,
    /// Answer only when the checks have run (default), or as soon as the pipeline exists.
    wait: bool,
}

impl PushRequest {
    fn parse(query: &[(String, String)]) -> Result<Self, ApiError> {
        let name = query
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::BadRequest("give the file's name: ?name=hello_1.0_amd64.deb".into()))?;
        let name = checked_name(name)?.to_string();
        let to: Vec<String> = query
            .iter()
            .filter(|(k, _)| k == "to")
            .map(|(_, v)| v.clone())
            .collect();
        if to.is_empty() {
            return Err(ApiError::BadRequest(
                "give the target repositories: &to=REPO (globs allowed)".into(),
            ));
        }
        let wait = match query
            .iter()
            .rev()
            .find(|(k, _)| k == "wait")
            .map(|(_, v)| v.as_str())
        {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "wait={}: give true or false",
                    echo(other)
                )))
            }
        };
        Ok(Self { name, to, wait })
    }
}

/// The answer to `POST /api/push?…&wait=false` once the pipeline exists (202): its checks run on.
#[derive(Debug, Serialize)]
pub struct PipelineStarted {
    /// The pipeline's number.
    pipeline: i64,
    /// Where to follow it.
    href: String,
}

/// `POST /api/push`.
pub async fn push(
    caller: Caller,
    State(app): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    body: Body,
) -> Result<Response, ApiError> {
    let service = app.push_service().ok_or_else(|| {
        ApiError::NotFound("this instance has no [[repositories]]; see docs/repositories.md".into())
    })?;
    let request = PushRequest::parse(&query)?;
    // The caller's scope is checked before a byte of the package is accepted.
    for target in select(service.repositories(), &request.to).map_err(push_error)? {
        caller.require_on(Right::Push, target.id())?;
    }
    let dir = service.incoming_dir();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::io(&dir, e))?;
    // A name of our own choosing beside the client's, so that concurrent uploads never meet.
    let path = dir.join(format!("{:016x}-{}", fastrand::u64(..), request.name));
    if let Err(err) = receive(body, &path).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(err);
    }
    let (created_tx, created_rx) = tokio::sync::oneshot::channel();
    let running = app.push_running();
    let pushing = start_push(
        service.clone(),
        path,
        request.to,
        caller.who(),
        created_tx,
        running,
    );
    if request.wait || !service.gated() {
        return finished(pushing).await;
    }
    match created_rx.await {
        Ok(id) => {
            let href = format!("/api/pipelines/{id}");
            let mut response = (
                StatusCode::ACCEPTED,
                Json(PipelineStarted {
                    pipeline: id,
                    href: href.clone(),
                }),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&href) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        // The push ended before it made a pipeline (a refused package, a lock timeout): its answer.
        Err(_) => finished(pushing).await,
    }
}

/// Runs the push of the received file at `path` on a thread of its own and removes the file when it
/// ends; `created` gets the pipeline's number as soon as a gated push has one. The push goes on when
/// nobody awaits the handle (`wait=false`): it holds the publish lock until its checks and any
/// promotion are done, and `running` keeps the server from shutting down under it.
fn start_push(
    service: Arc<PushService>,
    path: PathBuf,
    to: Vec<String>,
    who: String,
    created: tokio::sync::oneshot::Sender<i64>,
    running: RunningPush,
) -> tokio::task::JoinHandle<Result<PushOutcome, RepoError>> {
    // The push holds the SQLite connection across awaits, which makes its future !Send: it runs on a
    // blocking thread of its own, driven by this runtime (as the daemon's publish does).
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let created = std::sync::Mutex::new(Some(created));
        let on_pipeline = |id: i64| {
            if let Some(tx) = created.lock().ok().and_then(|mut tx| tx.take()) {
                let _ = tx.send(id);
            }
        };
        let files = [path.clone()];
        let outcome = runtime.block_on(service.push_observed(&files, &to, &who, &on_pipeline));
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!("removing the received upload {}: {e}", path.display());
        }
        match &outcome {
            Ok(PushOutcome::Gated(gated)) => tracing::info!(
                pipeline = gated.pipeline.id,
                state = ?gated.pipeline.state,
                %who,
                "API push checked"
            ),
            Ok(PushOutcome::Published(_)) => tracing::info!(%who, "API push published"),
            Err(e) => tracing::warn!(%who, "API push failed: {e}"),
        }
        drop(running);
        outcome
    })
}

/// The answer of a push that ran to its end.
async fn finished(
    pushing: tokio::task::JoinHandle<Result<PushOutcome, RepoError>>,
) -> Result<Response, ApiError> {
    let outcome = pushing
        .await
        .map_err(|e| ApiError::Internal(format!("the push stopped: {e}")))?
        .map_err(push_error)?;
    Ok(Json(PushAnswer::from(outcome)).into_response())
}

/// Streams the body to `path`, refusing more than [`MAX_PUSH_BYTES`].
async fn receive(body: Body, path: &std::path::Path) -> Result<(), ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::io(path, e))?;
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?;
        received += chunk.len() as u64;
        if received > MAX_PUSH_BYTES {
            return Err(ApiError::Rejected {
                status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("the package is larger than {MAX_PUSH_BYTES} bytes"),
            });
        }
        file.write_all(&chunk).await.map_err(|e| ApiError::io(path, e))?;
    }
    file.flush().await.map_err(|e| ApiError::io(path, e))
}

/// A push error as an API answer: the client's mistakes are 4xx with the push's own message.
pub(super) fn push_error(err: RepoError) -> ApiError {
    match err {
        RepoError::Refused(message) => ApiError::BadRequest(message),
        RepoError::Format(err) => ApiError::BadRequest(err.to_string()),
        RepoError::UnknownRepository(message) => ApiError::NotFound(message),
        RepoError::Lock(err) => ApiError::Unavailable(format!("{err}; retry later")),
        RepoError::Storage(err) => ApiError::Unavailable(format!("storage: {err}")),
        other => ApiError::Internal(other.to_string()),
    }
}
