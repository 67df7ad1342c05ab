//! `GET /api/buildruns/{n}/builds/{b}/manifest`: build `b`'s job manifest (`crate::manifest`) as it
//! was recorded — every input by SHA-256 and size, the command and environment, the builder.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::output::parse_number;
use super::state::AppState;
use crate::manifest::store::ManifestStore;

/// `GET /api/buildruns/{n}/builds/{b}/manifest`.
pub async fn build_manifest(
    State(app): State<AppState>,
    Path((n, b)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let n = parse_number(&n, "buildrun")?;
    let b = parse_number(&b, "build number")?;
    let missing = || ApiError::NotFound(format!("build {b} of buildrun {n} has no job manifest"));
    let Some(database) = app
        .packages()
        .database()
        .filter(|p| p.is_file())
        .map(|p| p.to_owned())
    else {
        return Err(missing());
    };
    let json = tokio::task::spawn_blocking(move || ManifestStore::open(&database)?.get_json(n, b))
        .await
        .map_err(|e| ApiError::Internal(format!("reading the job manifest stopped: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(missing)?;
    let mut response = json.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
