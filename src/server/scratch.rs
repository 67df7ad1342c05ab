//! `POST /api/scratch`: a scratch build of a proposed change (`{"ref": "feature/x", "ports": […]}`),
//! by a token with the `build` right, on an instance with a gate. Its pipeline (kind `scratch`) is
//! opened at once and the answer is `202 Accepted` with it, as a `wait=false` push answers; the build
//! runs on in the background — after a running buildrun, whose builders it shares — and its pipeline
//! ends `green` or `red` (`GET /api/pipelines/N`), its verdict POSTed to `[scratch] webhook_url` as
//! for `buildmaster scratch`. Server shutdown cancels it (its pipeline is closed red).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::{Caller, Right};
use super::error::{echo, ApiError};
use super::state::AppState;
use crate::scratch::run::{open_pipeline, ScratchContext};
use crate::scratch::{run_scratch, ScratchRequest};

/// Most ports one request may name.
const MAX_PORTS: usize = 1000;
/// Longest ref accepted (git's own limit on a ref name is the file system's, 255 bytes a component).
const MAX_REF_BYTES: usize = 255;

/// `{ref, ports?}`, checked field by field; an error names the field.
fn parse(body: &serde_json::Value) -> Result<(String, Vec<String>), ApiError> {
    let bad = |message: String| ApiError::BadRequest(message);
    let object = body
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object {ref, ports?}".into()))?;
    if let Some(key) = object.keys().find(|k| !["ref", "ports"].contains(&k.as_str())) {
        return Err(bad(format!("unknown field {}: give ref and ports", echo(key))));
    }
    let reference = object
        .get("ref")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("ref: give a branch, tag or commit of the ports tree".into()))?;
    let valid_ref = !reference.is_empty()
        && reference.len() <= MAX_REF_BYTES
        && !reference.starts_with('-')
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+' | '@' | '^' | '~'));
    if !valid_ref {
        return Err(bad(format!(
            "ref {}: give a branch, tag or commit (letters, digits and . _ - / + @ ^ ~)",
            echo(reference)
        )));
    }
    let ports = match object.get("ports") {
        None => Vec::new(),
        Some(value) => {
            let list = value
                .as_array()
                .filter(|list| list.len() <= MAX_PORTS)
                .ok_or_else(|| bad(format!("ports: give a list of at most {MAX_PORTS} port names")))?;
            list.iter()
                .map(|port| {
                    port.as_str()
                        .filter(|p| {
                            !p.is_empty()
                                && p.chars().all(|c| {
                                    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-' | '~')
                                })
                        })
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("ports: {port} is not a port name")))
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok((reference.to_string(), ports))
}

/// `POST /api/scratch`.
pub async fn start(
    caller: Caller,
    State(app): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Right::Build)?;
    let cx = app
        .scratch()
        .filter(|cx| cx.config.gate.is_some())
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(
                "this instance has no gate for scratch builds: add [gate] staging = … (docs/gate.md)".into(),
            )
        })?;
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let (reference, ports) = parse(&body)?;
    let who = caller.who();
    let now = crate::repos::unix_seconds(std::time::SystemTime::now());
    let opening = {
        let (cx, who, reference) = (cx.clone(), who.clone(), reference.clone());
        tokio::task::spawn_blocking(move || open_pipeline(&cx, &who, &reference, now))
    };
    let pipeline = opening
        .await
        .map_err(|e| ApiError::Internal(format!("opening the scratch build's pipeline stopped: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::Internal("the gate has no pipeline for the scratch build".into()))?;
    let id = pipeline.id;
    let request = ScratchRequest {
        reference,
        ports,
        who,
        pipeline: Some(id),
    };
    start_scratch(cx, request, now);
    let href = format!("/api/pipelines/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, href.clone())],
        Json(json!({"pipeline": id, "href": href})),
    )
        .into_response())
}

/// Runs the scratch build on a thread of its own (its future holds SQLite connections and builder
/// handles across awaits, and is not `Send`), driven by this runtime; the result is in its pipeline,
/// its record and the log.
fn start_scratch(cx: Arc<ScratchContext>, request: ScratchRequest, now: i64) {
    let runtime = tokio::runtime::Handle::current();
    let pipeline = request.pipeline;
    let _scratch = tokio::task::spawn_blocking(move || {
        let _span = tracing::info_span!("api_scratch", pipeline, reference = %request.reference).entered();
        match runtime.block_on(run_scratch(&cx, &request, now)) {
            Ok(report) => tracing::info!(
                scratch = report.record.id,
                verdict = %report.verdict.state,
                description = %report.verdict.description,
                "API scratch build done"
            ),
            Err(err) => tracing::warn!(%err, "API scratch build could not run"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_request_is_checked_field_by_field() {
        let (reference, ports) = parse(&json!({"ref": "feature/x", "ports": ["frontend"]})).unwrap();
        assert_eq!(
            (reference.as_str(), ports),
            ("feature/x", vec!["frontend".to_string()])
        );
        assert!(parse(&json!({"ref": "main"})).unwrap().1.is_empty());
        let error = |body| parse(&body).unwrap_err().to_string();
        assert!(error(json!({})).starts_with("ref"));
        assert!(error(json!({"ref": "--upload-pack=x"})).starts_with("ref"));
        assert!(error(json!({"ref": "a b"})).starts_with("ref"));
        assert!(error(json!({"ref": "main", "ports": "frontend"})).starts_with("ports"));
        assert!(error(json!({"ref": "main", "ports": ["a;b"]})).starts_with("ports"));
        assert!(error(json!({"ref": "main", "who": "x"})).contains("\"who\""));
    }
}
