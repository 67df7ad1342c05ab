//! A gated instance served by the real HTTP server, for tests/gate_tokens.rs and tests/browser_ui.rs:
//! garage holds the served bucket (website access) and a private staging bucket, three Debian suites
//! (`debian/stable`, `debian/testing`, and `debian/manual`, promoted by hand) share one apt root, and each suite's test command is a script
//! that sleeps a little (so that a pipeline can be watched in `checking`) and fails for packages whose
//! name contains `broken`. Packages are pushed with `curl` through `POST /api/push`.
//!
//! Include with `#[path = "support/gated_server.rs"] mod gated_server;` beside `mod support;`,
//! `mod server_common;` and `#[path = "support/debian_tools.rs"] mod debian_tools;`.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use buildmaster::config::instance::InstanceConfig;
use buildmaster::config::storage::StorageConfig;
use buildmaster::repos::service::PushService;
use buildmaster::state::StateDir;

use crate::debian_tools::build_deb;
use crate::server_common::Server;
use crate::support::garage::Garage;

/// A gated instance and its server.
pub struct GatedServer {
    /// The server, its push service gated.
    pub server: Server,
    /// Everything on disk: `state/`, the storage JSONs, the test script, built packages.
    pub work: tempfile::TempDir,
    /// The served bucket's key prefix.
    pub prefix: String,
    /// The staging bucket.
    pub staging_bucket: String,
}

impl GatedServer {
    /// Starts a server over a new gated instance in `garage`; `admin` is the admin token, if any, and
    /// each package's test command sleeps `test_seconds` first.
    pub async fn start(garage: &Garage, admin: Option<&str>, test_seconds: f64) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("gated-{:08x}", fastrand::u32(..));
        let staging_bucket = format!("staging-{:08x}", fastrand::u32(..));
        garage.create_private_bucket(&staging_bucket);
        let staging_json = garage.storage_json(&prefix).replace(
            &format!("\"bucket_name\": \"{}\"", garage.bucket()),
            &format!("\"bucket_name\": \"{staging_bucket}\""),
        );
        assert!(staging_json.contains(&staging_bucket), "{staging_json}");
        std::fs::write(work.path().join("staging.json"), staging_json).unwrap();
        let script = work.path().join("package-tests");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"testing $BUILDMASTER_PACKAGE_NAME $BUILDMASTER_PACKAGE_VERSION\"\n\
                 sleep {test_seconds}\n\
                 case \"$BUILDMASTER_PACKAGE_NAME\" in *broken*) echo 'test_greeting: FAILED'; exit 1;; esac\n\
                 echo 'test_greeting: ok'\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let arch = crate::debian_tools::host_architecture();
        let mut config = format!(
            "[gate]\nstaging = \"{}\"\nmanual_promotion = [\"debian/manual\"]\n\n",
            work.path().join("staging.json").display()
        );
        for suite in ["stable", "testing", "manual"] {
            config += &format!(
                "[[repositories]]\nid = \"debian/{suite}\"\nroot = \"apt\"\n\
                 [repositories.debian]\ncodename = \"{suite}\"\narchitectures = [\"{arch}\"]\n\
                 [repositories.policy.test]\ncommand = [\"{}\", \"{{file}}\"]\n\n",
                script.display()
            );
        }
        let state = StateDir::new(work.path().join("state"));
        state.create().unwrap();
        let config_path = state.root().join("buildmaster.toml");
        std::fs::write(&config_path, config).unwrap();
        let config = InstanceConfig::load(&config_path).unwrap();
        let repositories = buildmaster::repos::config::resolve(&config.repositories).unwrap();
        let storage = buildmaster::storage::open_config(&StorageConfig::S3(garage.s3_settings(&prefix)))
            .await
            .unwrap();
        let service = PushService::open(state.clone(), storage, repositories, &config)
            .await
            .unwrap();
        assert!(service.gated());
        let server = Server::start(&work.path().join("output"), None, admin).await;
        server.app.set_push_service(Arc::new(service));
        server
            .app
            .set_tokens_file(config.serve.tokens_file_in(state.root()));
        Self {
            server,
            work,
            prefix,
            staging_bucket,
        }
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    /// `buildmaster --state-dir <state> ARGS…`: (exit status, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_buildmaster"))
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_STATE_DIR")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A `.deb` of `name` `version` (architecture all, no dependencies), in a directory of its own.
    pub fn deb(&self, name: &str, version: &str) -> PathBuf {
        let dir = self.work.path().join(format!("debs/{name}-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        build_deb(
            &dir,
            &format!(
                "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
                 Section: misc\nPriority: optional\nDescription: a gated API test package\n For buildmaster.\n"
            ),
            "gzip",
        )
    }

    /// `POST /api/push?name=<file name>&to=<to>[&wait=false]` with `file` as the body (curl), the bearer
    /// `token` if any: (status, JSON body).
    pub fn push(&self, file: &Path, to: &str, token: Option<&str>, wait: bool) -> (u16, serde_json::Value) {
        let name = file.file_name().unwrap().to_str().unwrap();
        let mut url = self.server.url(&format!("/api/push?name={name}&to={to}"));
        if !wait {
            url += "&wait=false";
        }
        curl(&url, Some(file), None, token)
    }
}

/// `curl` POSTing `file` (or the JSON `json`) to `url`, with the bearer `token` if any:
/// (status, JSON body).
pub fn curl(
    url: &str,
    file: Option<&Path>,
    json: Option<&str>,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"]);
    if let Some(file) = file {
        cmd.arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .args(["-H", "Content-Type: application/octet-stream"]);
    }
    if let Some(json) = json {
        cmd.args(["--data-binary", json, "-H", "Content-Type: application/json"]);
    }
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl's status line");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (code.trim().parse().unwrap(), json)
}
