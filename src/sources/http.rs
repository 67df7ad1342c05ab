//! Downloading an HTTP(S) source into a [`SpoolFile`]: redirects followed (up to
//! [`MAX_REDIRECTS`], as wget's default of 20 is more than any mirror needs), a timeout for the
//! answer and another for each pause in the body, and the spool's size bound — checked against
//! `Content-Length` before anything is read, and again as the body streams.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::spool::{SpoolError, SpoolFile};

/// Redirects followed before giving up (a loop, or a mirror network gone wrong).
pub const MAX_REDIRECTS: usize = 10;

/// How long the server may take to answer a request (HaikuPorter's wget uses `--timeout=10` per
/// phase; a loaded mirror deserves more).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the body may pause before the download is given up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a download failed, and whether another try (or another mirror) could help.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The server's answer was a refusal (4xx) or the URL is unusable: another try will not help.
    #[error("{0}")]
    Permanent(String),
    /// A network failure, a timeout or a 5xx answer.
    #[error("{0}")]
    Transient(String),
    /// The spool refused the body (too large, local disk).
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Fetches `url` into `spool`, following redirects.
pub async fn download(url: &str, spool: &mut SpoolFile) -> Result<(), DownloadError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| DownloadError::Permanent(format!("loading the system's root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut current = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = current
            .parse()
            .map_err(|e| DownloadError::Permanent(format!("{current} is not a URL: {e}")))?;
        let request = hyper::Request::get(uri)
            .header("user-agent", concat!("buildmaster/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| DownloadError::Permanent(e.to_string()))?;
        let response = tokio::time::timeout(ANSWER_TIMEOUT, client.request(request))
            .await
            .map_err(|_| {
                DownloadError::Transient(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()))
            })?
            .map_err(|e| DownloadError::Transient(format!("request failed: {e}")))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| DownloadError::Permanent(format!("HTTP {status} without a Location")))?;
            current = resolve(&current, location);
            continue;
        }
        if status.is_server_error() {
            return Err(DownloadError::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(DownloadError::Permanent(format!("HTTP {status}")));
        }
        let declared = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = response.into_body();
        loop {
            let frame = tokio::time::timeout(STALL_TIMEOUT, body.frame())
                .await
                .map_err(|_| {
                    DownloadError::Transient(format!(
                        "the body stalled for {} s after {} bytes",
                        STALL_TIMEOUT.as_secs(),
                        spool.size()
                    ))
                })?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| DownloadError::Transient(format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                spool.write(&data).await?;
            }
        }
        if let Some(declared) = declared.filter(|&d| d != spool.size()) {
            return Err(DownloadError::Transient(format!(
                "the body ended after {} of {declared} bytes",
                spool.size()
            )));
        }
        return Ok(());
    }
    Err(DownloadError::Permanent(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// `location` (absolute, `/path` or relative) resolved against `base`.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    let dir = path.rsplit_once('/').map_or(path, |(dir, _)| dir);
    format!("{scheme}://{dir}/{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve() {
        assert_eq!(resolve("http://a:1/x/y.tgz", "https://b/z"), "https://b/z");
        assert_eq!(resolve("http://a:1/x/y.tgz", "/z.tgz"), "http://a:1/z.tgz");
        assert_eq!(resolve("http://a:1/x/y.tgz?q=1", "z.tgz"), "http://a:1/x/z.tgz");
    }
}
