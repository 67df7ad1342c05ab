//! A real single-node garage S3 server on 127.0.0.1 for the storage tests.
//!
//! [`Garage::start`] runs the recipe of `docs/test-infra.md` in a fresh temporary directory: a config
//! with four free loopback ports, `garage server`, a one-node layout, fixed test credentials allowed
//! to create buckets, the bucket `packages` with website access, and the alias `localhost` so the web
//! endpoint serves it; then it waits until S3 answers. [`Garage::shared`] is one such server per test
//! process, for tests that only need a bucket (they isolate themselves with key prefixes).
//!
//! garage runs under a tiny watchdog shell that kills it (and removes the shared instance's data) once
//! the test process is gone, so even the `static` shared server — which is never dropped — does not
//! outlive the tests. Owned servers are killed on `Drop`.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use buildmaster_storage_s3::aws_sdk_s3;
use buildmaster_storage_s3::S3Settings;

/// The test key's id (garage ids are `GK` + 24 hex digits). Fixed: it only exists inside these
/// throw-away servers on 127.0.0.1.
pub const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
/// The test key's secret (64 hex digits).
pub const SECRET_KEY: &str = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1";
/// The bucket every test server has.
pub const BUCKET: &str = "packages";
/// The region garage is configured with (`s3_region`).
pub const REGION: &str = "us-east-1";
/// Cluster secret for garage's RPC (64 hex digits; loopback only).
const RPC_SECRET: &str = "4f2d6c8e0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d";
/// Admin API token (loopback only).
const ADMIN_TOKEN: &str = "buildmaster-test-admin-token";
/// How long a starting garage may take until S3 answers (it needs ~0.5 s on a quiet machine; the
/// tests run in parallel with builds, so allow for a loaded one).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts at starting a server, in case another process grabbed one of the free ports we picked.
const START_ATTEMPTS: usize = 3;
/// Where `.ci/run` (scripts/install-test-tools.sh) installs garage, under `$HOME`.
const CACHED_BIN: &str = ".cache/buildmaster-test-tools/bin/garage";

/// The four loopback ports of one server.
#[derive(Clone, Copy, Debug)]
struct Ports {
    rpc: u16,
    s3: u16,
    web: u16,
    admin: u16,
}

/// A running (or stopped) garage server.
pub struct Garage {
    /// The garage binary.
    bin: PathBuf,
    /// Holds `garage.toml`, `meta/`, `data/`, `garage.log`; removed on drop (the shared instance's by
    /// its watchdog).
    dir: tempfile::TempDir,
    /// The server's ports, kept across [`Garage::restart`].
    ports: Ports,
    /// The watchdog shell and garage's pid while running; `None` while stopped.
    running: Mutex<Option<Running>>,
}

/// A live server: the watchdog shell (our child) and garage (its child).
struct Running {
    watchdog: Child,
    garage_pid: u32,
}

impl Garage {
    /// Starts a server of its own for the calling test; it is killed when the value is dropped.
    pub fn start() -> Garage {
        let bin = garage_bin();
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&bin) {
                Ok(garage) => return garage,
                Err(err) => last_error = err,
            }
        }
        panic!("could not start garage ({}): {last_error}", bin.display());
    }

    /// The server shared by every test of this process (started on first use, never stopped).
    pub fn shared() -> &'static Garage {
        static SHARED: OnceLock<Garage> = OnceLock::new();
        SHARED.get_or_init(Garage::start)
    }

    fn try_start(bin: &Path) -> Result<Garage, String> {
        let dir = tempfile::Builder::new()
            .prefix("buildmaster-garage-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let ports = Ports {
            rpc: free_port(),
            s3: free_port(),
            web: free_port(),
            admin: free_port(),
        };
        std::fs::write(dir.path().join("garage.toml"), config(dir.path(), ports))
            .map_err(|e| format!("writing garage.toml: {e}"))?;
        let garage = Garage {
            bin: bin.to_owned(),
            dir,
            ports,
            running: Mutex::new(None),
        };
        garage.launch()?;
        garage.initialise()?;
        garage.wait_for_s3()?;
        Ok(garage)
    }

    /// Kills the server (SIGKILL, like a crash or an outage); its data directory is kept.
    pub fn stop(&self) {
        if let Some(mut running) = self.running.lock().unwrap().take() {
            let _ = Command::new("kill")
                .args(["-KILL", &running.garage_pid.to_string()])
                .status();
            let _ = running.watchdog.kill();
            let _ = running.watchdog.wait();
        }
    }

    /// Starts the server again on the same data directory and ports, and waits until S3 answers.
    pub fn restart(&self) {
        self.stop();
        self.launch().expect("restarting garage");
        self.wait_for_s3()
            .expect("garage did not come back after restart");
    }

    /// `http://127.0.0.1:<s3 port>`.
    pub fn s3_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.s3)
    }

    /// `http://localhost:<web port>`: anonymous reads of the `packages` bucket (through its alias
    /// `localhost`), as package clients do them.
    pub fn web_endpoint(&self) -> String {
        format!("http://localhost:{}", self.ports.web)
    }

    /// How many S3 requests of `endpoint` (`PutObject`, `UploadPart`, `CreateMultipartUpload`, …) this
    /// server has answered since it started: garage's own counter, read from its admin `/metrics` (open
    /// without a token when none is configured).
    #[allow(dead_code)]
    pub fn s3_requests(&self, endpoint: &str) -> u64 {
        use std::io::{Read as _, Write as _};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.ports.admin)).expect("garage admin port");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("asking garage for its metrics");
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .expect("reading garage's metrics");
        let wanted = format!("api_s3_request_counter{{api_endpoint=\"{endpoint}\"}}");
        text.lines()
            .filter_map(|line| line.strip_prefix(&wanted))
            .filter_map(|rest| rest.trim().parse::<f64>().ok())
            .map(|n| n as u64)
            .sum()
    }

    /// HaikuPorter's storage JSON for this server's bucket under `prefix`, as an operator writes it
    /// (`STORAGE_BACKEND_CONFIG`).
    #[allow(dead_code)]
    pub fn storage_json(&self, prefix: &str) -> String {
        format!(
            r#"{{"backend_type": "s3", "endpoint_url": "{}", "region_name": "{REGION}",
                "access_key_id": "{ACCESS_KEY}", "secret_access_key": "{SECRET_KEY}", "bucket_name": "{BUCKET}",
                "prefix": "{prefix}"}}"#,
            self.s3_endpoint()
        )
    }

    /// [`Garage::storage_json`] for bucket `bucket` instead of `packages` (a staging bucket).
    #[allow(dead_code)]
    pub fn storage_json_in(&self, bucket: &str, prefix: &str) -> String {
        self.storage_json(prefix).replace(
            &format!("\"bucket_name\": \"{BUCKET}\""),
            &format!("\"bucket_name\": \"{bucket}\""),
        )
    }

    /// The test key's id.
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// The test key's secret.
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// The bucket every test server has.
    pub fn bucket(&self) -> &'static str {
        BUCKET
    }

    /// Settings for the `packages` bucket under `prefix`, with small transfer sizes so that modest test
    /// bodies exercise multipart uploads and ranged downloads (callers may change any field).
    pub fn s3_settings(&self, prefix: &str) -> S3Settings {
        let mut settings = S3Settings::new(BUCKET);
        settings.endpoint_url = Some(self.s3_endpoint());
        settings.region_name = Some(REGION.to_owned());
        settings.access_key_id = Some(ACCESS_KEY.to_owned());
        settings.secret_access_key = Some(buildmaster_storage_s3::Secret::new(SECRET_KEY));
        settings.prefix = prefix.to_owned();
        settings.multipart_threshold = 8 << 20;
        settings.part_size = buildmaster_storage_s3::settings::MIN_PART_SIZE;
        settings.parts_in_flight = 2;
        settings
    }

    /// A raw SDK client for this server (for checks the backend API does not offer). Built per call:
    /// an SDK client's pooled connections belong to the tokio runtime that opened them, and every
    /// `#[tokio::test]` has its own runtime.
    pub fn sdk_client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(self.s3_endpoint())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                ACCESS_KEY,
                SECRET_KEY,
                None,
                None,
                "garage-test",
            ))
            .force_path_style(true)
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Every raw key in the bucket under the full key prefix `prefix` (including the backend's reserved
    /// upload directory, which its own `list` hides).
    pub async fn raw_keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .sdk_client()
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// Multipart uploads begun and neither completed nor aborted under the full key prefix `prefix`,
    /// as `key (upload id)`.
    pub async fn unfinished_multipart_uploads(&self, prefix: &str) -> Vec<String> {
        let client = self.sdk_client();
        let mut found = Vec::new();
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let page = client
                .list_multipart_uploads()
                .bucket(BUCKET)
                .prefix(prefix)
                .set_key_marker(key_marker)
                .set_upload_id_marker(id_marker)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "ListMultipartUploads: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )
                });
            for upload in page.uploads() {
                found.push(format!(
                    "{} ({})",
                    upload.key().unwrap_or_default(),
                    upload.upload_id().unwrap_or_default()
                ));
            }
            if page.is_truncated() != Some(true) {
                return found;
            }
            key_marker = page.next_key_marker;
            id_marker = page.next_upload_id_marker;
        }
    }

    /// Creates bucket `name` owned by the test key (read, write, owner, like `packages`) but *without*
    /// website access: the web endpoint does not serve it, whatever the Host header says. What a
    /// staging bucket is: writable by buildmaster, unreachable by package clients.
    pub fn create_private_bucket(&self, name: &str) {
        self.cli(&["bucket", "create", name])
            .and_then(|_| {
                self.cli(&[
                    "bucket", "allow", "--read", "--write", "--owner", name, "--key", "test",
                ])
            })
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}"));
    }

    /// Opens bucket `name` to anonymous reads on the web endpoint (Host: `name`), as `packages` is.
    pub fn allow_website(&self, name: &str) {
        self.cli(&["bucket", "website", "--allow", name])
            .unwrap_or_else(|e| panic!("allowing website access to {name}: {e}"));
    }

    /// [`Garage::s3_settings`] for bucket `bucket` instead of `packages`.
    pub fn s3_settings_in(&self, bucket: &str, prefix: &str) -> S3Settings {
        let mut settings = self.s3_settings(prefix);
        settings.bucket_name = bucket.to_owned();
        settings
    }

    /// An anonymous `GET path` on the web endpoint with `Host: host` (a bucket name or alias, e.g.
    /// `localhost` for `packages`), as package clients send it: the status code and the body.
    pub fn web_get(&self, host: &str, path: &str) -> (u16, Vec<u8>) {
        use std::io::{Read as _, Write as _};
        let mut stream = TcpStream::connect(("127.0.0.1", self.ports.web)).expect("garage web port");
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {host}:{}\r\n\r\n",
            self.ports.web
        )
        .expect("sending a web request to garage");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("reading garage's web answer");
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(response.len());
        let status = String::from_utf8_lossy(&response[..split])
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response.get(split + 4..).unwrap_or_default().to_vec();
        (status, body)
    }

    /// Starts `garage server` under its watchdog.
    fn launch(&self) -> Result<(), String> {
        let dir = self.dir.path();
        let pid_file = dir.join("garage.pid");
        let _ = std::fs::remove_file(&pid_file);
        // The watchdog: start garage, record its pid, and once the test process has gone kill garage
        // and remove the directory. garage is the shell's child, so its pid cannot be reused by an
        // unrelated process before the shell reaps it.
        let script = r#"
            "$1" -c "$2/garage.toml" server >>"$2/garage.log" 2>&1 &
            g=$!
            echo "$g" >"$2/garage.pid"
            while kill -0 "$3" 2>/dev/null; do sleep 0.5; done
            kill -KILL "$g" 2>/dev/null
            wait "$g"
            rm -rf "$2"
        "#;
        let watchdog = Command::new("sh")
            .args(["-c", script, "garage-watchdog"])
            .arg(&self.bin)
            .arg(dir)
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            // The shell's own job notices ("Killed") are noise; garage's output goes to garage.log.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning sh: {e}"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        let garage_pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                break pid;
            }
            if Instant::now() > deadline {
                return Err("garage did not start (no pid file)".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        *self.running.lock().unwrap() = Some(Running { watchdog, garage_pid });
        self.wait_for_port(self.ports.s3)
    }

    fn wait_for_port(&self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || !self.garage_alive() {
                return Err(format!(
                    "garage is not listening on port {port}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn garage_alive(&self) -> bool {
        match &*self.running.lock().unwrap() {
            // garage stays a zombie (its watchdog has not reaped it), so look at the state, not existence.
            Some(running) => std::fs::read_to_string(format!("/proc/{}/stat", running.garage_pid))
                .map(|stat| {
                    !stat
                        .rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('Z'))
                })
                .unwrap_or(false),
            None => false,
        }
    }

    /// Layout, key, bucket, permissions, website access and alias (test-infra.md).
    fn initialise(&self) -> Result<(), String> {
        let node = self.cli_retrying(&["node", "id", "-q"])?;
        let node = node.trim().split('@').next().unwrap_or_default().to_owned();
        self.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node])?;
        self.cli(&["layout", "apply", "--version", "1"])?;
        self.cli(&["key", "import", "--yes", "-n", "test", ACCESS_KEY, SECRET_KEY])?;
        self.cli(&["key", "allow", "--create-bucket", "test"])?;
        self.cli(&["bucket", "create", BUCKET])?;
        self.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "test",
        ])?;
        self.cli(&["bucket", "website", "--allow", BUCKET])?;
        self.cli(&["bucket", "alias", BUCKET, "localhost"])?;
        Ok(())
    }

    /// Runs a garage CLI command against this server; its stdout, or an error with its stderr.
    fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running garage {args:?}: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "garage {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// [`Garage::cli`], retried while the freshly started node's RPC comes up.
    fn cli_retrying(&self, args: &[&str]) -> Result<String, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.cli(args) {
                Ok(out) => return Ok(out),
                Err(err) if Instant::now() > deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Waits until an authenticated S3 request on the bucket succeeds. Runs on a thread of its own
    /// with its own runtime, because callers may be inside a (current-thread) tokio runtime.
    fn wait_for_s3(&self) -> Result<(), String> {
        let client = self.sdk_client();
        let deadline = Instant::now() + START_TIMEOUT;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    runtime.block_on(async {
                        loop {
                            match client.list_objects_v2().bucket(BUCKET).max_keys(1).send().await {
                                Ok(_) => return Ok(()),
                                Err(err) if Instant::now() > deadline => {
                                    return Err(format!(
                                        "S3 does not answer: {}; log:\n{}",
                                        aws_sdk_s3::error::DisplayErrorContext(err),
                                        self.log()
                                    ))
                                }
                                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                            }
                        }
                    })
                })
                .join()
                .map_err(|_| "S3 readiness check panicked".to_owned())?
        })
    }

    /// The tail of garage's log, for failure messages.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        log[log.ceil_char_boundary(start)..].to_owned()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The garage binary: `$GARAGE_BIN`, else the CI cache, else `garage` on `PATH`.
fn garage_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GARAGE_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "GARAGE_BIN={} does not exist", bin.display());
        return bin;
    }
    if let Some(home) = std::env::var_os("HOME") {
        let cached = Path::new(&home).join(CACHED_BIN);
        if cached.is_file() {
            return cached;
        }
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("garage"))
        .find(|candidate| candidate.is_file())
    {
        return found;
    }
    panic!(
        "the garage S3 server is needed by the storage tests and was not found (GARAGE_BIN, \
         ~/{CACHED_BIN}, PATH): run .ci/run or scripts/install-test-tools.sh, which install garage 2.5.0 \
         into ~/.cache/buildmaster-test-tools (once, ~11 minutes)"
    );
}

/// A port that is free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0")
}

/// garage.toml for a single node on loopback (test-infra.md).
fn config(dir: &Path, ports: Ports) -> String {
    let dir = dir.display();
    format!(
        r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{RPC_SECRET}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.test"

[s3_web]
bind_addr = "127.0.0.1:{web}"
root_domain = ".web.test"
index = "index.html"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{ADMIN_TOKEN}"
"#,
        rpc = ports.rpc,
        s3 = ports.s3,
        web = ports.web,
        admin = ports.admin,
    )
}
