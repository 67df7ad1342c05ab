//! The output tree HaikuPorter's frontend reads: status.json and record shapes (with
//! `failureReason`), logs, symlinks, `last_buildrun`, `buildruns.txt`, `current`, and numbering that
//! continues an adopted HaikuPorter output tree.

mod buildrun_fake;

use std::path::Path;
use std::sync::Arc;

use buildmaster::buildrun::run_buildrun;
use buildmaster::plan::model::{SkipReason, SkippedPort};
use buildrun_fake::{hpkg, plan, read_json, Fake, Farm, Instance, Outcome};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn output_tree_and_json_shapes_are_haikuporters() {
    let sys = "haiku-r1-1-x86_64.hpkg";
    let inst = Instance::new(&[sys], 3);
    let out = inst.output();
    // An adopted HaikuPorter instance: buildrun 41 and build 17 were its last.
    std::fs::create_dir_all(out.join("buildruns")).unwrap();
    std::fs::create_dir_all(out.join("records")).unwrap();
    std::fs::write(out.join("buildruns/last_buildrun"), "41\n").unwrap();
    std::fs::write(out.join("buildruns/buildruns.txt"), "40\n41\n").unwrap();
    std::fs::write(out.join("records/17.json"), "{}").unwrap();

    let farm = Arc::new(Farm::default());
    farm.script("bad-1.0", "*", Outcome::Fail);
    let builders = [Fake::new("b1", &farm, 0, &[])];
    let ctx = inst.context(&farm, &builders, CancellationToken::new());
    let mut p = plan(&[("lib", &[], &[sys]), ("app", &[0], &[sys]), ("bad", &[], &[])]);
    p.skipped.push(SkippedPort {
        port: "broken-2.0".into(),
        recipe_path: Some("x/broken/broken-2.0.recipe".into()),
        reason: SkipReason::NotBuildableOnArchitecture {
            status: "broken".into(),
        },
    });
    let summary = run_buildrun(&ctx, p, "build lib app bad broken").await.unwrap();
    assert_eq!(summary.id, 42);
    assert_eq!(summary.status, "complete (with 1 failures)");

    let runs = out.join("buildruns");
    assert_eq!(
        std::fs::read_to_string(runs.join("last_buildrun"))
            .unwrap()
            .trim(),
        "42"
    );
    assert_eq!(
        std::fs::read_to_string(runs.join("buildruns.txt")).unwrap(),
        "40\n41\n42\n"
    );
    assert_eq!(std::fs::read_link(runs.join("current")).unwrap(), Path::new("42"));

    let status = inst.status(42);
    assert_eq!(
        keys(&status),
        [
            "buildStatus",
            "builders",
            "builds",
            "endTime",
            "nextBuildNumber",
            "portsTreeHead",
            "portsTreeOriginURL",
            "startTime"
        ]
    );
    assert_eq!(
        keys(&status["builds"]),
        [
            "active",
            "blocked",
            "complete",
            "failed",
            "lost",
            "scheduled",
            "skipped"
        ]
    );
    assert_eq!(keys(&status["builders"]), ["active", "idle", "lost"]);
    assert_eq!(status["buildStatus"], "complete (with 1 failures)");
    assert!(status["endTime"].as_f64().unwrap() >= status["startTime"].as_f64().unwrap());
    assert_eq!(
        status["nextBuildNumber"], 21,
        "builds 18, 19, 20 after HaikuPorter's 17"
    );

    let complete = status["builds"]["complete"].as_array().unwrap();
    let app = complete.iter().find(|b| b["port"]["name"] == "app").unwrap();
    assert_eq!(
        keys(app),
        [
            "buildNumbers",
            "buildable",
            "failureReason",
            "lost",
            "missingPackageIDs",
            "port",
            "requiredPackages",
            "resultingPackages"
        ]
    );
    assert_eq!(
        keys(&app["port"]),
        ["name", "recipeFilePath", "revision", "revisionedName", "version"]
    );
    assert_eq!(app["port"]["revisionedName"], "app-1.0-1");
    assert_eq!(app["port"]["recipeFilePath"], "test/app/app-1.0.recipe");
    assert_eq!(
        app["requiredPackages"],
        serde_json::json!([sys, hpkg("lib")]),
        "sorted"
    );
    assert_eq!(app["missingPackageIDs"], serde_json::json!([]));
    assert_eq!(app["resultingPackages"], serde_json::json!([hpkg("app")]));
    assert_eq!(app["buildable"], true);
    assert_eq!(app["failureReason"], Value::Null);

    let bad = &status["builds"]["failed"][0];
    assert!(
        bad["failureReason"].as_str().unwrap().contains("bad-1.0"),
        "{bad}"
    );
    let skipped = &status["builds"]["skipped"][0];
    assert_eq!(keys(skipped), ["port", "reason", "resultingPackages"]);
    assert_eq!(
        skipped["reason"],
        "Port broken-2.0 is broken on this architecture."
    );
    assert_eq!(skipped["port"]["recipeFilePath"], "x/broken/broken-2.0.recipe");

    let builder = &status["builders"]["idle"][0];
    assert_eq!(builder["name"], "b1");
    assert!(
        builder.get("availablePackages").is_none(),
        "no cache listing in the status"
    );
    assert_eq!(builder["currentBuild"], Value::Null);

    // Records and logs: one per attempt, linked from output/{records,builds}.
    let numbers: Vec<u64> = complete
        .iter()
        .chain(status["builds"]["failed"].as_array().unwrap())
        .map(|b| b["buildNumbers"][0].as_u64().unwrap())
        .collect();
    for n in &numbers {
        let record = read_json(&out.join(format!("records/{n}.json")));
        assert_eq!(
            keys(&record),
            [
                "buildNumbers",
                "buildSuccess",
                "builderId",
                "duration",
                "failureReason",
                "port",
                "startTime"
            ]
        );
        assert_eq!(record["builderId"], "b1");
        assert_eq!(
            keys(&record["port"]),
            ["name", "revision", "revisionedName", "version"]
        );
        let log = std::fs::read_to_string(out.join(format!("builds/{n}.log"))).unwrap();
        assert!(log.starts_with("building "), "{log}");
    }
    let bad_number = status["builds"]["failed"][0]["buildNumbers"][0].as_u64().unwrap();
    let record = read_json(&runs.join(format!("42/records/{bad_number}.json")));
    assert_eq!(record["buildSuccess"], false);
    assert!(record["failureReason"].as_str().is_some());

    let master = std::fs::read_to_string(runs.join("42/master.log")).unwrap();
    for needle in ["starting build", "complete on builder b1", "(bad-1.0) failed"] {
        assert!(master.contains(needle), "master.log lacks {needle:?}:\n{master}");
    }
    // `YYYY-MM-DD HH:MM:SS,mmm: message`, Python logging's asctime.
    let first = master.lines().next().unwrap();
    assert_eq!(&first[4..5], "-");
    assert_eq!(&first[19..20], ",");
    assert_eq!(&first[23..25], ": ");
    let builder_log = std::fs::read_to_string(runs.join("42/builders/b1.log")).unwrap();
    assert!(builder_log.contains("starting build"), "{builder_log}");
    // Results are in the spool for publish.
    assert!(inst.state.packages().join(hpkg("app")).is_file());
}
