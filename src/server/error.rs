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
    /// The request target is longer than [`MAX_URI_BYTES`](super::request_limits::MAX_URI_BYTES);
    /// the same request cannot succeed.
    #[error("the request target is {length} bytes; at most {limit} are accepted")]
    UriTooLong {
        /// The request target's length in bytes.
        length: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// The header fields add up to more than
    /// [`MAX_HEADER_BYTES`](super::request_limits::MAX_HEADER_BYTES); the same request cannot succeed.
    #[error("the request's header fields are {bytes} bytes; at most {limit} are accepted")]
    HeadersTooLarge {
        /// The header fields' size in bytes (names, values, `: ` and line ends).
        bytes: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// An error answer the framework made before (or instead of) a handler — an extractor's rejection
    /// of a query or path, a method the route does not take — re-sent in our shape with its status
    /// kept (see `json_errors.rs`).
    #[error("{message}")]
    Rejected {
        /// The framework's status code (400, 405, 413, …).
        status: StatusCode,
        /// The framework's message, or the status's meaning when it sent none.
        message: String,
    },
}

/// The most characters of a client's input an error repeats: enough to recognise it, never a
/// 300 KB name sent back (and logged) whole.
pub const MAX_ECHOED_CHARS: usize = 80;
/// The longest error message sent; a backstop behind [`echo`] for messages built elsewhere (serde's
/// body errors quote the offending input).
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// `input` quoted for an error message, cut at [`MAX_ECHOED_CHARS`] with its full length noted.
pub fn echo(input: &str) -> String {
    let count = input.chars().count();
    if count <= MAX_ECHOED_CHARS {
        return format!("{input:?}");
    }
    let head: String = input.chars().take(MAX_ECHOED_CHARS).collect();
    format!("{head:?}… ({} bytes)", input.len())
}

/// `message` cut at [`MAX_MESSAGE_CHARS`], marked when cut.
fn bounded(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message;
    }
    let mut short: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    short.push_str("… (cut)");
    short
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
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Rejected { status, .. } => *status,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed");
        }
        let body = serde_json::json!({ "error": bounded(self.to_string()) });
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
