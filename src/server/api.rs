//! The read-only JSON endpoints: buildrun history, one buildrun's status, build records, builders, package
//! search, the daemon's status, health and metrics.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use super::events::{current_summary, daemon_json};
use super::output::{parse_number, BuildrunSummary, StatusDoc, BUILDER_STATES};
use super::packages::{PackageEntry, DEFAULT_LIMIT, MAX_LIMIT};
use super::state::AppState;

/// Buildruns per history page unless the client asks for fewer.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;

/// Most buildruns per history page (each costs a status.json read).
pub const MAX_HISTORY_LIMIT: usize = 500;

/// The header naming which buildrun a status is of (useful with `/api/buildruns/current`).
pub const BUILDRUN_HEADER: &str = "x-buildrun";

/// `GET /healthz`: the server answers and can read its output tree.
pub async fn healthz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let current = app.output().current()?;
    Ok(Json(
        serde_json::json!({ "status": "ok", "currentBuildrun": current }),
    ))
}

/// `?limit=&before=` for the history.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Most entries (default [`DEFAULT_HISTORY_LIMIT`], at most [`MAX_HISTORY_LIMIT`]).
    limit: Option<usize>,
    /// Only buildruns numbered below this (the next page).
    before: Option<u64>,
}

/// One page of history.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Newest first.
    pub buildruns: Vec<BuildrunSummary>,
    /// The `before` for the next page, if there is one.
    pub next_before: Option<u64>,
}

/// `GET /api/buildruns`: history from `buildruns.txt`, newest first, each with its status summary.
pub async fn list_buildruns(
    State(app): State<AppState>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let limit = query
        .limit
        .unwrap_or(DEFAULT_HISTORY_LIMIT)
        .clamp(1, MAX_HISTORY_LIMIT);
    let mut numbers = app.output().buildrun_numbers()?;
    if let Some(before) = query.before {
        numbers.retain(|&n| n < before);
    }
    numbers.reverse();
    let more = numbers.len() > limit;
    numbers.truncate(limit);
    let mut buildruns = Vec::with_capacity(numbers.len());
    for &n in &numbers {
        let summary = match app.output().status(n).await {
            Ok(status) => BuildrunSummary::from_status(n, &status),
            // Listed without a readable status (an aborted HaikuPorter run): still part of the history.
            Err(ApiError::NotFound(_) | ApiError::Unavailable(_)) => {
                BuildrunSummary::from_status(n, &Value::Null)
            }
            Err(e) => return Err(e),
        };
        buildruns.push(summary);
    }
    let next_before = if more { numbers.last().copied() } else { None };
    Ok(Json(History {
        buildruns,
        next_before,
    }))
}

fn status_response(n: u64, status: &StatusDoc) -> Response {
    let mut response = status.json().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&n.to_string()) {
        headers.insert(HeaderName::from_static(BUILDRUN_HEADER), value);
    }
    response
}

/// `GET /api/buildruns/{n}`: status.json as written (credentials in URLs removed).
pub async fn get_buildrun(State(app): State<AppState>, Path(n): Path<String>) -> Result<Response, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    let status = app.output().status(n).await?;
    Ok(status_response(n, &status))
}

/// `GET /api/buildruns/current`: the current buildrun's status.json; its number is in `X-Buildrun`.
pub async fn current_buildrun(State(app): State<AppState>) -> Result<Response, ApiError> {
    let n = app
        .output()
        .current()?
        .ok_or_else(|| ApiError::NotFound("there has been no buildrun yet".into()))?;
    let status = app.output().status(n).await?;
    Ok(status_response(n, &status))
}

/// `GET /api/buildruns/{n}/records`: every finished build's record, keyed by build number.
pub async fn records(State(app): State<AppState>, Path(n): Path<String>) -> Result<Json<Value>, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    if !app.output().buildrun_dir(n).is_dir() {
        return Err(ApiError::NotFound(format!("there is no buildrun {n}")));
    }
    Ok(Json(Value::Object(app.records().all(app.output(), n).await?)))
}

/// `GET /api/builders`: the current buildrun's builders, each with `listState` (`active`, `idle`, `lost`)
/// and the build it runs.
pub async fn builders(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(n) = app.output().current()? else {
        return Ok(Json(serde_json::json!({ "buildrun": null, "builders": [] })));
    };
    let status = match app.output().status(n).await {
        Ok(status) => status,
        Err(ApiError::NotFound(_)) => std::sync::Arc::new(StatusDoc::new(Value::Null)),
        Err(e) => return Err(e),
    };
    let mut builders = Vec::new();
    for state in BUILDER_STATES {
        for builder in status["builders"][state].as_array().into_iter().flatten() {
            let mut builder = builder.clone();
            if let Value::Object(map) = &mut builder {
                // The full cached-package list is large and not what this endpoint is for.
                map.remove("availablePackages");
                map.insert("listState".into(), state.into());
            }
            builders.push(builder);
        }
    }
    Ok(Json(serde_json::json!({ "buildrun": n, "builders": builders })))
}

/// `?q=&limit=` for the package search.
#[derive(Debug, Deserialize)]
pub struct PackageQuery {
    /// Search text (name or provides); empty lists by name.
    #[serde(default)]
    q: String,
    /// Most results (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    limit: Option<usize>,
}

/// `GET /api/packages?q=`.
pub async fn packages(
    State(app): State<AppState>,
    Query(query): Query<PackageQuery>,
) -> Result<Json<Vec<PackageEntry>>, ApiError> {
    if query.q.len() > 256 {
        return Err(ApiError::BadRequest("q is longer than 256 characters".into()));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    Ok(Json(app.packages().search(&query.q, limit).await?))
}

/// `GET /api/daemon`: what the daemon says about itself (activity, queue, ports tree head, last error).
pub async fn daemon(State(app): State<AppState>) -> Json<Value> {
    Json(daemon_json(&app.daemon_status().borrow()))
}

/// `GET /metrics`: Prometheus text format; the gauges are refreshed from the current buildrun first.
pub async fn metrics(State(app): State<AppState>) -> Response {
    match current_summary(&app).await {
        Ok(summary) => app.metrics().set_current(summary.as_ref()),
        // Keep the last values rather than report a half-written status as zero.
        Err(e) => tracing::debug!(error = %e, "metrics: current buildrun unreadable"),
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], app.metrics().encode()).into_response()
}
