//! Backoff between attempts, on fake in-memory builders: a transient error on the only builder (a full
//! disk) does not burn every attempt at once — each retry on the builder it failed on waits
//! `retry_base · 2^(n-1)` — while a builder the build has not failed on takes it at once.

mod buildrun_fake;

use std::sync::Arc;
use std::time::Duration;

use buildmaster::buildrun::{run_buildrun, Patience};
use buildrun_fake::{plan, Fake, Farm, Instance, Outcome};
use tokio_util::sync::CancellationToken;

/// Every run here ends well within this, so a scheduling bug fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(20);

/// Short delays, so the test is quick yet the gaps are far above scheduling noise.
fn patience() -> Patience {
    Patience {
        retry_base: Duration::from_millis(300),
        retry_max: Duration::from_secs(10),
        ..Patience::default()
    }
}

#[tokio::test]
async fn retries_on_the_same_builder_back_off() {
    let inst = Instance::new(&[], 3);
    let farm = Arc::new(Farm::default());
    farm.script("x-1.0", "only", Outcome::Infrastructure);
    let only = Fake::new("only", &farm, 0, &[]);
    let mut ctx = inst.context(&farm, std::slice::from_ref(&only), CancellationToken::new());
    ctx.patience = patience();
    let summary = tokio::time::timeout(DEADLINE, run_buildrun(&ctx, plan(&[("x", &[], &[])]), "build x"))
        .await
        .expect("the buildrun finishes")
        .expect("the buildrun runs");

    let runs = farm.ran.lock().unwrap().clone();
    assert_eq!(runs.len(), 3, "three attempts: {runs:?}");
    let gaps: Vec<Duration> = runs.windows(2).map(|w| w[1].start - w[0].end).collect();
    assert!(gaps[0] >= Duration::from_millis(300), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(600), "{gaps:?}");
    let (_, why) = &summary.failed[0];
    assert!(
        why.contains("3 attempts failed") && why.contains("No space left"),
        "{why}"
    );
}

#[tokio::test]
async fn another_builder_takes_the_retry_at_once() {
    let inst = Instance::new(&[], 2);
    let farm = Arc::new(Farm::default());
    farm.script("x-1.0", "a", Outcome::Infrastructure);
    // "b" comes up after "a" has taken (and failed) the build.
    let builders = [Fake::new("a", &farm, 0, &[]), Fake::new("b", &farm, 100, &[])];
    let mut ctx = inst.context(&farm, &builders, CancellationToken::new());
    ctx.patience = Patience {
        retry_base: Duration::from_secs(3600),
        ..patience()
    };
    let summary = tokio::time::timeout(DEADLINE, run_buildrun(&ctx, plan(&[("x", &[], &[])]), "build x"))
        .await
        .expect("the retry did not wait for the hour-long backoff")
        .expect("the buildrun runs");
    assert_eq!(summary.complete, ["x-1.0"]);
    let order = farm.order();
    let expected = [("x-1.0", "a"), ("x-1.0", "b")].map(|(p, b)| (p.to_string(), b.to_string()));
    assert_eq!(order, expected);
}
