//! The publish webhook (HaikuPorter's `REPOSITORY_TRIGGER_URL`, which HaikuDepotServer uses to import
//! a new repository): an HTTP(S) POST after every successful publish. A failing webhook is logged and
//! never fails the publish — the repository is already out; the next publish calls it again.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long a webhook call may take before it is given up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Calls `url` with an empty POST. Returns the status code, or why it could not be called. The URL may
/// carry a token in its query, so it is never logged in full: only scheme, host and path.
pub async fn call(url: &str) -> Result<u16, String> {
    post(url, None).await
}

/// POSTs `json` (a JSON document; an empty body when `None`) to `url`: the status code, or why the
/// call failed. Shared by the publish webhook and scratch builds' verdicts.
pub async fn post(url: &str, json: Option<Vec<u8>>) -> Result<u16, String> {
    let uri: hyper::Uri = url.parse().map_err(|err| format!("not a URL: {err}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|err| format!("loading the system's root certificates: {err}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut request =
        hyper::Request::post(uri).header("user-agent", concat!("buildmaster/", env!("CARGO_PKG_VERSION")));
    if json.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(json.unwrap_or_default())))
        .map_err(|err| err.to_string())?;
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|err| err.to_string())?;
    Ok(response.status().as_u16())
}

/// What of `url` may appear in logs: scheme, host, port and path — no query, no user info.
pub fn redacted(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(uri) => {
            format!(
                "{}://{}{}",
                uri.scheme_str().unwrap_or("?"),
                uri.host().unwrap_or("?"),
                uri.port().map(|p| format!(":{p}")).unwrap_or_default()
            ) + uri.path()
        }
        Err(_) => "<invalid URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn redaction_drops_query_and_credentials() {
        assert_eq!(
            redacted("https://user:pw@depot.example:8443/import?token=s3cret"),
            "https://depot.example:8443/import"
        );
    }

    #[tokio::test]
    async fn posts_to_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap();
            sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let status = call(&format!("http://127.0.0.1:{port}/import?x=1"))
            .await
            .unwrap();
        assert_eq!(status, 204);
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /import?x=1 HTTP/1.1"), "{request}");
    }
}
