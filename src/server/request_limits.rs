//! The documented bounds of a request's head — the request target and the header fields — enforced
//! before any handler runs, so that a request over them gets our JSON 414 or 431.
//!
//! hyper has only one bound of its own: its read buffer. A head that does not fit gets hyper's bare 431
//! (no body) before the request reaches us, so that buffer ([`MAX_REQUEST_HEAD_BYTES`], handed to hyper
//! in `listener.rs`) is set well above our limits: everything between them and it is answered here,
//! in the documented shape. hyper also answers a head with more than 100 header fields with a bare 431
//! (its `max_headers` default), which we keep: raising it costs a larger parse array for every request.

use axum::extract::Request;
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longest request target (path and query) accepted, in bytes; longer gets a JSON 414. Our longest
/// real URLs (a build log with `offset` and `limit`) are under 200 bytes; 8 KiB is nginx's default
/// (`large_client_header_buffers 4 8k`, the request line must fit one buffer).
/// <https://nginx.org/en/docs/http/ngx_http_core_module.html#large_client_header_buffers>
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most bytes of header fields accepted, counting each field as `name: value` and its line end; more
/// gets a JSON 431. nginx's default allows 4 × 8 KiB for the same.
/// <https://nginx.org/en/docs/http/ngx_http_core_module.html#large_client_header_buffers>
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// hyper's read buffer per connection (`http1::Builder::max_buf_size`), in bytes: a request head
/// larger than this gets hyper's bare 431. Above [`MAX_URI_BYTES`] + [`MAX_HEADER_BYTES`] with room
/// to spare, so that every head our limits refuse still reaches us; and below hyper's default
/// (~400 KiB), which bounds what [`DEFAULT_MAX_CONNECTIONS`](super::listener::DEFAULT_MAX_CONNECTIONS)
/// slow clients can make us buffer.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

// The buffer must hold any head our limits refuse (plus the method and version), or hyper would
// answer those instead of us.
const _: () = assert!(MAX_REQUEST_HEAD_BYTES >= MAX_URI_BYTES + MAX_HEADER_BYTES + 1024);

/// Middleware: answers a request over [`MAX_URI_BYTES`] or [`MAX_HEADER_BYTES`] with the matching
/// [`ApiError`]; passes every other request on.
pub async fn enforce(request: Request, next: Next) -> Response {
    match check(request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

/// Whether a request with `uri` and `headers` is within the limits.
fn check(uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let length = target_len(uri);
    if length > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong {
            length,
            limit: MAX_URI_BYTES,
        });
    }
    let bytes = header_bytes(headers);
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            bytes,
            limit: MAX_HEADER_BYTES,
        });
    }
    Ok(())
}

/// The request target's length as the client sent it: path and query, plus scheme and authority
/// when it came in absolute form (through a proxy).
fn target_len(uri: &Uri) -> usize {
    let path_and_query = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + "://".len());
    scheme + authority + path_and_query
}

/// The header fields' size on the wire: `name: value\r\n` each.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_target_counts_path_query_and_absolute_form() {
        assert_eq!(target_len(&"/api/packages?q=bash".parse().unwrap()), 20);
        assert_eq!(target_len(&"http://h:1/x".parse().unwrap()), 12);
    }

    #[test]
    fn limits_are_inclusive_and_name_sizes() {
        let mut headers = HeaderMap::new();
        let at_limit = format!("/{}", "a".repeat(MAX_URI_BYTES - 1));
        assert!(check(&at_limit.parse().unwrap(), &headers).is_ok());
        let over = format!("{at_limit}b");
        let err = check(&over.parse().unwrap(), &headers).unwrap_err();
        assert!(matches!(err, ApiError::UriTooLong { length, .. } if length == MAX_URI_BYTES + 1));

        // "x-big: " + value + "\r\n" is exactly the limit.
        let value = "v".repeat(MAX_HEADER_BYTES - "x-big: \r\n".len());
        headers.insert("x-big", HeaderValue::from_str(&value).unwrap());
        assert!(check(&"/".parse().unwrap(), &headers).is_ok());
        headers.insert("y", HeaderValue::from_static(""));
        let err = check(&"/".parse().unwrap(), &headers).unwrap_err();
        assert!(err.to_string().contains(&MAX_HEADER_BYTES.to_string()), "{err}");
    }
}
