//! Shared by the server tests: an output tree in HaikuPorter's layout that a test writes and advances, a
//! server on 127.0.0.1:0 over it, and a small HTTP client (hyper) that can also read server-sent events as
//! they arrive.

#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use buildmaster::daemon::control::{DaemonStatus, Request};
use buildmaster::server::{self, AppState, Metrics, ServerConfig};

/// Every wait in these tests ends here at the latest, so a hang fails instead of stalling the suite.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// An output tree a test writes.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path().join("output")
    }

    pub fn buildrun(&self, n: u64) -> PathBuf {
        self.output().join("buildruns").join(n.to_string())
    }

    /// Writes status.json atomically (as the executor does) and lists the buildrun.
    pub fn write_status(&self, n: u64, status: &Value) {
        let dir = self.buildrun(n);
        std::fs::create_dir_all(dir.join("builds")).unwrap();
        std::fs::create_dir_all(dir.join("records")).unwrap();
        let temp = dir.join("status.json.temp");
        std::fs::write(&temp, serde_json::to_vec_pretty(status).unwrap()).unwrap();
        std::fs::rename(&temp, dir.join("status.json")).unwrap();
        let list = self.output().join("buildruns/buildruns.txt");
        let mut numbers: Vec<u64> = std::fs::read_to_string(&list)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect();
        if !numbers.contains(&n) {
            numbers.push(n);
            let text: String = numbers.iter().map(|n| format!("{n}\n")).collect();
            std::fs::write(&list, text).unwrap();
        }
        let last = numbers.iter().max().copied().unwrap_or(n);
        std::fs::write(self.output().join("buildruns/last_buildrun"), format!("{last}\n")).unwrap();
    }

    pub fn build_log(&self, n: u64, b: u64) -> PathBuf {
        self.buildrun(n).join("builds").join(format!("{b}.log"))
    }

    pub fn append_log(&self, n: u64, b: u64, text: &str) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.build_log(n, b))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    pub fn write_record(&self, n: u64, b: u64, record: &Value) {
        std::fs::write(
            self.buildrun(n).join("records").join(format!("{b}.json")),
            serde_json::to_vec(record).unwrap(),
        )
        .unwrap();
    }
}

/// A port as status.json shows it.
pub fn port(name: &str, version: &str) -> Value {
    json!({
        "name": name, "version": version, "revision": "1",
        "revisionedName": format!("{name}-{version}-1"),
        "recipeFilePath": format!("dev-libs/{name}/{name}-{version}.recipe"),
    })
}

/// A build as status.json shows it.
pub fn build(name: &str, numbers: &[u64], failure: Option<&str>) -> Value {
    json!({
        "port": port(name, "1.0"),
        "resultingPackages": [format!("{name}-1.0-1-x86_64.hpkg")],
        "requiredPackages": [], "missingPackageIDs": [], "buildable": true,
        "buildNumbers": numbers, "lost": false, "failureReason": failure,
    })
}

/// A status.json with the given lists (missing lists are empty).
pub fn status(builds: Value, builders: Value, build_status: &str, ended: bool) -> Value {
    let mut lists = json!({
        "active": [], "scheduled": [], "blocked": [], "complete": [], "failed": [], "lost": [], "skipped": []
    });
    for (key, value) in builds.as_object().unwrap() {
        lists[key] = value.clone();
    }
    let mut builder_lists = json!({"active": [], "idle": [], "lost": []});
    for (key, value) in builders.as_object().unwrap() {
        builder_lists[key] = value.clone();
    }
    json!({
        "builds": lists,
        "builders": builder_lists,
        "nextBuildNumber": 100,
        "portsTreeOriginURL": "https://github.com/haikuports/haikuports.git",
        "portsTreeHead": "0123456789abcdef0123456789abcdef01234567",
        "buildStatus": build_status,
        "startTime": 1_700_000_000.0,
        "endTime": if ended { json!(1_700_000_600.0) } else { Value::Null },
    })
}

/// A builder entry.
pub fn builder(name: &str, current: Option<(&str, u64)>) -> Value {
    json!({
        "name": name, "state": if current.is_some() { "busy" } else { "available" },
        "connectionErrors": 0, "maxConnectionErrors": 100, "lastError": null,
        "currentBuild": current.map(|(port, number)| json!({"build": build(port, &[number], None), "number": number})),
    })
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub app: AppState,
    pub control: mpsc::Receiver<Request>,
    /// The daemon's side of the status `watch`.
    pub daemon: watch::Sender<DaemonStatus>,
    pub metrics: Metrics,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts a server over `output` (and `database`), with `token` if any; streams poll every 50 ms.
    pub async fn start(output: &Path, database: Option<PathBuf>, token: Option<&str>) -> Self {
        Self::start_with_limits(output, database, token, server::ConnectionLimits::default()).await
    }

    /// [`Server::start`] with the given connection limits.
    pub async fn start_with_limits(
        output: &Path,
        database: Option<PathBuf>,
        token: Option<&str>,
        limits: server::ConnectionLimits,
    ) -> Self {
        let config = ServerConfig {
            output_dir: output.to_path_buf(),
            database,
            token: token.map(|t| server::ApiToken::new(t, "test").unwrap()),
            poll_interval: Duration::from_millis(50),
        };
        let (tx, control) = mpsc::channel(8);
        let metrics = Metrics::new();
        let (daemon, daemon_rx) = watch::channel(DaemonStatus::default());
        let app = AppState::new(config, tx, daemon_rx, metrics.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_with_limits(
            listener,
            app.clone(),
            limits,
            async move {
                let _ = shutdown_rx.await;
            },
        ));
        Self {
            addr,
            app,
            control,
            daemon,
            metrics,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Shuts down and waits for the server to return.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("server did not shut down")
                .unwrap()
                .unwrap();
        }
    }
}

/// A response, body read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request and returns the response with its body not yet read.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> hyper::Response<Incoming> {
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    tokio::time::timeout(DEADLINE, client().request(request))
        .await
        .expect("request timed out")
        .unwrap()
}

/// A request, body read.
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let response = send(method, url, headers, body).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(DEADLINE, response.into_body().collect())
        .await
        .expect("body timed out")
        .unwrap()
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str) -> Reply {
    request("GET", url, &[], "").await
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Reads server-sent events from a response as they arrive.
pub struct Events {
    body: Incoming,
    buffer: String,
    pub ended: bool,
}

impl Events {
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Self {
        let response = send("GET", url, headers, "").await;
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self {
            body: response.into_body(),
            buffer: String::new(),
            ended: false,
        }
    }

    /// The next event (comments and keep-alives skipped); `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    data: String::new(),
                    id: None,
                };
                let mut data_lines = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim_start().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data_lines.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim_start().to_string());
                    }
                }
                if data_lines.is_empty() && event.event == "message" {
                    continue; // a keep-alive comment
                }
                event.data = data_lines.join("\n");
                return Some(event);
            }
            let frame = tokio::time::timeout(DEADLINE, self.body.frame())
                .await
                .expect("no event before the deadline");
            match frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.buffer.push_str(&String::from_utf8_lossy(data));
                    }
                }
                _ => {
                    self.ended = true;
                    return None;
                }
            }
        }
    }

    /// The next event of type `name`, skipping others.
    pub async fn next_of(&mut self, name: &str) -> SseEvent {
        loop {
            let event = self
                .next()
                .await
                .unwrap_or_else(|| panic!("stream ended before a {name} event"));
            if event.event == name {
                return event;
            }
        }
    }
}
