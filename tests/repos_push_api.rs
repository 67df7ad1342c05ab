//! `POST /api/push` through the real HTTP server, storing into a real garage: without the bearer token
//! nothing is stored (401, JSON); a bad file name is a 400; with the token an RPM uploaded with `curl`
//! lands in every repository it fits, `GET /api/repositories` lists them, and real `dnf` installs it
//! from garage's web endpoint.

#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
mod server_common;
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use buildmaster::config::storage::StorageConfig;
use buildmaster::repos::config::{resolve, RepositorySection};
use buildmaster::repos::service::PushService;
use buildmaster::state::StateDir;
use rpm_tools::{dnf_install, require_tool, rpmbuild, Spec, Trust};
use server_common::{get, Server};
use support::garage::Garage;

const TOKEN: &str = "push-test-token-0123456789";

fn repositories() -> Vec<buildmaster::repos::config::Repository> {
    #[derive(serde::Deserialize)]
    struct File {
        repositories: Vec<RepositorySection>,
    }
    let text: String = ["x86_64", "aarch64"]
        .iter()
        .map(|arch| {
            format!(
                "[[repositories]]\nid = \"el/9/{arch}\"\nroot = \"rpm/el/9/{arch}\"\n\
                 [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"{arch}\"\n"
            )
        })
        .collect();
    resolve(&toml::from_str::<File>(&text).unwrap().repositories).unwrap()
}

/// `curl` posting `file` to `url`, with the token if `token`; returns (status, body).
fn curl_post(url: &str, file: &Path, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .args(["-H", "Content-Type: application/octet-stream"]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl's status line");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (code.trim().parse().unwrap(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_pushed_through_the_api_need_the_token_and_install_with_dnf() {
    require_tool("rpmbuild");
    require_tool("dnf");
    let garage = Garage::start();
    let work = tempfile::tempdir().unwrap();
    let state = StateDir::new(work.path().join("state"));
    state.create().unwrap();
    let prefix = format!("api-{:08x}", fastrand::u32(..));
    let storage = buildmaster::storage::open_config(&StorageConfig::S3(garage.s3_settings(&prefix)))
        .await
        .unwrap();
    let mut server = Server::start(&work.path().join("output"), None, Some(TOKEN)).await;
    server
        .app
        .set_push_service(Arc::new(PushService::new(state, storage, repositories())));

    let top = work.path().join("rpmbuild");
    std::fs::create_dir_all(&top).unwrap();
    let lib = rpmbuild(
        &top,
        &Spec {
            name: "bm-libgreet",
            version: "1.2",
            preamble: "",
        },
    );
    let url = server.url("/api/push?name=bm-libgreet-1.2-1.noarch.rpm&to=el/9/*");

    let (status, body) = curl_post(&url, &lib, None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = curl_post(&url, &lib, Some("wrong-token-0123456789"));
    assert_eq!(status, 401, "{body}");
    let keys = garage.raw_keys(&format!("{prefix}/")).await;
    assert!(keys.is_empty(), "stored without the token: {keys:?}");

    let bad = server.url("/api/push?name=../../etc/passwd&to=el/9/*");
    let (status, body) = curl_post(&bad, &lib, Some(TOKEN));
    assert_eq!(status, 400, "{body}");
    let unknown = server.url("/api/push?name=bm-libgreet-1.2-1.noarch.rpm&to=el/8/*");
    let (status, body) = curl_post(&unknown, &lib, Some(TOKEN));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no repository matches"),
        "{body}"
    );

    let (status, body) = curl_post(&url, &lib, Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["uploaded"],
        serde_json::json!(["bm-libgreet-1.2-1.noarch.rpm"]),
        "{body}"
    );
    assert_eq!(body["linked"].as_array().unwrap().len(), 2, "{body}");
    let listed = get(&server.url("/api/repositories")).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[0]["format"], "rpm", "{listed}");
    // The one package (noarch) is linked into both architectures.
    assert_eq!(listed[0]["packages"], 1, "{listed}");
    assert_eq!(listed[1]["packages"], 1, "{listed}");

    let dnf_work = work.path().join("dnf");
    std::fs::create_dir_all(&dnf_work).unwrap();
    let baseurl = format!("{}/{prefix}/rpm/el/9/aarch64/", garage.web_endpoint());
    let trust = Trust {
        gpgcheck: false,
        repo_gpgcheck: false,
        key: None,
    };
    let out = tokio::task::spawn_blocking(move || dnf_install(&dnf_work, &baseurl, &trust, "bm-libgreet"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "dnf:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}
