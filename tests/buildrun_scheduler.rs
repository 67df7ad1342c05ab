//! The executor's logic on fake in-memory builders (milliseconds per build): priority, parallelism,
//! cache affinity, retries on another builder within the budget, failures making dependents lost,
//! waiting while every builder is lost.

mod buildrun_fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster::buildrun::store::{BuildState, BuildrunStore};
use buildmaster::buildrun::{run_buildrun, Summary};
use buildrun_fake::{hpkg, plan, AfterTransient, Fake, Farm, Instance, Outcome};
use tokio_util::sync::CancellationToken;

/// Every wait in these tests ends within this, so a scheduling bug fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(20);

async fn run(
    inst: &Instance,
    farm: &Arc<Farm>,
    builders: &[Arc<Fake>],
    p: buildmaster::plan::model::Plan,
) -> Summary {
    let ctx = inst.context(farm, builders, CancellationToken::new());
    tokio::time::timeout(DEADLINE, run_buildrun(&ctx, p, "build test"))
        .await
        .expect("the buildrun finishes")
        .expect("the buildrun runs")
}

#[tokio::test]
async fn most_urgent_build_first_critical_path_then_dependents() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    let one = Fake::new("one", &farm, 0, &[]);
    // Bottom levels (60 s per unknown port): a, p and r gate a second build (120), x, b, q, s1, s2
    // are leaves (60); r has two dependents, a and p one each.
    let p = plan(&[
        ("x", &[], &[]),
        ("a", &[], &[]),
        ("b", &[1], &[]),
        ("p", &[], &[]),
        ("q", &[3], &[]),
        ("r", &[], &[]),
        ("s1", &[5], &[]),
        ("s2", &[5], &[]),
    ]);
    let summary = run(&inst, &farm, &[one], p).await;
    assert_eq!(summary.status, "complete");
    let order: Vec<String> = farm.order().into_iter().map(|(p, _)| p).collect();
    // Longest path first, then most dependents, then plan order.
    assert_eq!(
        order,
        ["r-1.0", "a-1.0", "p-1.0", "x-1.0", "b-1.0", "q-1.0", "s1-1.0", "s2-1.0"]
    );
    // b got exactly a's package; a's came from no one.
    let ran = farm.ran.lock().unwrap().clone();
    assert_eq!(ran[4].deps, [hpkg("a")], "b gets exactly a's package");
    assert!(ran[0].deps.is_empty());
}

#[tokio::test]
async fn independent_builds_run_in_parallel_on_every_builder() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    let names = ["p0", "p1", "p2", "p3", "p4", "p5"];
    for n in names {
        farm.build_ms.lock().unwrap().insert(format!("{n}-1.0"), 120);
    }
    let builders = [
        Fake::new("b1", &farm, 0, &[]),
        Fake::new("b2", &farm, 0, &[]),
        Fake::new("b3", &farm, 0, &[]),
    ];
    let p = plan(&names.map(|n| (n, &[][..], &[][..])));
    let summary = run(&inst, &farm, &builders, p).await;
    assert_eq!(summary.complete.len(), 6);
    // Six 120 ms builds on three builders: two rounds of three at once, not six one after another
    // (measured by overlap, not wall time, which a busy machine stretches).
    let ran = farm.ran.lock().unwrap().clone();
    let max_overlap = ran
        .iter()
        .map(|r| {
            ran.iter()
                .filter(|o| o.start <= r.start && o.end > r.start)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(max_overlap, 3);
    for b in ["b1", "b2", "b3"] {
        assert_eq!(ran.iter().filter(|r| r.builder == b).count(), 2, "{b}");
    }
}

#[tokio::test]
async fn a_build_goes_to_the_builder_that_caches_its_dependencies() {
    let sys_b = "libb-1-1-x86_64.hpkg";
    let sys_c = "libc-1-1-x86_64.hpkg";
    let inst = Instance::new(&[sys_b, sys_c], 3);
    let farm = Arc::new(Farm::default());
    farm.build_ms.lock().unwrap().insert("root-1.0".into(), 80);
    // "first" is ready at once and takes the root; the other two are idle when b and c become ready.
    let builders = [
        Fake::new("first", &farm, 0, &[]),
        Fake::new("has-c", &farm, 20, &[sys_c]),
        Fake::new("has-b", &farm, 20, &[sys_b]),
    ];
    let p = plan(&[("root", &[], &[]), ("b", &[0], &[sys_b]), ("c", &[0], &[sys_c])]);
    let summary = run(&inst, &farm, &builders, p).await;
    assert_eq!(summary.status, "complete");
    let order = farm.order();
    assert!(order.contains(&("root-1.0".into(), "first".into())), "{order:?}");
    assert!(order.contains(&("b-1.0".into(), "has-b".into())), "{order:?}");
    assert!(order.contains(&("c-1.0".into(), "has-c".into())), "{order:?}");
    let ran = farm.ran.lock().unwrap().clone();
    let b = ran.iter().find(|r| r.port == "b-1.0").unwrap();
    assert_eq!(b.deps, [sys_b.to_string(), hpkg("root")]);
}

#[tokio::test]
async fn transient_errors_retry_on_another_builder_within_the_budget() {
    let inst = Instance::new(&[], 2);
    let farm = Arc::new(Farm::default());
    // "flaky" drops the connection on "a" (which then reconnects slowly); "b" comes up a little later.
    farm.script(
        "flaky-1.0",
        "a",
        Outcome::Transient {
            then: AfterTransient::ReconnectAfterMs(150),
        },
    );
    // "doomed" drops on every builder: two attempts, then failed, and its dependent lost.
    farm.script(
        "doomed-1.0",
        "*",
        Outcome::Transient {
            then: AfterTransient::ReconnectAfterMs(10),
        },
    );
    let builders = [Fake::new("a", &farm, 0, &[]), Fake::new("b", &farm, 30, &[])];
    let p = plan(&[
        ("flaky", &[], &[]),
        ("after-flaky", &[0], &[]),
        ("doomed", &[], &[]),
        ("after-doomed", &[2], &[]),
    ]);
    let summary = run(&inst, &farm, &builders, p).await;

    let flaky: Vec<String> = farm
        .order()
        .into_iter()
        .filter(|(p, _)| p == "flaky-1.0")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(flaky, ["a", "b"], "retried on the other builder");
    assert!(summary.complete.contains(&"flaky-1.0".to_string()));
    assert_eq!(farm.runs_of("doomed-1.0"), 2, "the budget is two attempts");
    let (_, why) = summary.failed.iter().find(|(p, _)| p == "doomed-1.0").unwrap();
    assert!(why.contains("2 attempts"), "{why}");
    let (_, lost) = summary
        .lost
        .iter()
        .find(|(p, _)| p == "after-doomed-1.0")
        .unwrap();
    assert!(lost.contains("doomed-1.0"), "{lost}");
    assert_eq!(summary.status, "complete (with 2 failures)");

    let store = BuildrunStore::open(&inst.state.database()).unwrap();
    let rows = store.builds(summary.id).unwrap();
    assert_eq!((rows[0].attempts, rows[0].build_numbers.len()), (2, 2));
    assert_eq!(rows[0].builder.as_deref(), Some("b"));
}

#[tokio::test]
async fn a_failure_makes_every_dependent_lost_and_the_rest_still_builds() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.script("a-1.0", "*", Outcome::Fail);
    let builders = [Fake::new("b1", &farm, 0, &[]), Fake::new("b2", &farm, 0, &[])];
    let p = plan(&[
        ("a", &[], &[]),
        ("b", &[0], &[]),
        ("c", &[1], &[]),
        ("d", &[], &[]),
    ]);
    let summary = run(&inst, &farm, &builders, p).await;
    assert_eq!(summary.status, "complete (with 3 failures)");
    assert_eq!(summary.complete, ["d-1.0"]);
    assert_eq!(farm.runs_of("a-1.0"), 1, "build failures are not retried");
    let failed = &summary.failed[0];
    assert_eq!(failed.0, "a-1.0");
    assert!(
        failed.1.contains("exit") || failed.1.contains("2"),
        "{}",
        failed.1
    );
    let mut lost = summary.lost.clone();
    lost.sort();
    assert_eq!(
        lost,
        [
            ("b-1.0".to_string(), "dependency a-1.0 failed".to_string()),
            ("c-1.0".to_string(), "dependency a-1.0 failed".to_string())
        ]
    );
    let status = inst.status(summary.id);
    assert_eq!(status["builds"]["lost"].as_array().unwrap().len(), 2);
    assert_eq!(status["builds"]["lost"][0]["lost"], true);
    assert_eq!(
        status["builds"]["failed"][0]["failureReason"].as_str().unwrap(),
        failed.1
    );
    assert_eq!(farm.runs_of("b-1.0") + farm.runs_of("c-1.0"), 0);
}

#[tokio::test]
async fn when_every_builder_is_lost_the_run_waits_and_resumes_when_one_returns() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.script(
        "x-1.0",
        "only",
        Outcome::Transient {
            then: AfterTransient::Lost,
        },
    );
    let only = Fake::new("only", &farm, 0, &[]);
    let ctx = inst.context(&farm, std::slice::from_ref(&only), CancellationToken::new());
    let p = plan(&[("x", &[], &[]), ("y", &[0], &[])]);
    let run = tokio::spawn(async move { run_buildrun(&ctx, p, "build x y").await });

    // The run stays alive and says why.
    let store = BuildrunStore::open(&inst.state.database()).unwrap();
    let start = Instant::now();
    loop {
        let status = store.buildrun(1).unwrap().map(|b| b.status).unwrap_or_default();
        if status == "waiting for builders (all lost)" {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "status stayed {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let json = inst.status(1);
    assert_eq!(json["buildStatus"], "waiting for builders (all lost)");
    assert_eq!(json["builders"]["lost"][0]["name"], "only");
    assert!(!run.is_finished());

    // The builder comes back (the fake's re-probe succeeds); x is scripted to work this time.
    farm.script("x-1.0", "only", Outcome::Success);
    only.revive();
    let summary = tokio::time::timeout(DEADLINE, run)
        .await
        .expect("finishes after the builder returns")
        .unwrap()
        .unwrap();
    assert_eq!(summary.status, "complete");
    assert_eq!(summary.complete, ["x-1.0", "y-1.0"]);
    let rows = store.builds(1).unwrap();
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].state, BuildState::Complete);
}

#[tokio::test]
async fn durations_of_earlier_runs_set_the_priority() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.build_ms.lock().unwrap().insert("slow-1.0".into(), 150);
    farm.build_ms.lock().unwrap().insert("quick-1.0".into(), 5);
    let one = [Fake::new("one", &farm, 0, &[])];
    // Never built before: equal estimates, so plan order decides.
    let first = run(
        &inst,
        &farm,
        &one,
        plan(&[("quick", &[], &[]), ("slow", &[], &[])]),
    )
    .await;
    assert_eq!(first.status, "complete");
    assert_eq!(farm.order()[0].0, "quick-1.0");

    // Next run (new versions are new builds; the port name carries the duration): slow goes first,
    // as the longer job on the critical path.
    farm.ran.lock().unwrap().clear();
    let mut next = plan(&[("quick", &[], &[]), ("slow", &[], &[])]);
    for build in &mut next.builds {
        build.port.version = "2.0".into();
        build.results = vec![format!("{}-2.0-1-x86_64.hpkg", build.port.name)];
    }
    farm.build_ms.lock().unwrap().insert("slow-2.0".into(), 150);
    let second = run(&inst, &farm, &one, next).await;
    assert_eq!(second.status, "complete");
    assert_eq!(farm.order()[0].0, "slow-2.0");
}

#[tokio::test]
async fn without_builders_nothing_is_started() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    let ctx = inst.context(&farm, &[], CancellationToken::new());
    let err = run_buildrun(&ctx, plan(&[("a", &[], &[])]), "build a")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no builders"), "{err}");
    let store = BuildrunStore::open(&inst.state.database()).unwrap();
    assert!(store.list_buildruns().unwrap().is_empty());
}
