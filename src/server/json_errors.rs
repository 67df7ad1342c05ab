//! Every error answer in the documented JSON shape, including the ones our handlers never see: axum's
//! extractor rejections (a query or path parameter that does not parse: plain text), its 405 for a
//! method a route does not take (empty body), and any other framework answer such as a body over the
//! size limit.
//!
//! One middleware around the whole router rewrites such answers into an [`ApiError::Rejected`] rather
//! than a wrapper per extractor: that covers answers no extractor makes (405), cannot be forgotten on a
//! new handler, and the shape itself stays in one place, `ApiError`'s `IntoResponse`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, MAX_MESSAGE_CHARS};

/// Most bytes of a framework error body read to become the message: its messages are one line, and
/// [`ApiError`] cuts longer ones at [`MAX_MESSAGE_CHARS`] characters (up to 4 bytes each) anyway.
const MAX_REJECTION_BYTES: usize = 4 * MAX_MESSAGE_CHARS;

/// Middleware: passes answers through, except an error status whose body is not JSON, which becomes
/// `{"error": …}` with the same status and the same headers (e.g. a 405's `Allow`).
pub async fn rewrite(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let message = message(parts.status, body).await;
    let mut answer = ApiError::Rejected {
        status: parts.status,
        message,
    }
    .into_response();
    for (name, value) in &parts.headers {
        // The original body's own description would contradict the new body.
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// Whether the answer's body is JSON already (every [`ApiError`] is).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The framework's own text, or what `status` means when it sent none (its 405 has an empty body).
async fn message(status: StatusCode, body: Body) -> String {
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    if !text.is_empty() {
        return text;
    }
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "this endpoint does not take that method; `Allow` lists the ones it takes (see docs/api.md)"
                .into()
        }
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}
