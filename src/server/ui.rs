//! The web UI: one HTML page, its scripts and one stylesheet, embedded in the binary (no CDN, no build step).
//! A fixed set of routes serves them; nothing is read from disk, so there is no path to traverse.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const ANSI_JS: &str = include_str!("ui/ansi.js");
const PIPELINES_JS: &str = include_str!("ui/pipelines.js");
const STYLE_CSS: &str = include_str!("ui/style.css");

/// Only our own script and stylesheet run; log text is inserted as text nodes, and this forbids anything
/// else even if that were ever got wrong.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change with the binary; revalidating is cheap and avoids a stale UI after an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /`.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`.
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/ansi.js`.
pub async fn ansi_js() -> Response {
    asset("text/javascript; charset=utf-8", ANSI_JS)
}

/// `GET /ui/pipelines.js`.
pub async fn pipelines_js() -> Response {
    asset("text/javascript; charset=utf-8", PIPELINES_JS)
}

/// `GET /ui/style.css`.
pub async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}
