//! [`Jobs`] for a real instance: buildruns through [`crate::buildrun`] (planning included), publishes
//! through [`crate::publish`] — the same functions `buildmaster buildrun` and `buildmaster publish` call,
//! so the daemon and the CLI cannot drift apart. A Debian or RPM tree's packages are pushed into
//! `[ports] repository` instead ([`crate::buildrun::served::push_unpushed`]).
//!
//! One decision of the daemon's own: an `--update` request on an instance that has never processed a
//! revision (a fresh install) runs as `--everything` (which records HEAD, see [`crate::buildrun::job`]),
//! so a new daemon bootstraps itself instead of failing every poll.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use buildmaster_storage::StorageBackend;
use tokio_util::sync::CancellationToken;

use super::control::Wanted;
use super::run::{JobOutcome, Jobs};
use crate::buildrun::served;
use crate::buildrun::{plan_and_run, resume_unfinished, Builder, Context, Patience, Summary};
use crate::config::instance::InstanceConfig;
use crate::plan::recipe_tree::TreeKind;
use crate::plan::revision::get_processed_revision;
use crate::publish::retry::one_sentence;
use crate::publish::spool::has_unpublished;
use crate::publish::{publish, PublishSettings, Publisher};
use crate::repos::service::PushOutcome;
use crate::server::metrics::{Metrics, Outcome};
use crate::state::{Database, StateDir};

/// The jobs of one instance.
pub struct InstanceJobs {
    /// The state directory.
    pub state: StateDir,
    /// The instance config.
    pub config: InstanceConfig,
    /// The builders, kept across buildruns (their connections and cache listings too).
    pub builders: Vec<Arc<dyn Builder>>,
    /// Where packages and the index are published.
    pub storage: Arc<dyn StorageBackend>,
    /// Publish durations and outcomes go here.
    pub metrics: Metrics,
}

impl InstanceJobs {
    fn context(&self, cancel: &CancellationToken) -> Context {
        Context {
            state: self.state.clone(),
            config: self.config.clone(),
            builders: self.builders.clone(),
            cancel: cancel.clone(),
            observer: Some(Arc::new(self.metrics.clone())),
            // The daemon waits for builders to come back: it runs until stopped.
            patience: Patience::default(),
        }
    }
}

impl InstanceJobs {
    /// A Debian or RPM tree's publish: its built packages pushed into `[ports] repository`, as
    /// `buildmaster buildrun` does ([`served::push_unpushed`]).
    async fn push_served(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let (config, state, storage) = (self.config.clone(), self.state.clone(), self.storage.clone());
        // The push service holds the SQLite connection across awaits (a !Send future), as the
        // publisher does: it runs on a blocking thread of its own, driven by this runtime.
        let runtime = tokio::runtime::Handle::current();
        let result = tokio::task::spawn_blocking(move || {
            runtime.block_on(served::push_unpushed(&config, &state, storage, "daemon"))
        })
        .await?;
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        self.metrics.observe_publish(started.elapsed(), outcome);
        match result.map_err(anyhow::Error::msg)? {
            Some(PushOutcome::Published(report)) => {
                tracing::info!(
                    uploaded = report.uploaded.len(),
                    linked = report.linked.len(),
                    "pushed"
                )
            }
            Some(PushOutcome::Gated(gated)) => {
                tracing::info!(
                    staged = gated.staged.len(),
                    pipeline = gated.pipeline.id,
                    "pushed behind the gate"
                )
            }
            None => {}
        }
        Ok(())
    }

    fn outcome(&self, summary: Option<&Summary>) -> anyhow::Result<JobOutcome> {
        let db = Database::open(&self.state.database())?;
        Ok(JobOutcome {
            built_packages: summary.map_or(0, |s| s.built_packages.len()),
            interrupted: summary.is_some_and(|s| s.interrupted),
            unpublished: match self.config.ports.kind {
                TreeKind::Haikuports => has_unpublished(&self.state, &db)?,
                _ => !served::unpushed(&self.config, &self.state)
                    .map_err(anyhow::Error::msg)?
                    .is_empty(),
            },
        })
    }
}

fn log_summary(summary: &Summary) {
    tracing::info!(
        buildrun = summary.id,
        status = summary.status,
        built = summary.complete.len(),
        failed = summary.failed.len(),
        lost = summary.lost.len(),
        skipped = summary.skipped.len(),
        "buildrun ended"
    );
}

#[async_trait]
impl Jobs for InstanceJobs {
    async fn resume(&self, cancel: &CancellationToken) -> anyhow::Result<Option<JobOutcome>> {
        let summary = resume_unfinished(&self.context(cancel)).await?;
        if let Some(summary) = &summary {
            log_summary(summary);
        }
        summary.as_ref().map(|s| self.outcome(Some(s))).transpose()
    }

    async fn buildrun(&self, request: &Wanted, cancel: &CancellationToken) -> anyhow::Result<JobOutcome> {
        let bootstrap =
            *request == Wanted::Update && get_processed_revision(&self.state.database())?.is_none();
        let wanted = if bootstrap {
            tracing::info!("no processed revision yet: building everything once, then following updates");
            Wanted::Everything
        } else {
            request.clone()
        };
        let report = plan_and_run(&self.context(cancel), &wanted).await?;
        if let Some(summary) = &report.summary {
            log_summary(summary);
        }
        // `plan_and_run` recorded HEAD for the `--everything` run, so the next poll follows updates.
        self.outcome(report.summary.as_ref())
    }

    async fn publish(&self) -> anyhow::Result<()> {
        if self.config.ports.kind != TreeKind::Haikuports {
            return self.push_served().await;
        }
        let started = Instant::now();
        let (state, storage) = (self.state.clone(), self.storage.clone());
        // `[publish]` of buildmaster.toml (the retry window, the gate), as `buildmaster publish` reads it.
        let settings = PublishSettings::for_instance(&self.config, self.state.root(), "daemon").await?;
        // The publisher holds the SQLite connection across awaits, which makes its future !Send: it runs
        // on a blocking thread of its own, driven by this runtime.
        let runtime = tokio::runtime::Handle::current();
        let result = tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                let mut publisher = Publisher {
                    db: Database::open(&state.database())?,
                    state,
                    storage,
                    settings,
                };
                // One sentence for the status page (the log below keeps the whole error).
                publish(&mut publisher, false).await.map_err(|err| {
                    tracing::warn!(%err, "publish failed");
                    anyhow::Error::msg(one_sentence(&err))
                })
            })
        })
        .await?;
        let ok = result.is_ok();
        self.metrics.observe_publish(
            started.elapsed(),
            if ok { Outcome::Success } else { Outcome::Failure },
        );
        let report = result?;
        for rejected in &report.rejected {
            tracing::warn!(file = %rejected.path.display(), reason = rejected.reason, "package not published");
        }
        if let Some(gate) = &report.gate {
            for (pipeline, why) in &gate.red {
                tracing::info!(pipeline, why, "built packages stay staged");
            }
        }
        tracing::info!(
            uploaded = report.uploaded.len(),
            index_packages = report.index_packages,
            repo_sha256 = report.repo_sha256,
            "published"
        );
        Ok(())
    }
}
