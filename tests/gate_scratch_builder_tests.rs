//! Scratch builds run the policy's tests on a builder (issue 15: a scratch build "is gated" exactly
//! as a buildrun's packages are). A real farm — a git ports tree, two real sshd builders running the
//! HaikuPorter stand-in, garage with a private staging bucket — whose `[publish.policy.test]` is
//! `on = "builder"` on builder `b2`. A branch gives toolbox's recipe a `TEST()` that passes, another
//! one that fails; each is scratch-built (`buildmaster scratch`).
//! - The passing branch is `green`: verdict `success`, to the webhook too; toolbox's test passed with
//!   what its `TEST()` printed in the log.
//! - The failing branch is `red`, its verdict `failure` naming toolbox's test, to the webhook too.
//! - From the builder side (the farm's ledger, written by the builders' build tool): after the
//!   scratch build's own build of toolbox, toolbox was built again — its test, HaikuPorter's
//!   `--test` — on `b2`, the policy's builder; exit 0 for the passing branch, non-zero for the other.
//! - Nothing is published: the served bucket's web endpoint answers 404 for toolbox; after the TTL a
//!   prune leaves no scratch object in staging and no scratch directory.

#[allow(dead_code)]
mod gate_scratch_common;
mod support;

use std::time::{Duration, Instant};

use gate_scratch_common::{branch_with_edit, listing, next_verdict, staging_config, text, webhook_receiver};
use serde_json::Value;
use support::farm::{Farm, LedgerBuild};

/// Limit for a scratch build of a few one-second ports, each built again for its test.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// The scratch TTL, in hours (36 s: the first scratch build is not expired before the second ends).
const TTL_HOURS: f64 = 0.01;
/// The builder the policy names.
const TEST_BUILDER: &str = "b2";
const TOOLBOX: &str = "app-misc/toolbox/toolbox-1.0.recipe";

/// A branch `name` whose toolbox recipe has a `TEST()` with `body`.
fn branch_with_test(farm: &Farm, name: &str, body: &str) -> String {
    branch_with_edit(&farm.tree(), name, TOOLBOX, |recipe| {
        format!("{recipe}\nTEST()\n{{\n{body}}}\n")
    })
}

/// `buildmaster scratch --ref REF --port toolbox --json`: its exit status and report.
fn scratch(farm: &Farm, reference: &str) -> (Option<i32>, Value) {
    let out = farm.run(
        &["scratch", "--ref", reference, "--port", "toolbox", "--json"],
        BUILD_TIMEOUT,
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "scratch {reference}: {}{}\n{}",
            text(&out.stdout),
            text(&out.stderr),
            farm.diagnostics()
        )
    });
    (out.status.code(), report)
}

/// `gate pipelines N` of the scratch build's pipeline, with the checks' logs.
fn pipeline_text(farm: &Farm, report: &Value) -> String {
    let id = report["record"]["pipeline"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pipeline: {report:#}"));
    let out = farm.run(&["gate", "pipelines", &id.to_string()], Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// toolbox's builds in the ledger, in order.
fn toolbox_builds(farm: &Farm) -> Vec<LedgerBuild> {
    farm.ledger_builds()
        .into_iter()
        .filter(|b| b.port == "toolbox-1.0")
        .collect()
}

#[test]
fn a_scratch_build_runs_the_policys_builder_test_green_when_it_passes_red_naming_it_when_it_fails() {
    let farm = Farm::start(2);
    let state = farm.state();
    let staging_json = staging_config(&farm, "scratch-tests-staging");
    let (webhook_url, verdicts) = webhook_receiver();
    let config_path = state.join("buildmaster.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        format!(
            "[gate]\nstaging = \"{}\"\n\n[scratch]\nttl_hours = {TTL_HOURS}\nwebhook_url = \"{webhook_url}\"\n\n\
             [publish.policy.test]\non = \"builder\"\nbuilder = \"{TEST_BUILDER}\"\ntimeout_seconds = 300\n\n{config}",
            staging_json.display()
        ),
    )
    .unwrap();
    let passing = branch_with_test(
        &farm,
        "toolbox-tested",
        "\techo \"toolbox TEST: found the tools of $portVersion\"\n\ttrue\n",
    );
    let failing = branch_with_test(
        &farm,
        "toolbox-broken",
        "\techo 'toolbox TEST: expected 3 tools, found 2'\n\tfalse\n",
    );

    // The passing branch: green, its test's output in the log, reported green.
    let started = Instant::now();
    let (status, report) = scratch(&farm, "toolbox-tested");
    eprintln!(
        "scratch build with builder tests: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(status, Some(0), "{report:#}\n{}", farm.diagnostics());
    assert_eq!(report["verdict"]["state"], "success", "{report:#}");
    let shown = pipeline_text(&farm, &report);
    assert!(shown.contains("green"), "{shown}");
    assert!(
        shown.contains("toolbox-1.0-1-x86_64.hpkg test: passed: TEST() passed: toolbox-1.0"),
        "{shown}"
    );
    assert!(shown.contains(&format!("on builder {TEST_BUILDER}")), "{shown}");
    assert!(
        shown.contains("toolbox TEST: found the tools of 1.0"),
        "the recipe's TEST() output: {shown}"
    );
    let (_, verdict) = next_verdict(&verdicts);
    assert_eq!(verdict["state"], "success", "{verdict:#}");
    assert_eq!(verdict["sha"], passing.as_str());

    // Builder side: the scratch build's build of toolbox, then its test's build on the policy's builder.
    let builds = toolbox_builds(&farm);
    assert_eq!(builds.len(), 2, "{builds:?}");
    assert_eq!(builds[0].end.map(|e| e.0), Some(0), "{builds:?}");
    assert_eq!(
        builds[1].builder, TEST_BUILDER,
        "the test ran elsewhere: {builds:?}"
    );
    assert_eq!(builds[1].end.map(|e| e.0), Some(0), "{builds:?}");

    // The failing branch: red, naming the test, reported as a failure.
    let (status, report) = scratch(&farm, &failing);
    assert_eq!(status, Some(5), "{report:#}");
    assert_eq!(report["verdict"]["state"], "failure", "{report:#}");
    let description = report["verdict"]["description"].as_str().unwrap();
    assert!(
        description.contains("test of toolbox-1.0-1-x86_64.hpkg failed: TEST() failed"),
        "{description}"
    );
    let shown = pipeline_text(&farm, &report);
    assert!(shown.contains("red"), "{shown}");
    assert!(
        shown.contains("toolbox TEST: expected 3 tools, found 2"),
        "{shown}"
    );
    assert!(shown.contains("Test has failed - stopping."), "{shown}");
    let (_, verdict) = next_verdict(&verdicts);
    assert_eq!(verdict["state"], "failure", "{verdict:#}");
    assert_eq!(verdict["sha"], failing.as_str());
    let builds = toolbox_builds(&farm);
    assert_eq!(builds.len(), 4, "{builds:?}");
    assert_eq!(builds[2].end.map(|e| e.0), Some(0), "{builds:?}");
    assert_eq!(builds[3].builder, TEST_BUILDER, "{builds:?}");
    assert_ne!(
        builds[3].end.map(|e| e.0),
        Some(0),
        "toolbox's TEST() fails on the builder: {builds:?}"
    );

    // Nothing published; after the TTL nothing of either scratch build is left.
    let path = format!("/{}/packages/toolbox-1.0-1-x86_64.hpkg", farm.prefix);
    assert_eq!(farm.garage.web_get("localhost", &path).0, 404, "{path} is served");
    assert!(!listing(&staging_json, "scratch/").is_empty());
    let expires_at = report["record"]["expires_at"].as_i64().unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    while now() <= expires_at {
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = farm.run(&["scratch", "--prune"], Duration::from_secs(120));
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(listing(&staging_json, "scratch/"), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(state.join("scratch"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "scratch directories left: {left:?}");
}
