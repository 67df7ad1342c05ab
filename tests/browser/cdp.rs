//! A small Chrome DevTools Protocol client for the browser test: starts headless Chromium on a temporary
//! profile with a DevTools port chosen by the browser, attaches to one page (flattened session) and sends
//! commands over the WebSocket. Only what the test needs: evaluate JavaScript, navigate, screenshot.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long Chromium may take to print its DevTools address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The Chromium binary: `$BUILDMASTER_CHROMIUM`, else the first of the usual names on `PATH`.
pub fn find_chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("BUILDMASTER_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the browser test needs Chromium and none was found (BUILDMASTER_CHROMIUM, or chromium on PATH); \
         install it with `bash scripts/install-test-tools.sh` (Debian: apt-get install -y chromium)"
    );
}

/// A running headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    session: String,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium (`width` × `height` viewport) and opens one blank page.
    pub async fn launch(binary: &Path, width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                // The test machine runs as root, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Read stderr for the DevTools address, then keep draining it so Chromium never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let started = Instant::now();
        let mut seen = Vec::new();
        let ws_url = loop {
            let remaining = STARTUP_TIMEOUT.saturating_sub(started.elapsed());
            match rx.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(at) = line.find("ws://") {
                        break line[at..].trim().to_string();
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    panic!(
                        "Chromium ({}) did not print its DevTools address within {STARTUP_TIMEOUT:?} (exit: \
                         {status:?}); its stderr:\n{}",
                        binary.display(),
                        seen.join("\n")
                    );
                }
            }
        };
        let (socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("connecting to Chromium's DevTools at {ws_url}: {e}"));
        let mut browser = Self {
            child,
            _profile: profile,
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = browser
            .call_browser("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser
            .call_browser(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.call("Page.enable", json!({})).await;
        browser.call("Runtime.enable", json!({})).await;
        browser
    }

    async fn send(&mut self, session: Option<String>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("DevTools command {method} got no answer within {COMMAND_TIMEOUT:?}")
                });
            let Some(Ok(Message::Text(text))) = next else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"].as_u64() != Some(id) {
                continue; // an event, or another command's answer
            }
            if let Some(error) = reply.get("error") {
                panic!("DevTools command {method} failed: {error}");
            }
            return reply["result"].clone();
        }
    }

    async fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(None, method, params).await
    }

    /// Sends a command to the page.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(session), method, params).await
    }

    /// Navigates the page to `url`.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// Evaluates `expression` in the page and returns its value (promises awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(details) = result.get("exceptionDetails") {
            panic!("JavaScript {expression:?} threw: {details}");
        }
        result["result"]["value"].clone()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}
