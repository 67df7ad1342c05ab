//! Errors the API answers with: each becomes a status code and a JSON body `{"error": "..."}` whose
//! message names the object and, where the client can act, what to do.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad path parameter, query or body); retrying the same request cannot help.
    #[error("{0}")]
    BadRequest(String),
    /// The named buildrun, build, log or builder does not exist (yet).
    #[error("{0}")]
    NotFound(String),
    /// A mutating endpoint was called without a valid bearer token.
    #[error("this endpoint needs `Authorization: Bearer <token>` with the configured API token")]
    Unauthorized,
    /// Mutating endpoints are disabled (no token configured); the message says how to configure one.
    #[error("{0}")]
    Forbidden(String),
    /// The requested byte range starts past the end of the log.
    #[error("range starts past the end of the log ({size} bytes)")]
    RangeNotSatisfiable {
        /// The log's current size.
        size: u64,
    },
    /// The daemon cannot take the request right now (busy, shutting down, file being rewritten); a retry can
    /// help.
    #[error("{0}")]
    Unavailable(String),
    /// Reading the output tree or the database failed; the message names the file.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// An I/O error while reading `what`, as an internal error naming it.
    pub fn io(what: &std::path::Path, err: std::io::Error) -> Self {
        Self::Internal(format!("reading {}: {err}", what.display()))
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RangeNotSatisfiable { size } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        response
    }
}
