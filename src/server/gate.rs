//! The gate in the API: `GET /api/pipelines` (newest first, without logs), `GET /api/pipelines/{id}`
//! (with each check's log), `GET /api/audit` (read-only, like the other status endpoints),
//! `POST /api/waivers` (a token with the `waive` right in the waiver's repository) and
//! `POST /api/pipelines/{id}/promote` (the `promote` right in each of the pipeline's repositories).
//!
//! The reads open their own SQLite connection on a blocking thread: the state database is in WAL mode,
//! so they never wait for a push, which holds the publish lock (in the bucket), not the database, while
//! its checks run. That is what lets the UI watch a pipeline move through its checks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Right};
use super::error::{echo, ApiError};
use super::state::AppState;
use crate::daemon::control::Request;
use crate::gate::audit::AuditEntry;
use crate::gate::policy::CheckKind;
use crate::gate::promotion::PromoteRefused;
use crate::gate::store::{Pipeline, PipelineKind, PipelineState};
use crate::gate::waivers::NewWaiver;
use crate::repos::service::PushService;
use crate::repos::RepoError;

/// Pipelines listed when the query names no limit.
const DEFAULT_LIMIT: u32 = 50;
/// Most pipelines or audit entries one request may list.
const MAX_LIMIT: u32 = 1000;
/// Longest waiver a request may give (a year), as `buildmaster gate waive` allows.
const MAX_WAIVER_HOURS: f64 = 24.0 * 366.0;
/// Longest waiver reason kept (it goes into every pipeline summary it waives).
const MAX_REASON_CHARS: usize = 1000;

/// `?limit=&before=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    limit: Option<u32>,
    /// Audit entries numbered below this (paging back); pipelines ignore it.
    before: Option<i64>,
}

impl ListQuery {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::BadRequest(format!("limit={n}: give 1 to {MAX_LIMIT}"))),
        }
    }
}

/// The push service of a gated instance, or a 404 saying how to get one.
fn gated(app: &AppState) -> Result<Arc<PushService>, ApiError> {
    match app.push_service() {
        Some(service) if service.gated() => Ok(service.clone()),
        _ => Err(ApiError::NotFound(
            "this instance has no gate: add [gate] staging = … and [[repositories]] (docs/gate.md)".into(),
        )),
    }
}

/// Runs a read of the gate's records on a blocking thread (SQLite blocks).
async fn read<T: Send + 'static>(
    service: Arc<PushService>,
    work: impl FnOnce(&PushService) -> Result<T, RepoError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || work(&service))
        .await
        .map_err(|e| ApiError::Internal(format!("reading the gate's records stopped: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /api/pipelines?limit=`: the newest pipelines, newest first, without check logs.
pub async fn list_pipelines(
    State(app): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Pipeline>>, ApiError> {
    let service = gated(&app)?;
    let limit = query.limit()?;
    read(service, move |s| s.pipelines(limit)).await.map(Json)
}

/// `GET /api/pipelines/{id}`: one pipeline with its packages and every check's log.
pub async fn get_pipeline(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Pipeline>, ApiError> {
    let service = gated(&app)?;
    let id = pipeline_number(&id)?;
    read(service, move |s| s.pipeline(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("there is no pipeline {id}")))
}

/// `GET /api/audit?limit=&before=`: the newest audit entries (below `before`), newest first.
pub async fn audit(
    State(app): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let service = gated(&app)?;
    let limit = query.limit()?;
    let before = query.before;
    read(service, move |s| s.audit_log(limit, before)).await.map(Json)
}

/// A waiver request, validated.
#[derive(Debug, PartialEq)]
struct WaiverRequest {
    /// The repository id it applies in.
    repository: String,
    /// The package name the waiver covers.
    package: String,
    /// The one version it covers; `None`: every version staged before it expires.
    version: Option<String>,
    /// The check it waives.
    kind: CheckKind,
    /// Why (into the audit log and the waived checks' summaries).
    reason: String,
    /// How long it holds.
    hours: f64,
}

impl WaiverRequest {
    /// Checks each field of `body`; an error names the field and what it takes.
    fn parse(body: &serde_json::Value) -> Result<Self, ApiError> {
        let bad = |message: String| ApiError::BadRequest(message);
        let object = body.as_object().ok_or_else(|| {
            bad("the body must be a JSON object {repository, package, version?, check, reason, hours}".into())
        })?;
        const FIELDS: [&str; 6] = ["repository", "package", "version", "check", "reason", "hours"];
        if let Some(key) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown field {}: give repository, package, version (optional), check, reason and hours",
                echo(key)
            )));
        }
        let text = |field: &str| -> Result<&str, ApiError> {
            object
                .get(field)
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad(format!("{field}: give a string")))
        };
        let repository = text("repository")?;
        if !is_name(repository, "/") {
            return Err(bad(format!(
                "repository {}: give a repository id (letters, digits and . _ - + ~ /)",
                echo(repository)
            )));
        }
        let package = text("package")?;
        if !is_name(package, "") {
            return Err(bad(format!(
                "package {}: give a package name (letters, digits and . _ - + ~)",
                echo(package)
            )));
        }
        let version = match object.get("version") {
            None | Some(serde_json::Value::Null) => None,
            Some(_) => {
                let version = text("version")?;
                if !is_name(version, ":") {
                    return Err(bad(format!(
                        "version {}: give a version (letters, digits and . _ - + ~ :)",
                        echo(version)
                    )));
                }
                Some(version.to_string())
            }
        };
        let check = text("check")?;
        let kind = CheckKind::parse(check).ok_or_else(|| {
            bad(format!(
                "check {}: give installability, lint or test",
                echo(check)
            ))
        })?;
        let reason = text("reason")?.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(bad(format!(
                "reason: say why in 1 to {MAX_REASON_CHARS} characters (it goes into the audit log)"
            )));
        }
        let hours = object
            .get("hours")
            .and_then(|v| v.as_f64())
            .filter(|h| h.is_finite() && *h > 0.0 && *h <= MAX_WAIVER_HOURS)
            .ok_or_else(|| {
                bad(format!(
                    "hours: give a number above 0 and at most {MAX_WAIVER_HOURS}"
                ))
            })?;
        Ok(Self {
            repository: repository.into(),
            package: package.into(),
            version,
            kind,
            reason: reason.into(),
            hours,
        })
    }
}

/// Whether `text` is 1 to 255 letters, digits, `. _ - + ~` and the characters of `also`.
fn is_name(text: &str, also: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~') || also.contains(c)
        })
}

/// The answer to a waiver.
#[derive(Debug, Serialize)]
pub struct WaiverAnswer {
    /// The waiver's number.
    waiver: i64,
    /// Pipelines it let through (promoted at once).
    promoted: Vec<i64>,
}

/// `POST /api/waivers`: `{repository, package, version?, check, reason, hours}`, by a token with the
/// `waive` right in that repository (403 outside its scope); the open pipelines are evaluated again
/// at once.
pub async fn waive(
    caller: Caller,
    State(app): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<WaiverAnswer>), ApiError> {
    caller.require(Right::Waive)?;
    let service = gated(&app)?;
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let request = WaiverRequest::parse(&body)?;
    caller.require_on(Right::Waive, &request.repository)?;
    let until = SystemTime::now() + Duration::from_secs_f64(request.hours * 3600.0);
    let waiver = NewWaiver {
        repository: request.repository,
        package: request.package,
        version: request.version,
        kind: request.kind,
        reason: request.reason,
        until: crate::repos::unix_seconds(until),
    };
    let who = caller.who();
    let (waiver, promoted) =
        off_the_async_threads("the waiver", async move || service.waive(&waiver, &who).await).await?;
    Ok((StatusCode::CREATED, Json(WaiverAnswer { waiver, promoted })))
}

/// Runs `work` (a gate operation under the publish lock, which may promote) on a blocking thread
/// driven by this runtime: its future holds the SQLite connection across awaits and is not `Send`.
async fn off_the_async_threads<T: Send + 'static>(
    what: &str,
    work: impl AsyncFnOnce() -> Result<T, RepoError> + Send + 'static,
) -> Result<T, ApiError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(work()))
        .await
        .map_err(|e| ApiError::Internal(format!("{what} stopped: {e}")))?
        .map_err(super::push::push_error)
}

/// The answer to a promote request.
#[derive(Debug, Serialize)]
pub struct PromoteAnswer {
    /// The pipelines promoted by it (the one asked for, and any that waited for it).
    promoted: Vec<i64>,
    /// Whether a publish was queued with the daemon to promote it (built packages are promoted by a
    /// publish).
    publish_queued: bool,
    /// The pipeline as it stands afterwards.
    pipeline: Option<Pipeline>,
}

/// `POST /api/pipelines/{id}/promote`: promotes a `green` pipeline into repositories promoted by hand
/// (`[gate] manual_promotion`), by a token with the `promote` right in each repository it stages
/// packages for; audited. 409 when it is not green (checking, red, promoted, or a scratch build's).
pub async fn promote(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PromoteAnswer>, ApiError> {
    caller.require(Right::Promote)?;
    let service = gated(&app)?;
    let id = pipeline_number(&id)?;
    let pipeline = read(service.clone(), move |s| s.pipeline(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no pipeline {id}")))?;
    for target in pipeline.packages.iter().flat_map(|s| s.targets.iter()) {
        caller.require_on(Right::Promote, target)?;
    }
    let who = caller.who();
    let reader = service.clone();
    let outcome = off_the_async_threads("the promotion", async move || {
        service.request_promotion(id, &who).await
    })
    .await?;
    let promoted = outcome.map_err(|refused| match refused {
        PromoteRefused::Unknown(_) => ApiError::NotFound(refused.to_string()),
        other => ApiError::Rejected {
            status: StatusCode::CONFLICT,
            message: other.to_string(),
        },
    })?;
    let pipeline = read(reader, move |s| s.pipeline(id)).await?;
    // Built packages go out with the HaikuPorts repository's next publish: ask the daemon for one (a
    // full queue or a stopped daemon leaves it to the next publish).
    let publish_queued = pipeline
        .as_ref()
        .is_some_and(|p| p.kind == PipelineKind::Buildrun && p.state == PipelineState::Green)
        && app.control().try_send(Request::Publish).is_ok();
    Ok(Json(PromoteAnswer {
        promoted,
        publish_queued,
        pipeline,
    }))
}

/// A pipeline number from the path, or a 400.
fn pipeline_number(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .ok()
        .filter(|&n: &i64| n > 0)
        .ok_or_else(|| ApiError::BadRequest(format!("pipeline {} is not a pipeline number", echo(id))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(body: serde_json::Value) -> String {
        WaiverRequest::parse(&body).unwrap_err().to_string()
    }

    #[test]
    fn a_waiver_request_is_checked_field_by_field() {
        let ok = json!({"repository": "debian/stable", "package": "hello", "check": "test", "reason": "flaky", "hours": 2});
        assert_eq!(
            WaiverRequest::parse(&ok).unwrap(),
            WaiverRequest {
                repository: "debian/stable".into(),
                package: "hello".into(),
                version: None,
                kind: CheckKind::Test,
                reason: "flaky".into(),
                hours: 2.0
            }
        );
        // Each bad field named; `repository` first.
        let with = |mut body: serde_json::Value| {
            body["repository"] = json!("debian/stable");
            error(body)
        };
        assert!(
            error(json!({"package": "a", "check": "test", "reason": "r", "hours": 1}))
                .starts_with("repository")
        );
        assert!(error(
            json!({"repository": "a b", "package": "a", "check": "test", "reason": "r", "hours": 1})
        )
        .starts_with("repository"));
        assert!(with(json!({"check": "test", "reason": "r", "hours": 1})).starts_with("package"));
        assert!(
            with(json!({"package": "a b", "check": "test", "reason": "r", "hours": 1}))
                .starts_with("package")
        );
        assert!(
            with(json!({"package": "a", "version": "1 0", "check": "test", "reason": "r", "hours": 1}))
                .starts_with("version")
        );
        assert!(
            with(json!({"package": "a", "check": "tests", "reason": "r", "hours": 1})).starts_with("check")
        );
        assert!(
            with(json!({"package": "a", "check": "lint", "reason": " ", "hours": 1})).starts_with("reason")
        );
        assert!(
            with(json!({"package": "a", "check": "lint", "reason": "r", "hours": -1})).starts_with("hours")
        );
        assert!(
            with(json!({"package": "a", "check": "lint", "reason": "r", "hours": "1"})).starts_with("hours")
        );
        assert!(
            with(json!({"package": "a", "check": "lint", "reason": "r", "hours": 1, "who": "x"}))
                .contains("\"who\"")
        );
        let versioned = json!({"repository": "haikuports", "package": "a", "version": "1:2.0-1",
            "check": "lint", "reason": "r", "hours": 1});
        assert_eq!(
            WaiverRequest::parse(&versioned).unwrap().version.as_deref(),
            Some("1:2.0-1")
        );
        assert!(error(json!([1])).contains("JSON object"));
    }
}
