//! Named API tokens against the real server of a gated instance in real garage (issue 15, acceptance 6),
//! and pipelines read through the API while their checks run:
//! - `buildmaster token add` prints a secret once; the tokens file and `token list` never hold it;
//! - a token scoped to `debian/stable` cannot push to `debian/testing` (403 naming both, nothing staged),
//!   nor waive, nor steer the daemon (403);
//! - its push with `wait=false` answers 202 with the pipeline, which `GET /api/pipelines/N` shows
//!   `checking` with its test running — answered at once although the push holds the publish lock —
//!   and then `promoted`, pushed by `api:<name>`;
//! - a token with the waive right waives a failing test in its repository (bad fields are 400 naming
//!   the field; a repository outside its scope is 403) and the pipeline is promoted;
//! - into `debian/manual` (`[gate] manual_promotion`) a green pipeline waits, `green`, until a token
//!   with the promote right in that repository asks (403 without the right or outside its scope, 409
//!   for a red pipeline); the request and the promotion it triggers are audited;
//! - the audit log names the token for every push, waiver and promotion (`triggered by api:<name>`);
//! - a revoked token is refused (401) on the very next request, without a restart;
//! - the server's shutdown waits for a push answered early to finish its checks.

#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
#[path = "support/gated_server.rs"]
mod gated_server;
mod server_common;
mod support;

use std::time::{Duration, Instant};

use gated_server::{curl, GatedServer};
use serde_json::{json, Value};
use server_common::{get, request, DEADLINE};
use support::garage::Garage;

const ADMIN: &str = "gate-tokens-admin-0123456789";
/// How long each package's test command sleeps: long enough to read its pipeline while it runs.
const TEST_SECONDS: f64 = 4.0;

/// `buildmaster token add …`'s secret (its only stdout line).
fn add_token(gated: &GatedServer, args: &[&str]) -> String {
    let mut all = vec!["token", "add"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = gated.cli(&all);
    assert_eq!(code, 0, "token add: {stdout}{stderr}");
    let secret = stdout.trim().to_string();
    assert!(secret.starts_with("bm_") && secret.len() > 60, "{stdout}");
    secret
}

async fn pipeline(gated: &GatedServer, id: i64) -> Value {
    let reply = get(&gated.server.url(&format!("/api/pipelines/{id}"))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// Polls pipeline `id` until it leaves `checking`.
async fn finished(gated: &GatedServer, id: i64) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let p = pipeline(gated, id).await;
        if p["state"] != "checking" {
            return p;
        }
        assert!(Instant::now() < deadline, "pipeline {id} still checking: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_tokens_are_scoped_audited_and_revoked_at_once() {
    debian_tools::require_tool("dpkg-deb");
    let garage = Garage::start();
    let mut gated = GatedServer::start(&garage, Some(ADMIN), TEST_SECONDS).await;

    let pusher = add_token(
        &gated,
        &["ci-stable", "--repositories", "debian/stable", "--push"],
    );
    let waiver = add_token(
        &gated,
        &["release-manager", "--repositories", "debian/stable", "--waive"],
    );
    let tokens_file = std::fs::read_to_string(gated.state().join("api-tokens.toml")).unwrap();
    let (_, listed, _) = gated.cli(&["token", "list"]);
    for secret in [&pusher, &waiver] {
        assert!(
            !tokens_file.contains(secret.as_str()),
            "the file holds a secret:\n{tokens_file}"
        );
        assert!(
            !listed.contains(secret.as_str()),
            "token list shows a secret:\n{listed}"
        );
    }
    assert!(
        listed.contains("ci-stable\trepositories: debian/stable\trights: push"),
        "{listed}"
    );

    // Out of scope: 403 naming the token and the repository, before anything is staged.
    let hello = gated.deb("bm-hello", "1.0");
    let (status, body) = gated.push(&hello, "debian/testing", Some(&pusher), true);
    assert_eq!(status, 403, "{body}");
    assert!(
        error_of(&body).contains("ci-stable") && error_of(&body).contains("debian/testing"),
        "{body}"
    );
    let (status, body) = gated.push(&hello, "debian/*", Some(&pusher), true);
    assert_eq!(status, 403, "a glob reaching an unscoped repository: {body}");
    let staged = garage.sdk_client();
    let listed = staged
        .list_objects_v2()
        .bucket(&gated.staging_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.key_count(),
        Some(0),
        "staged without the right: {listed:?}"
    );
    // Neither waive nor steer the daemon.
    let waive_url = gated.server.url("/api/waivers");
    let waive_body = r#"{"repository": "debian/stable", "package": "bm-hello", "check": "test", "reason": "r", "hours": 1}"#;
    let (status, body) = curl(&waive_url, None, Some(waive_body), Some(&pusher));
    assert_eq!(status, 403, "{body}");
    assert!(
        error_of(&body).contains("ci-stable") && error_of(&body).contains("waive"),
        "{body}"
    );
    let pause = request(
        "POST",
        &gated.server.url("/api/pause"),
        &[("authorization", &format!("Bearer {pusher}"))],
        "",
    )
    .await;
    assert_eq!(pause.status, 403, "{}", pause.text());
    // The waiver token may not push.
    let (status, body) = gated.push(&hello, "debian/stable", Some(&waiver), true);
    assert_eq!(status, 403, "{body}");
    assert!(error_of(&body).contains("push"), "{body}");

    // In scope, without waiting: 202 with the pipeline as soon as it exists.
    let started = Instant::now();
    let (status, body) = gated.push(&hello, "debian/stable", Some(&pusher), false);
    assert_eq!(status, 202, "{body}");
    let id = body["pipeline"].as_i64().unwrap();
    assert_eq!(body["href"], format!("/api/pipelines/{id}"));
    let answered = started.elapsed();
    assert!(
        answered < Duration::from_secs_f64(TEST_SECONDS),
        "202 only after the checks: {answered:?}"
    );
    // Read while the test runs and the push holds the publish lock: at once, `checking`, test pending.
    let read = Instant::now();
    let running = pipeline(&gated, id).await;
    let read = read.elapsed();
    assert!(read < Duration::from_secs(2), "the read waited {read:?}");
    eprintln!("wait=false push: 202 after {answered:?}; its pipeline read during the checks in {read:?}");
    assert_eq!(running["state"], "checking", "{running}");
    assert_eq!(running["who"], "api:ci-stable", "{running}");
    let test = running["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "test")
        .cloned()
        .unwrap_or_else(|| panic!("no test check while running: {running}"));
    assert_eq!(test["status"], "pending", "{running}");
    let listed = get(&gated.server.url("/api/pipelines")).await.json();
    assert_eq!(listed[0]["id"], id, "{listed}");
    let done = finished(&gated, id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    let test = done["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "test")
        .unwrap();
    assert_eq!(test["status"], "passed", "{done}");
    assert!(
        test["log"].as_str().unwrap().contains("testing bm-hello 1.0"),
        "{done}"
    );
    let listed = get(&gated.server.url("/api/pipelines?limit=5")).await.json();
    assert_eq!(
        listed[0]["checks"][0]["log"], "",
        "logs are left out of the list: {listed}"
    );

    // A failing test keeps a package staged; the waiver token lets it through.
    let broken = gated.deb("bm-broken", "1.0");
    let (status, body) = gated.push(&broken, "debian/stable", Some(&pusher), true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pipeline"]["state"], "red", "{body}");
    let red = body["pipeline"]["id"].as_i64().unwrap();
    for (bad, field) in [
        (
            r#"{"repository": "debian/stable", "package": "bm-broken", "check": "tests", "reason": "r", "hours": 1}"#,
            "check",
        ),
        (
            r#"{"repository": "debian/stable", "package": "bm-broken", "check": "test", "reason": "", "hours": 1}"#,
            "reason",
        ),
        (
            r#"{"repository": "debian/stable", "package": "bm-broken", "check": "test", "reason": "r", "hours": 0}"#,
            "hours",
        ),
        (
            r#"{"repository": "debian/stable", "check": "test", "reason": "r", "hours": 1}"#,
            "package",
        ),
        (
            r#"{"package": "bm-broken", "check": "test", "reason": "r", "hours": 1}"#,
            "repository",
        ),
    ] {
        let (status, body) = curl(&waive_url, None, Some(bad), Some(&waiver));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(error_of(&body).starts_with(field), "{bad}: {body}");
    }
    // Waivers are scoped like pushes: debian/testing is not the waiver token's (403, nothing
    // recorded, the pipeline stays red); an unknown repository is 404.
    let elsewhere = r#"{"repository": "debian/testing", "package": "bm-broken", "check": "test", "reason": "r", "hours": 2}"#;
    let (status, body) = curl(&waive_url, None, Some(elsewhere), Some(&waiver));
    assert_eq!(status, 403, "{body}");
    assert!(
        error_of(&body).contains("release-manager") && error_of(&body).contains("debian/testing"),
        "{body}"
    );
    let nowhere = r#"{"repository": "debian/nowhere", "package": "bm-broken", "check": "test", "reason": "r", "hours": 2}"#;
    let (status, body) = curl(&waive_url, None, Some(nowhere), Some(ADMIN));
    assert_eq!(status, 404, "{body}");
    assert_eq!(pipeline(&gated, red).await["state"], "red");
    let good = r#"{"repository": "debian/stable", "package": "bm-broken", "check": "test", "reason": "known flaky on CI", "hours": 2}"#;
    let (status, body) = curl(&waive_url, None, Some(good), Some(&waiver));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["promoted"], json!([red]), "{body}");
    assert_eq!(pipeline(&gated, red).await["state"], "promoted");

    // The audit log names the token for every push, waiver and promotion.
    let audit = get(&gated.server.url("/api/audit?limit=100")).await.json();
    let entries = audit.as_array().unwrap();
    let has = |who: &str, action: &str, subject: &str, detail: &str| {
        entries.iter().any(|e| {
            e["who"] == who
                && e["action"] == action
                && e["subject"].as_str().unwrap().contains(subject)
                && e["detail"].as_str().unwrap().contains(detail)
        })
    };
    assert!(
        has("api:ci-stable", "push", &format!("pipeline {id}"), "bm-hello"),
        "{audit}"
    );
    assert!(
        has("api:ci-stable", "push", &format!("pipeline {red}"), "bm-broken"),
        "{audit}"
    );
    assert!(
        has("api:release-manager", "waive", "bm-broken", "in debian/stable"),
        "{audit}"
    );
    assert!(
        has("api:release-manager", "waive", "bm-broken", "known flaky"),
        "{audit}"
    );
    assert!(
        has(
            "gate",
            "promote",
            &format!("pipeline {id}"),
            "triggered by api:ci-stable"
        ),
        "{audit}"
    );
    assert!(
        has(
            "gate",
            "promote",
            &format!("pipeline {red}"),
            "triggered by api:release-manager"
        ),
        "{audit}"
    );
    assert!(
        !entries.iter().any(|e| e["who"] == "api:admin"),
        "the named tokens' actions were recorded as the admin's: {audit}"
    );
    // Paging back.
    let newest = entries[0]["id"].as_i64().unwrap();
    let older = get(&gated.server.url(&format!("/api/audit?limit=1&before={newest}")))
        .await
        .json();
    assert_eq!(older[0]["id"], entries[1]["id"], "{older}");

    // Promotion by hand into debian/manual: green, waiting; refused without the right, outside the
    // token's scope, and for a red pipeline; promoted at the request of a token that may.
    let promoter = add_token(
        &gated,
        &["release-manual", "--repositories", "debian/manual", "--promote"],
    );
    let stable_promoter = add_token(
        &gated,
        &["release-stable", "--repositories", "debian/stable", "--promote"],
    );
    let manual = gated.deb("bm-manual", "1.0");
    let (status, body) = gated.push(&manual, "debian/manual", Some(ADMIN), true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pipeline"]["state"], "green", "{body}");
    assert_eq!(body["promoted"], json!([]), "{body}");
    let waiting = body["pipeline"]["id"].as_i64().unwrap();
    let promote_url = gated.server.url(&format!("/api/pipelines/{waiting}/promote"));
    let (status, body) = curl(&promote_url, None, None, Some(&waiver));
    assert_eq!(status, 403, "no promote right: {body}");
    assert!(error_of(&body).contains("promote"), "{body}");
    let (status, body) = curl(&promote_url, None, None, Some(&stable_promoter));
    assert_eq!(status, 403, "out of scope: {body}");
    assert!(error_of(&body).contains("debian/manual"), "{body}");
    let broken_manual = gated.deb("bm-broken-manual", "1.0");
    let (status, body) = gated.push(&broken_manual, "debian/manual", Some(ADMIN), true);
    assert_eq!(status, 200, "{body}");
    let red_manual = body["pipeline"]["id"].as_i64().unwrap();
    let (status, body) = curl(
        &gated.server.url(&format!("/api/pipelines/{red_manual}/promote")),
        None,
        None,
        Some(&promoter),
    );
    assert_eq!(status, 409, "a red pipeline: {body}");
    assert!(error_of(&body).contains("red"), "{body}");
    assert_eq!(pipeline(&gated, waiting).await["state"], "green");
    let (status, body) = curl(&promote_url, None, None, Some(&promoter));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["promoted"], json!([waiting]), "{body}");
    assert_eq!(body["pipeline"]["state"], "promoted", "{body}");
    assert_eq!(body["pipeline"]["promote_requested_by"], "api:release-manual");
    let (status, body) = curl(&promote_url, None, None, Some(&promoter));
    assert_eq!(status, 409, "promoted already: {body}");
    let audit = get(&gated.server.url("/api/audit?limit=100")).await.json();
    let requested = audit.as_array().unwrap().iter().any(|e| {
        e["who"] == "api:release-manual"
            && e["action"] == "promote-request"
            && e["subject"] == format!("pipeline {waiting}")
    });
    assert!(requested, "{audit}");
    let promoted = audit.as_array().unwrap().iter().any(|e| {
        e["who"] == "gate"
            && e["action"] == "promote"
            && e["subject"] == format!("pipeline {waiting}")
            && e["detail"]
                .as_str()
                .unwrap()
                .contains("triggered by api:release-manual")
    });
    assert!(promoted, "{audit}");

    // Revoked: refused on the very next request, no restart.
    let (code, out, err) = gated.cli(&["token", "revoke", "ci-stable"]);
    assert_eq!(code, 0, "{out}{err}");
    let again = gated.deb("bm-hello", "1.1");
    let (status, body) = gated.push(&again, "debian/stable", Some(&pusher), true);
    assert_eq!(status, 401, "a revoked token: {body}");
    let (status, body) = gated.push(&again, "debian/stable", Some("bm_0123456789abcdef"), true);
    assert_eq!(status, 401, "an unknown token: {body}");
    // The other token and the admin's still work.
    let (status, body) = curl(&waive_url, None, Some("{}"), Some(&waiver));
    assert_eq!(status, 400, "{body}");
    let (status, body) = gated.push(&again, "debian/testing", Some(ADMIN), true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pipeline"]["who"], "api:admin", "{body}");

    // Shutting down waits for a push answered early: its checks finish and it is promoted.
    let last = gated.deb("bm-hello", "1.2");
    let (status, body) = gated.push(&last, "debian/testing", Some(ADMIN), false);
    assert_eq!(status, 202, "{body}");
    let id = body["pipeline"].as_i64().unwrap();
    gated.server.stop().await;
    let store = buildmaster::gate::store::GateStore::open(&gated.state().join("buildmaster.sqlite")).unwrap();
    let state = store.pipeline(id).unwrap().unwrap().state;
    assert_eq!(state, buildmaster::gate::store::PipelineState::Promoted);
}
