//! Every error answer is the documented JSON `{"error": "…"}` with `Content-Type: application/json`,
//! including those the framework makes before a handler runs (a query or path that does not parse, a
//! method a route does not take, an unknown route) and the request-head limits of docs/api.md (a
//! request target over 8 KiB: 414; header fields over 32 KiB: 431), and the one documented exception
//! (beyond hyper's own bounds, its bare 431). Each request goes over raw TCP, as a client would send
//! it, so nothing in a client library shapes or refuses it first.

mod server_common;

use std::net::SocketAddr;

use buildmaster::server::request_limits::{MAX_HEADER_BYTES, MAX_URI_BYTES};
use server_common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const TOKEN: &str = "error-json-test-token";

/// A response read off the wire.
struct RawReply {
    status: u16,
    /// Header names lowercased, in the order received.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (request line and header fields, without the blank line) and `body` with
/// `Connection: close`, and reads the answer until the server closes.
async fn raw(addr: SocketAddr, head: &str, body: &str) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut got))
        .await
        .expect("no answer before the deadline")
        .unwrap();
    parse(&got)
}

fn parse(bytes: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    RawReply {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// Asserts `reply` is a `status` in the documented shape and returns its message.
fn assert_json_error(what: &str, reply: &RawReply, status: u16) -> String {
    let body = String::from_utf8_lossy(&reply.body);
    assert_eq!(reply.status, status, "{what}: status (body {body:?})");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}: content type (body {body:?})"
    );
    let json: serde_json::Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {body:?}"));
    let object = json.as_object().expect("a JSON object");
    assert_eq!(object.len(), 1, "{what}: only \"error\": {json}");
    let message = json["error"].as_str().expect("\"error\" is a string");
    assert!(!message.is_empty(), "{what}: an empty message");
    message.to_owned()
}

async fn start() -> (Tree, Server) {
    let tree = Tree::new();
    let server = Server::start(&tree.output(), None, Some(TOKEN)).await;
    (tree, server)
}

#[tokio::test]
async fn extractor_rejections_are_json_400s() {
    let (_tree, mut server) = start().await;
    let query = raw(server.addr, "GET /api/buildruns?limit=many HTTP/1.1", "").await;
    let message = assert_json_error("a query that does not parse", &query, 400);
    assert!(message.contains("limit"), "names the parameter: {message}");

    let logs = raw(
        server.addr,
        "GET /api/buildruns/1/master.log?offset=-3 HTTP/1.1",
        "",
    )
    .await;
    assert_json_error("a log query that does not parse", &logs, 400);

    // Not UTF-8 after percent-decoding: refused by the path extractor before our validation runs.
    let path = raw(server.addr, "GET /api/buildruns/%FF HTTP/1.1", "").await;
    assert_json_error("a path that does not decode", &path, 400);

    let bearer = format!("Authorization: Bearer {TOKEN}");
    let body = raw(
        server.addr,
        &format!("POST /api/buildruns HTTP/1.1\r\n{bearer}\r\nContent-Type: application/json"),
        "{not json",
    )
    .await;
    assert_json_error("a body that does not parse", &body, 400);
    server.stop().await;
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_are_json() {
    let (_tree, mut server) = start().await;
    let reply = raw(server.addr, "DELETE /api/buildruns HTTP/1.1", "").await;
    assert_json_error("a method the route does not take", &reply, 405);
    let allow = reply.header("allow").expect("a 405 keeps its Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    let reply = raw(server.addr, "POST /healthz HTTP/1.1", "").await;
    assert_json_error("POST to a GET endpoint", &reply, 405);

    let reply = raw(server.addr, "GET /api/nothing-here HTTP/1.1", "").await;
    assert_json_error("an unknown route", &reply, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_request_target_over_the_limit_is_a_json_414() {
    let (_tree, mut server) = start().await;
    let long = format!("/api/packages?q={}", "a".repeat(MAX_URI_BYTES));
    let reply = raw(server.addr, &format!("GET {long} HTTP/1.1"), "").await;
    let message = assert_json_error("a request target over the limit", &reply, 414);
    assert!(
        message.contains(&MAX_URI_BYTES.to_string()),
        "names the limit: {message}"
    );
    assert!(
        !message.contains("aaaaaaaa"),
        "does not echo the target: {message}"
    );

    // At the limit it reaches the handler (which refuses the overlong search text itself).
    let prefix = "/api/packages?q=";
    let at_limit = format!("{prefix}{}", "a".repeat(MAX_URI_BYTES - prefix.len()));
    let reply = raw(server.addr, &format!("GET {at_limit} HTTP/1.1"), "").await;
    assert_json_error("a request target at the limit", &reply, 400);
    server.stop().await;
}

#[tokio::test]
async fn header_fields_over_the_limit_are_a_json_431() {
    let (_tree, mut server) = start().await;
    // 40 fields of 1 KiB: over our 32 KiB, under hyper's buffer and its 100-field cap.
    let value = "v".repeat(1024);
    let fields: Vec<String> = (0..40).map(|i| format!("X-Filler-{i}: {value}")).collect();
    let head = format!("GET /healthz HTTP/1.1\r\n{}", fields.join("\r\n"));
    let reply = raw(server.addr, &head, "").await;
    let message = assert_json_error("header fields over the limit", &reply, 431);
    assert!(
        message.contains(&MAX_HEADER_BYTES.to_string()),
        "names the limit: {message}"
    );

    // Just under the limit: served.
    let fields: Vec<String> = (0..28).map(|i| format!("X-Filler-{i}: {value}")).collect();
    let head = format!("GET /healthz HTTP/1.1\r\n{}", fields.join("\r\n"));
    let reply = raw(server.addr, &head, "").await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    server.stop().await;
}

#[tokio::test]
async fn beyond_hypers_own_bounds_the_documented_bare_431_remains() {
    // docs/api.md: more than 100 header fields never reach the API; hyper answers 431 without a body.
    let (_tree, mut server) = start().await;
    let fields: Vec<String> = (0..100).map(|i| format!("X-F{i}: v")).collect();
    let head = format!("GET /healthz HTTP/1.1\r\n{}", fields.join("\r\n"));
    let reply = raw(server.addr, &head, "").await;
    assert_eq!(reply.status, 431);
    assert!(
        reply.body.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    server.stop().await;
}
