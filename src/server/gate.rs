//! The gate in the API: `GET /api/pipelines` (newest first, without logs), `GET /api/pipelines/{id}`
//! (with each check's log), `GET /api/audit` (read-only, like the other status endpoints) and
//! `POST /api/waivers` (a token with the `waive` right).
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
use crate::gate::audit::AuditEntry;
use crate::gate::policy::CheckKind;
use crate::gate::store::Pipeline;
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
    let id: i64 =
        id.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
            ApiError::BadRequest(format!("pipeline {} is not a pipeline number", echo(&id)))
        })?;
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
    /// The package name the waiver covers (every version pushed before it expires).
    package: String,
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
        let object = body
            .as_object()
            .ok_or_else(|| bad("the body must be a JSON object {package, check, reason, hours}".into()))?;
        if let Some(key) = object
            .keys()
            .find(|k| !["package", "check", "reason", "hours"].contains(&k.as_str()))
        {
            return Err(bad(format!(
                "unknown field {}: give package, check, reason and hours",
                echo(key)
            )));
        }
        let text = |field: &str| -> Result<&str, ApiError> {
            object
                .get(field)
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad(format!("{field}: give a string")))
        };
        let package = text("package")?;
        let valid_package = !package.is_empty()
            && package.len() <= 255
            && package
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'));
        if !valid_package {
            return Err(bad(format!(
                "package {}: give a package name (letters, digits and . _ - + ~)",
                echo(package)
            )));
        }
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
            package: package.into(),
            kind,
            reason: reason.into(),
            hours,
        })
    }
}

/// The answer to a waiver.
#[derive(Debug, Serialize)]
pub struct WaiverAnswer {
    /// The waiver's number.
    waiver: i64,
    /// Pipelines it let through (promoted at once).
    promoted: Vec<i64>,
}

/// `POST /api/waivers`: `{package, check, reason, hours}`, by a token with the `waive` right; the
/// open pipelines are evaluated again at once.
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
    let until = SystemTime::now() + Duration::from_secs_f64(request.hours * 3600.0);
    let who = caller.who();
    // The waiver re-evaluates under the publish lock and may promote: like a push, off the async
    // threads (its future holds the SQLite connection across awaits and is not Send).
    let runtime = tokio::runtime::Handle::current();
    let (waiver, promoted) = tokio::task::spawn_blocking(move || {
        runtime.block_on(service.waive(&request.package, request.kind, &who, &request.reason, until))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the waiver stopped: {e}")))?
    .map_err(super::push::push_error)?;
    Ok((StatusCode::CREATED, Json(WaiverAnswer { waiver, promoted })))
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
        let ok = json!({"package": "hello", "check": "test", "reason": "flaky", "hours": 2});
        assert_eq!(
            WaiverRequest::parse(&ok).unwrap(),
            WaiverRequest {
                package: "hello".into(),
                kind: CheckKind::Test,
                reason: "flaky".into(),
                hours: 2.0
            }
        );
        assert!(error(json!({"check": "test", "reason": "r", "hours": 1})).starts_with("package"));
        assert!(
            error(json!({"package": "a b", "check": "test", "reason": "r", "hours": 1}))
                .starts_with("package")
        );
        assert!(
            error(json!({"package": "a", "check": "tests", "reason": "r", "hours": 1})).starts_with("check")
        );
        assert!(
            error(json!({"package": "a", "check": "lint", "reason": " ", "hours": 1})).starts_with("reason")
        );
        assert!(
            error(json!({"package": "a", "check": "lint", "reason": "r", "hours": -1})).starts_with("hours")
        );
        assert!(
            error(json!({"package": "a", "check": "lint", "reason": "r", "hours": "1"})).starts_with("hours")
        );
        assert!(
            error(json!({"package": "a", "check": "lint", "reason": "r", "hours": 1, "who": "x"}))
                .contains("\"who\"")
        );
        assert!(error(json!([1])).contains("JSON object"));
    }
}
