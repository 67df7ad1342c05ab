//! Tests of the daemon loop with fake jobs: order of work, trigger files, pause, shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::control::{Activity, DaemonStatus, Request, Wanted};
use super::run::{run, DaemonSettings, JobOutcome, Jobs};

/// Records every call; a buildrun of port "slow" runs until cancelled.
#[derive(Default)]
struct FakeJobs {
    calls: Mutex<Vec<String>>,
    /// How many publishes fail (storage down) before they succeed again.
    failing_publishes: Mutex<u32>,
}

impl FakeJobs {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Jobs for FakeJobs {
    async fn resume(&self, _cancel: &CancellationToken) -> anyhow::Result<Option<JobOutcome>> {
        self.calls.lock().unwrap().push("resume".into());
        Ok(Some(JobOutcome {
            built_packages: 1,
            interrupted: false,
            unpublished: true,
        }))
    }

    async fn buildrun(&self, request: &Wanted, cancel: &CancellationToken) -> anyhow::Result<JobOutcome> {
        self.calls.lock().unwrap().push(format!("buildrun {request:?}"));
        if *request == Wanted::Ports(vec!["slow".into()]) {
            cancel.cancelled().await;
            self.calls.lock().unwrap().push("checkpointed".into());
            return Ok(JobOutcome {
                built_packages: 0,
                interrupted: true,
                unpublished: false,
            });
        }
        let built = usize::from(matches!(request, Wanted::Ports(_)));
        Ok(JobOutcome {
            built_packages: built,
            interrupted: false,
            unpublished: built > 0,
        })
    }

    async fn publish(&self) -> anyhow::Result<()> {
        self.calls.lock().unwrap().push("publish".into());
        let mut failing = self.failing_publishes.lock().unwrap();
        if *failing > 0 {
            *failing -= 1;
            anyhow::bail!("storage put of repo failed: could not reach the S3 endpoint");
        }
        Ok(())
    }
}

async fn wait_for(jobs: &FakeJobs, what: &str) {
    for _ in 0..200 {
        if jobs.calls().iter().any(|c| c == what) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never saw {what:?}; calls: {:?}", jobs.calls());
}

#[tokio::test]
async fn resumes_then_updates_honours_triggers_and_pause_and_stops_cleanly() {
    let tree = tempfile::tempdir().unwrap();
    let trigger_dir = tree.path().join("buildmaster");
    std::fs::create_dir_all(&trigger_dir).unwrap();
    let jobs = Arc::new(FakeJobs::default());
    let (tx, rx) = mpsc::channel(8);
    let (status_tx, status_rx) = watch::channel(DaemonStatus::default());
    let shutdown = CancellationToken::new();
    let settings = DaemonSettings {
        tree: tree.path().to_path_buf(),
        poll_interval: Duration::from_millis(30),
        webhook_url: None,
        pull: false,
    };
    let daemon = tokio::spawn(run(settings, jobs.clone(), rx, status_tx, shutdown.clone()));

    // Start: the unfinished buildrun is resumed and published, then an --update buildrun looks at HEAD.
    wait_for(&jobs, "buildrun Update").await;
    assert_eq!(jobs.calls()[..3], ["resume", "publish", "buildrun Update"]);

    // A do-packages trigger file starts a buildrun of its ports, then a publish.
    std::fs::write(trigger_dir.join("do-packages"), "zlib\n").unwrap();
    wait_for(&jobs, "buildrun Ports([\"zlib\"])").await;
    assert!(
        !trigger_dir.join("do-packages").exists(),
        "the trigger file is consumed"
    );

    // Paused through the API: requests wait; resumed: they run.
    tx.send(Request::Pause).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(Request::Publish).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(status_rx.borrow().activity, Activity::Paused { .. }));
    let publishes = jobs.calls().iter().filter(|c| *c == "publish").count();
    assert_eq!(publishes, 2, "no publish while paused: {:?}", jobs.calls());
    tx.send(Request::Resume).await.unwrap();
    for _ in 0..100 {
        if jobs.calls().iter().filter(|c| *c == "publish").count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(jobs.calls().iter().filter(|c| *c == "publish").count(), 3);

    // A stop file pauses too.
    std::fs::write(trigger_dir.join("stop"), "").unwrap();
    std::fs::write(trigger_dir.join("do-repository"), "").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        trigger_dir.join("do-repository").exists(),
        "no trigger is taken while stopped"
    );
    std::fs::remove_file(trigger_dir.join("stop")).unwrap();
    for _ in 0..100 {
        if !trigger_dir.join("do-repository").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!trigger_dir.join("do-repository").exists());

    // Shutdown during a buildrun: the job is checkpointed, nothing is published, the loop ends.
    tx.send(Request::Buildrun(Wanted::Ports(vec!["slow".into()])))
        .await
        .unwrap();
    wait_for(&jobs, "buildrun Ports([\"slow\"])").await;
    let before = jobs.calls().len();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), daemon)
        .await
        .expect("the loop stops promptly")
        .unwrap();
    assert_eq!(jobs.calls()[before..], ["checkpointed"]);
    assert_eq!(status_rx.borrow().activity, Activity::Stopping);
}

#[tokio::test]
async fn a_failed_publish_is_retried_at_the_next_polls_until_it_succeeds() {
    let tree = tempfile::tempdir().unwrap();
    let jobs = Arc::new(FakeJobs::default());
    // The publish after the resumed buildrun and the next one fail: storage is down for a while.
    *jobs.failing_publishes.lock().unwrap() = 2;
    let (_tx, rx) = mpsc::channel(8);
    let (status_tx, mut status_rx) = watch::channel(DaemonStatus::default());
    let shutdown = CancellationToken::new();
    let settings = DaemonSettings {
        tree: tree.path().to_path_buf(),
        poll_interval: Duration::from_millis(30),
        webhook_url: None,
        pull: false,
    };
    let daemon = tokio::spawn(run(settings, jobs.clone(), rx, status_tx, shutdown.clone()));

    // Nobody asks again: the daemon publishes a third time by itself, and the error clears.
    let recovered = tokio::time::timeout(
        Duration::from_secs(10),
        status_rx.wait_for(|s| s.last_error.is_none() && *jobs.failing_publishes.lock().unwrap() == 0),
    );
    let publishes = || jobs.calls().iter().filter(|c| *c == "publish").count();
    for _ in 0..500 {
        if publishes() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(publishes(), 3, "calls: {:?}", jobs.calls());
    recovered.await.expect("last_error cleared").unwrap();
    // Once it succeeded, no more publishes are queued.
    let after = publishes();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(publishes(), after, "calls: {:?}", jobs.calls());
    shutdown.cancel();
    daemon.await.unwrap();
}
