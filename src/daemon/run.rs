//! The daemon's loop. It owns the job queue and runs one job at a time; everything else (API handlers,
//! the poll timer, signals) only sends it requests or cancels its token. Its status goes out on a
//! `watch` channel.
//!
//! Order of a turn, as HaikuPorter's `loop`: bring the tree up to date, honour a `stop` file, take a
//! trigger file, else start an `--update` buildrun when HEAD moved. A buildrun that built anything is
//! followed by a publish, and a successful publish by the webhook. SIGTERM cancels the running job: the
//! buildrun checkpoints (builds in flight go back to the queue in the database) and the next start
//! resumes it before anything else.
//!
//! A publish that failed (storage down longer than the publish's own retry window) is queued again at
//! every poll until one succeeds, so the daemon recovers from an outage by itself and its `last_error`
//! clears once storage is back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::control::{enqueue, Activity, DaemonStatus, Request, Wanted};
use super::triggers::{Trigger, TriggerDir};
use super::{git, webhook};

/// What a job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobOutcome {
    /// Packages the buildrun produced.
    pub built_packages: usize,
    /// The spool holds packages not yet published (built now, or left by a failed publish): a publish
    /// follows.
    pub unpublished: bool,
    /// The job was cancelled by shutdown and left resumable.
    pub interrupted: bool,
}

/// The jobs the daemon runs; implemented over the buildrun executor and the publisher (and by fakes in
/// tests of the loop itself).
#[async_trait]
pub trait Jobs: Send + Sync {
    /// Finishes a buildrun left unfinished by a previous process, if there is one.
    async fn resume(&self, cancel: &CancellationToken) -> anyhow::Result<Option<JobOutcome>>;
    /// Plans and runs one buildrun.
    async fn buildrun(&self, request: &Wanted, cancel: &CancellationToken) -> anyhow::Result<JobOutcome>;
    /// Publishes the spool (upload, verify, stub, index).
    async fn publish(&self) -> anyhow::Result<()>;
}

/// The loop's fixed settings.
#[derive(Clone, Debug)]
pub struct DaemonSettings {
    /// The ports tree checkout.
    pub tree: PathBuf,
    /// How often the tree is pulled and the trigger files are checked.
    pub poll_interval: Duration,
    /// Called with POST after each successful publish.
    pub webhook_url: Option<String>,
    /// Pull the tree from its upstream on every poll (off for trees the operator manages).
    pub pull: bool,
}

/// Runs the loop until `shutdown` is cancelled. Requests arrive on `requests`; the status goes out on
/// `status`.
pub async fn run(
    settings: DaemonSettings,
    jobs: Arc<dyn Jobs>,
    mut requests: mpsc::Receiver<Request>,
    status: watch::Sender<DaemonStatus>,
    shutdown: CancellationToken,
) {
    let triggers = TriggerDir::new(&settings.tree);
    let mut queue: Vec<Request> = Vec::new();
    let mut paused_by_api = false;
    let mut last_head: Option<String> = None;

    // Whether the last publish failed: retried at every poll until one succeeds.
    let mut publish_failed = false;
    match jobs.resume(&shutdown).await {
        Ok(Some(outcome)) => {
            let published = after_buildrun(&settings, &*jobs, &status, outcome, &shutdown).await;
            publish_failed = published == Some(false);
        }
        Ok(None) => {}
        Err(err) => report_error(&status, format!("resuming the unfinished buildrun: {err:#}")),
    }
    // Whatever the tree's HEAD is at start, let an --update buildrun look at it (it is a no-op when the
    // processed revision is already HEAD).
    enqueue(&mut queue, Request::Buildrun(Wanted::Update));

    let mut tick = tokio::time::interval(settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop_file = triggers.paused();
        let paused = paused_by_api || stop_file;
        status.send_modify(|s| {
            s.queue = queue.clone();
            s.activity = if paused {
                Activity::Paused {
                    by: if paused_by_api {
                        "api".into()
                    } else {
                        "stop file".into()
                    },
                }
            } else {
                Activity::Idle
            };
        });
        if !paused && !queue.is_empty() {
            let job = queue.remove(0);
            status.send_modify(|s| {
                s.queue = queue.clone();
                s.activity = Activity::Running { job: job.clone() };
            });
            if let Some(published) = run_job(&settings, &*jobs, &status, &job, &shutdown).await {
                publish_failed = !published;
            }
            if shutdown.is_cancelled() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            request = requests.recv() => match request {
                Some(Request::Pause) => paused_by_api = true,
                Some(Request::Resume) => paused_by_api = false,
                Some(request) => enqueue(&mut queue, request),
                None => break,
            },
            _ = tick.tick() => {
                poll(&settings, &triggers, &status, &mut queue, &mut last_head).await;
                if publish_failed {
                    enqueue(&mut queue, Request::Publish);
                }
            }
        }
    }
    status.send_modify(|s| s.activity = Activity::Stopping);
    tracing::info!("daemon loop stopped");
}

/// One poll: pull, read HEAD, take a trigger file.
async fn poll(
    settings: &DaemonSettings,
    triggers: &TriggerDir,
    status: &watch::Sender<DaemonStatus>,
    queue: &mut Vec<Request>,
    last_head: &mut Option<String>,
) {
    if settings.pull {
        if let Err(err) = git::pull(&settings.tree).await {
            tracing::warn!(%err, "could not update the ports tree; building from the current checkout");
        }
    }
    match git::head(&settings.tree).await {
        Ok(head) => {
            if last_head.as_ref().is_some_and(|h| *h != head) {
                tracing::info!(head, "new ports tree revision");
                enqueue(queue, Request::Buildrun(Wanted::Update));
            }
            status.send_modify(|s| s.ports_tree_head = Some(head.clone()));
            *last_head = Some(head);
        }
        Err(err) => tracing::warn!(%err, "cannot read the ports tree's HEAD"),
    }
    if triggers.paused() {
        return;
    }
    match triggers.take() {
        Ok(Some(Trigger::Everything)) => enqueue(queue, Request::Buildrun(Wanted::Everything)),
        Ok(Some(Trigger::Packages(ports))) if !ports.is_empty() => {
            enqueue(queue, Request::Buildrun(Wanted::Ports(ports)))
        }
        Ok(Some(Trigger::Packages(_))) => tracing::warn!("do-packages named no port; ignored"),
        Ok(Some(Trigger::Repository)) => enqueue(queue, Request::Publish),
        Ok(None) => {}
        Err(err) => tracing::warn!(%err, "cannot read a trigger file; will retry"),
    }
}

/// Runs `job`; whether a publish it ran succeeded (`None`: it ran none).
async fn run_job(
    settings: &DaemonSettings,
    jobs: &dyn Jobs,
    status: &watch::Sender<DaemonStatus>,
    job: &Request,
    shutdown: &CancellationToken,
) -> Option<bool> {
    match job {
        Request::Buildrun(request) => match jobs.buildrun(request, shutdown).await {
            Ok(outcome) => after_buildrun(settings, jobs, status, outcome, shutdown).await,
            Err(err) => {
                report_error(status, format!("buildrun ({request:?}): {err:#}"));
                None
            }
        },
        Request::Publish => Some(publish(settings, jobs, status).await),
        Request::Pause | Request::Resume => None,
    }
}

async fn after_buildrun(
    settings: &DaemonSettings,
    jobs: &dyn Jobs,
    status: &watch::Sender<DaemonStatus>,
    outcome: JobOutcome,
    shutdown: &CancellationToken,
) -> Option<bool> {
    status.send_modify(|s| s.last_error = None);
    if outcome.interrupted || shutdown.is_cancelled() {
        tracing::info!("buildrun interrupted; it resumes at the next start");
        return None;
    }
    if outcome.unpublished {
        return Some(publish(settings, jobs, status).await);
    }
    None
}

/// Publishes, then calls the webhook; whether the publish succeeded.
async fn publish(settings: &DaemonSettings, jobs: &dyn Jobs, status: &watch::Sender<DaemonStatus>) -> bool {
    status.send_modify(|s| {
        s.activity = Activity::Running {
            job: Request::Publish,
        }
    });
    if let Err(err) = jobs.publish().await {
        report_error(status, format!("publish: {err:#}"));
        return false;
    }
    status.send_modify(|s| s.last_error = None);
    if let Some(url) = &settings.webhook_url {
        match webhook::call(url).await {
            Ok(code) if (200..300).contains(&code) => {
                tracing::info!(url = webhook::redacted(url), code, "webhook called")
            }
            Ok(code) => tracing::warn!(
                url = webhook::redacted(url),
                code,
                "webhook answered with an error"
            ),
            Err(err) => tracing::warn!(url = webhook::redacted(url), err, "webhook call failed"),
        }
    }
    true
}

fn report_error(status: &watch::Sender<DaemonStatus>, message: String) {
    tracing::error!("{message}");
    status.send_modify(|s| s.last_error = Some(message));
}
