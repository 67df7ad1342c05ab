//! Resuming buildruns on fake builders: after a simulated crash (the run's task dropped mid-build, as
//! SIGKILL leaves it) and after a stop through the cancellation token. Nothing that completed is
//! rebuilt, build numbers keep counting, the interrupted build runs again without spending an attempt.

mod buildrun_fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster::buildrun::store::{BuildState, BuildrunStore, RunState};
use buildmaster::buildrun::{resume_unfinished, run_buildrun};
use buildrun_fake::{hpkg, plan, Fake, Farm, Instance, Outcome};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(20);

/// Waits until build `index` of buildrun 1 is active in the store.
async fn wait_active(store: &BuildrunStore, index: usize) {
    let start = Instant::now();
    loop {
        let rows = store.builds(1).unwrap_or_default();
        if rows.get(index).is_some_and(|r| r.state == BuildState::Active) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "build {index} never became active: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn chain() -> buildmaster::plan::model::Plan {
    plan(&[
        ("a", &[], &[]),
        ("b", &[0], &[]),
        ("c", &[1], &[]),
        ("d", &[2], &[]),
    ])
}

#[tokio::test]
async fn after_a_crash_the_buildrun_resumes_without_rebuilding_what_completed() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.script("c-1.0", "*", Outcome::Hang);
    let builders = [Fake::new("b1", &farm, 0, &[])];
    let ctx = inst.context(&farm, &builders, CancellationToken::new());
    let run = tokio::spawn(async move { run_buildrun(&ctx, chain(), "build d").await });
    let store = BuildrunStore::open(&inst.state.database()).unwrap();
    wait_active(&store, 2).await;
    // The crash: the run's future is dropped where it stands; no cleanup code of ours runs.
    run.abort();
    let _ = run.await;
    let before = store.builds(1).unwrap();
    assert_eq!(store.buildrun(1).unwrap().unwrap().state, RunState::Running);
    assert_eq!(before[2].state, BuildState::Active);
    let crashed_number = before[2].build_numbers[0];

    // A new process: fresh builders, c now builds.
    let farm2 = Arc::new(Farm::default());
    let builders2 = [Fake::new("b1", &farm2, 0, &[]), Fake::new("b2", &farm2, 0, &[])];
    let ctx2 = inst.context(&farm2, &builders2, CancellationToken::new());
    let summary = tokio::time::timeout(DEADLINE, resume_unfinished(&ctx2))
        .await
        .expect("resume finishes")
        .unwrap()
        .expect("there was a buildrun to resume");
    assert!(summary.resumed);
    assert_eq!((summary.id, summary.status.as_str()), (1, "complete"));
    assert_eq!(
        farm2.runs_of("a-1.0") + farm2.runs_of("b-1.0"),
        0,
        "completed builds are not rebuilt"
    );
    assert_eq!((farm2.runs_of("c-1.0"), farm2.runs_of("d-1.0")), (1, 1));
    // c was given b's package from the first process's results.
    let ran = farm2.ran.lock().unwrap().clone();
    assert_eq!(ran[0].deps, [hpkg("b")]);

    let rows = store.builds(1).unwrap();
    assert!(rows.iter().all(|r| r.state == BuildState::Complete));
    assert_eq!(rows[2].attempts, 1, "the interrupted attempt is not counted");
    assert_eq!(rows[2].build_numbers.len(), 2);
    assert!(rows[2].build_numbers[1] > crashed_number, "numbers keep counting");
    assert!(rows[3].build_numbers[0] > rows[2].build_numbers[1]);
    assert_eq!(store.buildrun(1).unwrap().unwrap().state, RunState::Complete);
    assert!(
        resume_unfinished(&ctx2).await.unwrap().is_none(),
        "nothing left to resume"
    );
    // The next buildrun takes the next number, and its builds continue the count.
    let next = run_buildrun(&ctx2, plan(&[("e", &[], &[])]), "build e")
        .await
        .unwrap();
    assert_eq!(next.id, 2);
    let e = store.builds(2).unwrap();
    assert_eq!(e[0].build_numbers[0], rows[3].build_numbers[0] + 1);
}

#[tokio::test]
async fn a_stopped_buildrun_is_interrupted_and_resumable() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.script("b-1.0", "*", Outcome::Hang);
    let cancel = CancellationToken::new();
    let builders = [Fake::new("b1", &farm, 0, &[])];
    let ctx = inst.context(&farm, &builders, cancel.clone());
    let run = tokio::spawn(async move { run_buildrun(&ctx, chain(), "build d").await });
    let store = BuildrunStore::open(&inst.state.database()).unwrap();
    wait_active(&store, 1).await;
    cancel.cancel();
    let summary = tokio::time::timeout(DEADLINE, run)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.status, "interrupted (resumable)");
    assert_eq!(summary.complete, ["a-1.0"]);
    let info = store.buildrun(1).unwrap().unwrap();
    assert_eq!(info.state, RunState::Interrupted);
    let rows = store.builds(1).unwrap();
    assert_eq!((rows[1].state, rows[1].attempts), (BuildState::Scheduled, 0));
    assert!(rows[1].failure_reason.as_deref().unwrap().contains("interrupted"));
    let status = inst.status(1);
    assert_eq!(status["buildStatus"], "interrupted (resumable)");
    assert_eq!(status["builds"]["scheduled"][0]["port"]["name"], "b");

    let farm2 = Arc::new(Farm::default());
    let builders2 = [Fake::new("b1", &farm2, 0, &[])];
    let ctx2 = inst.context(&farm2, &builders2, CancellationToken::new());
    let summary = resume_unfinished(&ctx2).await.unwrap().unwrap();
    assert_eq!(summary.status, "complete");
    assert_eq!(farm2.order().len(), 3, "b, c, d only");
    assert_eq!(farm2.runs_of("a-1.0"), 0);
}

#[tokio::test]
async fn a_completed_build_whose_results_vanished_is_rebuilt_on_resume() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.script("b-1.0", "*", Outcome::Hang);
    let builders = [Fake::new("b1", &farm, 0, &[])];
    let ctx = inst.context(&farm, &builders, CancellationToken::new());
    let run = tokio::spawn(async move { run_buildrun(&ctx, chain(), "build d").await });
    let store = BuildrunStore::open(&inst.state.database()).unwrap();
    wait_active(&store, 1).await;
    run.abort();
    let _ = run.await;
    // a's package is gone from the spool and was never recorded as published.
    std::fs::remove_file(inst.state.packages().join(hpkg("a"))).unwrap();

    let farm2 = Arc::new(Farm::default());
    let builders2 = [Fake::new("b1", &farm2, 0, &[])];
    let ctx2 = inst.context(&farm2, &builders2, CancellationToken::new());
    let summary = resume_unfinished(&ctx2).await.unwrap().unwrap();
    assert_eq!(summary.status, "complete");
    assert_eq!(farm2.runs_of("a-1.0"), 1);
    let master = std::fs::read_to_string(inst.output().join("buildruns/1/master.log")).unwrap();
    assert!(master.contains("results missing after restart"), "{master}");
}
