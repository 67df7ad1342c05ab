//! Scratch builds (issue 15, acceptance 4) on a real farm: a git ports tree, one real sshd builder
//! running the HaikuPorter stand-in, garage as the served storage and a private staging bucket.
//!
//! A buildrun of `main` builds `frontend` (and its dependencies) and publishes; a branch that changes
//! frontend's recipe is then scratch-built. What the *builder* saw is recorded by a logging build tool
//! in front of the farm's: each build's arguments and the dependency packages (name and SHA-256) in its
//! packages directory. The test asserts that the buildrun's and the scratch build's `frontend` builds
//! ran with the same arguments and the same dependency set, that the scratch build is gated
//! (installability: a second branch whose package requires something nobody provides is `failure`),
//! that a webhook on 127.0.0.1 receives each verdict, that the served bucket is unchanged, and that
//! after the TTL the scratch objects in staging and the scratch directories are gone.
//!
//! Scratch builds are pipelines (kind `scratch`, with their ref) like the gate's others, checked by
//! the instance's `[publish.policy]` (installability, lint, test) as a real buildrun's packages are.
//! Through the API (the real router in this process, over the same farm): `POST /api/scratch` needs
//! the `build` right (403 without), answers 202 with the pipeline, which ends `green` with every
//! check's result, or `red` naming a failed blocking test; both are in `GET /api/pipelines` and
//! `buildmaster gate pipelines`, and report to the webhook.

#[allow(dead_code)]
mod gate_scratch_common;
mod server_common;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use buildmaster::config::instance::InstanceConfig;
use buildmaster::repos::service::PushService;
use buildmaster::scratch::run::ScratchContext;
use buildmaster::state::StateDir;
use gate_scratch_common::{
    branch_with_edit, git, listing, next_verdict, staging_config, text, webhook_receiver,
};
use serde_json::Value;
use server_common::{get, request, Server};
use support::farm::Farm;
use tokio_util::sync::CancellationToken;

/// Limit for a buildrun or scratch build of a few one-second ports on one builder.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// The scratch TTL of the test, in hours (36 s: long enough that the first scratch build is not yet
/// expired when the second starts, on a loaded machine too).
const TTL_HOURS: f64 = 0.01;

/// A build tool in front of the farm's: logs the arguments and the dependencies placed in the
/// packages directory (symlinks into the builder's cache) of every build, then runs the farm's tool.
const LOGGING_TOOL: &str = r#"#!/bin/bash
set -u
log='@LOG@'
case " $* " in *" --purge "*) exec '@INNER@' "$@";; esac
port="${!#}"
conf=''
for a in "$@"; do case "$a" in --config=*) conf="${a#--config=}";; esac; done
printf 'args\t%s\t%s\n' "$port" "$*" >> "$log"
if [ -n "$conf" ]; then
  packages=$(. "$conf" && printf '%s' "$PACKAGES_PATH")
  for f in "$packages"/*.hpkg; do
    [ -L "$f" ] || continue
    printf 'dep\t%s\t%s\t%s\n' "$port" "${f##*/}" "$(sha256sum < "$f" | cut -d' ' -f1)" >> "$log"
  done
fi
exec '@INNER@' "$@"
"#;

/// One build as the builder saw it: its arguments and its dependencies (file name → SHA-256).
#[derive(Debug, Default, Clone, PartialEq)]
struct SeenBuild {
    args: String,
    deps: BTreeMap<String, String>,
}

/// The builds of `port` in the builder log, in order.
fn seen_builds(log: &Path, port: &str) -> Vec<SeenBuild> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out: Vec<SeenBuild> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["args", p, args] if *p == port => out.push(SeenBuild {
                args: args.to_string(),
                deps: BTreeMap::new(),
            }),
            ["dep", p, name, sha] if *p == port => {
                out.last_mut()
                    .expect("a dep line follows its args line")
                    .deps
                    .insert(name.to_string(), sha.to_string());
            }
            _ => {}
        }
    }
    out
}

/// Commits `edit` of frontend's recipe on a new branch `name` of the farm's tree, back on main after.
fn branch_with_recipe_change(tree: &Path, name: &str, edit: impl Fn(&str) -> String) -> String {
    branch_with_edit(tree, name, "app-misc/frontend/frontend-2.0.recipe", edit)
}

/// The policy's test: prints the package's SHA-256 (its log shows which bytes it ran on) and fails
/// for revision 5 of frontend.
const TEST_SCRIPT: &str = "#!/bin/sh\nsha256sum \"$1\"\n\
case \"$BUILDMASTER_PACKAGE_NAME-$BUILDMASTER_PACKAGE_VERSION\" in frontend-*-5) echo 'smoke test: FAILED'; exit 1;; esac\n";

/// Starts a scratch build through `POST /api/scratch` as `token` and waits for its pipeline to leave
/// `checking`: the pipeline.
async fn api_scratch(server: &Server, token: &str, reference: &str) -> Value {
    let body = serde_json::json!({"ref": reference, "ports": ["frontend"]}).to_string();
    let auth = format!("Bearer {token}");
    let reply = request(
        "POST",
        &server.url("/api/scratch"),
        &[("authorization", &auth), ("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let id = reply.json()["pipeline"].as_i64().unwrap();
    assert_eq!(reply.json()["href"], format!("/api/pipelines/{id}"));
    let deadline = Instant::now() + BUILD_TIMEOUT;
    loop {
        let pipeline = get(&server.url(&format!("/api/pipelines/{id}"))).await.json();
        if pipeline["state"] != "checking" {
            return pipeline;
        }
        assert!(Instant::now() < deadline, "still checking: {pipeline}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The check of `kind` in `pipeline`.
fn check<'a>(pipeline: &'a Value, kind: &str) -> &'a Value {
    pipeline["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} check: {pipeline:#}"))
}

#[test]
fn scratch_build_of_a_branch_builds_like_a_buildrun_is_gated_reported_unpublished_and_expires() {
    let farm = Farm::start(1);
    let tree = farm.tree();
    let state = farm.state();

    // The builder's build tool, behind a logger.
    let builder_log = farm.dir.path().join("builder-calls.tsv");
    let inner = farm
        .dir
        .path()
        .join(format!("haikuporter-{}", Farm::builder_name(0)));
    let logged = farm.dir.path().join("haikuporter-logged");
    std::fs::write(
        &logged,
        LOGGING_TOOL
            .replace("@LOG@", &builder_log.to_string_lossy())
            .replace("@INNER@", &inner.to_string_lossy()),
    )
    .unwrap();
    assert!(Command::new("chmod")
        .arg("755")
        .arg(&logged)
        .status()
        .unwrap()
        .success());

    // Staging: a private bucket; the webhook; the TTL.
    let staging_json = staging_config(&farm, "scratch-staging");
    let (webhook_url, verdicts) = webhook_receiver();
    let config_path = state.join("buildmaster.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace(&inner.to_string_lossy().to_string(), &logged.to_string_lossy());
    assert!(config.contains("haikuporter-logged"), "{config}");
    // The repository's policy: an advisory lint that always finds something, a blocking test.
    let test_script = farm.dir.path().join("package-test");
    std::fs::write(&test_script, TEST_SCRIPT).unwrap();
    std::fs::set_permissions(&test_script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        &config_path,
        format!(
            "[gate]\nstaging = \"{}\"\n\n[scratch]\nttl_hours = {TTL_HOURS}\nwebhook_url = \"{webhook_url}\"\n\n\
             [publish.policy.lint]\ncommand = [\"sh\", \"-c\", \"echo 'W: no-manual-page'; exit 1\"]\n\
             [publish.policy.test]\ncommand = [\"{}\", \"{{file}}\"]\n\n{config}",
            staging_json.display(),
            test_script.display()
        ),
    )
    .unwrap();

    // The buildrun of main: frontend and its dependencies, published.
    let out = farm.run(&["buildrun", "frontend"], BUILD_TIMEOUT);
    assert!(
        out.status.success(),
        "buildrun: {}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        farm.diagnostics()
    );
    let from_buildrun = seen_builds(&builder_log, "frontend-2.0");
    assert_eq!(
        from_buildrun.len(),
        1,
        "{from_buildrun:?}\n{}",
        farm.diagnostics()
    );
    assert!(
        !from_buildrun[0].deps.is_empty(),
        "the builder saw no dependencies: {from_buildrun:?}"
    );
    let served_before = listing(&farm.storage_config(), "");
    assert!(
        served_before
            .iter()
            .any(|l| l.contains("frontend-2.0-1-x86_64.hpkg")),
        "{served_before:?}"
    );
    let output_before = std::fs::read_dir(state.join("output/buildruns")).unwrap().count();

    // A branch that bumps frontend's revision: a scratch build of it.
    let good_sha = branch_with_recipe_change(&tree, "frontend-rev2", |r| {
        r.replace("REVISION=\"1\"", "REVISION=\"2\"")
    });
    let started = Instant::now();
    let out = farm.run(
        &[
            "scratch",
            "--ref",
            "frontend-rev2",
            "--port",
            "frontend",
            "--json",
        ],
        BUILD_TIMEOUT,
    );
    let scratch_secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "scratch: {}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        farm.diagnostics()
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"]["state"], "success", "{report:#}");

    // Builder side: the same command and the same dependency set as the buildrun's build.
    let seen = seen_builds(&builder_log, "frontend-2.0");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].args, seen[0].args, "the builder was called differently");
    assert_eq!(
        seen[1].deps, seen[0].deps,
        "the builder got different dependencies"
    );
    // And it built the branch's recipe (revision 2), not main's.
    let ledger = std::fs::read_to_string(farm.ledger_path()).unwrap();
    assert!(ledger.contains("frontend-2.0-2-x86_64.hpkg"), "{ledger}");

    // The verdict, as a commit-status call can use it.
    let (request, verdict) = next_verdict(&verdicts);
    assert!(request.starts_with("POST /status "), "{request}");
    assert_eq!(verdict["state"], "success", "{verdict:#}");
    assert_eq!(verdict["sha"], good_sha.as_str());
    assert_eq!(verdict["ref"], "frontend-rev2");
    assert_eq!(verdict["context"], "buildmaster/scratch");
    assert_eq!(verdict["pipeline"], report["record"]["id"]);

    // Staged under scratch/<N>/, nothing new served, the instance's state untouched.
    let id = report["record"]["id"].as_u64().unwrap();
    let staged = listing(&staging_json, "scratch/");
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert!(
        staged[0].contains(&format!("scratch/{id}/frontend-2.0-2-x86_64.hpkg")),
        "{staged:?}"
    );
    assert_eq!(
        listing(&farm.storage_config(), ""),
        served_before,
        "the served bucket changed"
    );
    assert_eq!(
        std::fs::read_dir(state.join("output/buildruns")).unwrap().count(),
        output_before
    );
    assert!(
        !state.join("packages/frontend-2.0-2-x86_64.hpkg").exists(),
        "the scratch result reached the spool"
    );

    // A branch whose package requires what nothing provides: built, but the gate says failure.
    let bad_sha = branch_with_recipe_change(&tree, "frontend-needs-ghost", |r| {
        r.replace("REVISION=\"1\"", "REVISION=\"3\"").replace(
            "\tlib:libtwo >= 1.2\n\t\"\n\nBUILD_REQUIRES",
            "\tlib:libtwo >= 1.2\n\tlib:libghostly\n\t\"\n\nBUILD_REQUIRES",
        )
    });
    let out = farm.run(
        &["scratch", "--ref", &bad_sha, "--port", "frontend", "--json"],
        BUILD_TIMEOUT,
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let bad: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, verdict) = next_verdict(&verdicts);
    assert_eq!(verdict["state"], "failure", "{verdict:#}");
    assert_eq!(verdict["sha"], bad_sha.as_str());
    assert!(
        verdict["description"]
            .as_str()
            .unwrap()
            .contains("lib:libghostly"),
        "{verdict:#}"
    );
    assert_eq!(
        listing(&farm.storage_config(), ""),
        served_before,
        "the served bucket changed"
    );

    // Both are kept, listed with their verdicts.
    let out = farm.run(&["scratch", "--list", "--json"], Duration::from_secs(60));
    assert!(out.status.success(), "scratch --list: {}", text(&out.stderr));
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts_kept: Vec<(&str, &str)> = kept
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sha"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts_kept,
        vec![(good_sha.as_str(), "success"), (bad_sha.as_str(), "failure")]
    );

    // Both are in the gate's audit log, with who asked, the ref's commit and the verdict.
    let out = farm.run(&["gate", "audit"], Duration::from_secs(60));
    assert!(out.status.success(), "gate audit: {}", text(&out.stderr));
    let audit = text(&out.stdout);
    let scratch_lines: Vec<&str> = audit.lines().filter(|l| l.contains("\tscratch\t")).collect();
    assert_eq!(scratch_lines.len(), 2, "{audit}");
    assert!(
        scratch_lines
            .iter()
            .any(|l| l.contains(&good_sha) && l.contains("success")),
        "{audit}"
    );
    assert!(
        scratch_lines
            .iter()
            .any(|l| l.contains(&bad_sha) && l.contains("failure")),
        "{audit}"
    );

    // The scratch builds are pipelines of their own, with their refs.
    let out = farm.run(&["gate", "pipelines"], Duration::from_secs(60));
    let listed = text(&out.stdout);
    assert!(out.status.success(), "{listed}{}", text(&out.stderr));
    assert!(
        listed.contains(&format!("scratch of frontend-rev2 at {good_sha} by cli:")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("scratch of {bad_sha} at {bad_sha} by cli:")),
        "{listed}"
    );
    assert!(report["record"]["pipeline"].is_i64(), "{report:#}");

    // Through the API, in this process: the real router over the same instance and farm.
    let api_expiry = api_scratch_builds(&farm, &config_path, &verdicts, &good_sha, &staging_json);

    // After the TTL, prune deletes every scratch build's objects and directories.
    // The next real buildrun (a change merged on main) is not affected by the scratch builds: its
    // builder gets the same dependency set as the first one, nothing the scratch builds made.
    let main_sha =
        branch_with_recipe_change(&tree, "merged", |r| r.replace("REVISION=\"1\"", "REVISION=\"4\""));
    git(&tree, &["merge", "-q", "--ff-only", "merged"]);
    assert_eq!(git(&tree, &["rev-parse", "HEAD"]), main_sha);
    let out = farm.run(&["buildrun", "frontend"], BUILD_TIMEOUT);
    assert!(
        out.status.success(),
        "buildrun after the scratch builds: {}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        farm.diagnostics()
    );
    let seen = seen_builds(&builder_log, "frontend-2.0");
    let last = seen.last().unwrap();
    assert_eq!(last.args, seen[0].args);
    assert_eq!(last.deps, seen[0].deps, "scratch packages reached a real build");
    let served_after = listing(&farm.storage_config(), "");
    assert!(
        served_after
            .iter()
            .any(|l| l.contains("frontend-2.0-4-x86_64.hpkg")),
        "{served_after:?}"
    );
    assert!(
        !served_after
            .iter()
            .any(|l| l.contains("frontend-2.0-2-") || l.contains("frontend-2.0-3-")),
        "a scratch build's package is served: {served_after:?}"
    );

    // Not yet: a prune before the expiry keeps them.
    let out = farm.run(&["scratch", "--prune"], Duration::from_secs(60));
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        state.join(format!("scratch/{id}")).exists(),
        "pruned before its TTL"
    );
    let last_expiry = bad["record"]["expires_at"].as_i64().unwrap().max(api_expiry);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    std::thread::sleep(Duration::from_secs((last_expiry - now).max(0) as u64 + 2));
    assert!(
        !listing(&staging_json, "scratch/").is_empty(),
        "something is staged before the prune"
    );
    let out = farm.run(&["scratch", "--prune"], Duration::from_secs(60));
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        listing(&staging_json, "scratch/"),
        Vec::<String>::new(),
        "scratch objects left in staging"
    );
    for n in [id, bad["record"]["id"].as_u64().unwrap()] {
        assert!(
            !state.join(format!("scratch/{n}")).exists(),
            "scratch/{n} left behind"
        );
    }
    eprintln!("builder saw: {seen:#?}");
    eprintln!("failure verdict: {verdict:#}");
    eprintln!(
        "scratch build of one port: {scratch_secs:.1} s wall, of which {} ms preparing the scratch directory",
        report["prepare_ms"]
    );
}

/// Scratch builds through `POST /api/scratch` on the farm (after the CLI's): refused without the
/// `build` right; `frontend-rev2` green with the policy's checks; a branch whose package fails the
/// blocking test red, naming it. The latest expiry of the scratch builds it made.
fn api_scratch_builds(
    farm: &Farm,
    config_path: &Path,
    verdicts: &mpsc::Receiver<(String, Value)>,
    good_sha: &str,
    staging_json: &Path,
) -> i64 {
    let add = |args: &[&str]| {
        let out = farm.run(args, Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let builder = add(&["token", "add", "ci-scratch", "--build"]);
    let pusher = add(&[
        "token",
        "add",
        "ci-push",
        "--repositories",
        "haikuports",
        "--push",
    ]);
    let failing_sha = branch_with_recipe_change(&farm.tree(), "frontend-rev5", |r| {
        r.replace("REVISION=\"1\"", "REVISION=\"5\"")
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let state = StateDir::new(farm.state());
        let config = InstanceConfig::load(config_path).unwrap();
        let storage = buildmaster::storage::open(Some(&farm.storage_config()), &farm.state())
            .await
            .unwrap();
        let mut server = Server::start(&farm.state().join("output"), None, None).await;
        let push = PushService::open(state.clone(), storage.clone(), Vec::new(), &config)
            .await
            .unwrap();
        server.app.set_push_service(Arc::new(push));
        let mut scratch =
            ScratchContext::for_instance(state, config, storage, None, CancellationToken::new())
                .await
                .unwrap();
        scratch.wait_while_busy = true;
        server.app.set_scratch(Arc::new(scratch));
        server.app.set_tokens_file(farm.state().join("api-tokens.toml"));

        // Without the build right: 403, no pipeline.
        let before = get(&server.url("/api/pipelines")).await.json();
        let refused = request(
            "POST",
            &server.url("/api/scratch"),
            &[("authorization", &format!("Bearer {pusher}"))],
            r#"{"ref": "frontend-rev2"}"#,
        )
        .await;
        assert_eq!(refused.status, 403, "{}", refused.text());
        assert!(refused.text().contains("build"), "{}", refused.text());
        assert_eq!(get(&server.url("/api/pipelines")).await.json(), before);

        // Green, never promoted, with the policy's checks on its package.
        let green = api_scratch(&server, &builder, "frontend-rev2").await;
        assert_eq!(green["state"], "green", "{green:#}");
        assert_eq!(green["kind"], "scratch", "{green:#}");
        assert_eq!(green["who"], "api:ci-scratch", "{green:#}");
        assert_eq!(green["ref"], format!("frontend-rev2 at {good_sha}"), "{green:#}");
        let package = &green["packages"][0];
        assert_eq!(
            package["package"]["file_name"], "frontend-2.0-2-x86_64.hpkg",
            "{green:#}"
        );
        let pool_key = package["pool_key"].as_str().unwrap();
        assert!(pool_key.starts_with("scratch/"), "{green:#}");
        assert!(
            listing(staging_json, "scratch/")
                .iter()
                .any(|l| l.contains(pool_key)),
            "{pool_key} is not staged"
        );
        assert_eq!(check(&green, "installability")["status"], "passed", "{green:#}");
        let lint = check(&green, "lint");
        assert_eq!(
            (&lint["status"], &lint["blocking"]),
            (&Value::from("failed"), &Value::from(false))
        );
        assert!(
            lint["log"].as_str().unwrap().contains("no-manual-page"),
            "{green:#}"
        );
        let test = check(&green, "test");
        assert_eq!(test["status"], "passed", "{green:#}");
        let sha = package["package"]["sha256"].as_str().unwrap();
        assert!(
            test["log"].as_str().unwrap().contains(sha),
            "the test ran on other bytes: {green:#}"
        );
        let (_, verdict) = next_verdict(verdicts);
        assert_eq!(
            (verdict["state"].as_str(), verdict["sha"].as_str()),
            (Some("success"), Some(good_sha))
        );

        // A failing blocking test: red, naming it; the verdict is failure.
        let red = api_scratch(&server, &builder, "frontend-rev5").await;
        assert_eq!(red["state"], "red", "{red:#}");
        assert!(
            red["summary"]
                .as_str()
                .unwrap()
                .contains("test of frontend-2.0-5-x86_64.hpkg failed"),
            "{red:#}"
        );
        assert!(
            check(&red, "test")["log"]
                .as_str()
                .unwrap()
                .contains("smoke test: FAILED"),
            "{red:#}"
        );
        let (_, verdict) = next_verdict(verdicts);
        assert_eq!(verdict["state"], "failure", "{verdict:#}");
        assert_eq!(verdict["sha"], failing_sha.as_str());

        // Both listed with the others.
        let listed = get(&server.url("/api/pipelines")).await.json();
        let ids: Vec<&Value> = listed.as_array().unwrap().iter().map(|p| &p["id"]).collect();
        assert!(
            ids.contains(&&green["id"]) && ids.contains(&&red["id"]),
            "{listed:#}"
        );
        server.stop().await;
    });
    let out = farm.run(&["scratch", "--list", "--json"], Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    kept.as_array()
        .unwrap()
        .iter()
        .map(|r| r["expires_at"].as_i64().unwrap())
        .max()
        .unwrap()
}
