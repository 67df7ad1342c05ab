//! One task per builder: wait until the builder is ready, say so, take the job the executor assigns,
//! run it with its output streaming into the build log, report the outcome, repeat. The executor never
//! waits on a builder itself, so one slow connection attempt holds nothing else up.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::builder::{Builder, Snapshot};
use super::inputs::{self, InputSettings};
use super::store::now_secs;
use crate::builders::build::{BuildOutcome, BuildRequest};
use crate::builders::build_log::BuildLog;
use crate::builders::error::BuilderError;
use crate::builders::exec::Stream;
use crate::builders::state::BuilderState;
use crate::ports::model::Port;

/// A build assigned to a builder.
#[derive(Debug)]
pub struct Job {
    /// The build's plan index.
    pub index: usize,
    /// What to build.
    pub request: BuildRequest,
    /// Where its output goes.
    pub log: PathBuf,
    /// The cap on that log, in bytes.
    pub log_limit: u64,
    /// What its inputs and manifest are made from, just before it starts.
    pub inputs: JobInputsFor,
}

/// What a job's inputs are made from (see [`super::inputs`]).
#[derive(Clone, Debug)]
pub struct JobInputsFor {
    /// The buildrun's settings.
    pub settings: Arc<InputSettings>,
    /// The port built.
    pub port: Port,
}

/// What a worker tells the executor.
#[derive(Debug)]
pub enum Event {
    /// The builder cannot take builds right now (reconnecting or lost).
    Unavailable {
        /// Builder index.
        builder: usize,
        /// Its state and last error.
        snapshot: Snapshot,
    },
    /// The builder is ready and waits for a job.
    Idle {
        /// Builder index.
        builder: usize,
    },
    /// A job ended.
    Finished {
        /// Builder index.
        builder: usize,
        /// The build's plan index.
        index: usize,
        /// The attempt's build number.
        number: u64,
        /// When the attempt started (Unix seconds).
        started: f64,
        /// Its outcome.
        result: Result<BuildOutcome, BuilderError>,
    },
}

/// Runs the worker of builder `index` until `cancel` fires or the executor stops sending jobs.
pub async fn run(
    index: usize,
    builder: Arc<dyn Builder>,
    mut jobs: mpsc::Receiver<Job>,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
) {
    loop {
        let snapshot = builder.snapshot();
        if snapshot.state != BuilderState::Available && snapshot.state != BuilderState::Busy {
            let _ = events.send(Event::Unavailable {
                builder: index,
                snapshot,
            });
        }
        let report = |snapshot: Snapshot| {
            let _ = events.send(Event::Unavailable {
                builder: index,
                snapshot,
            });
        };
        if !builder.wait_ready(&report, &cancel).await {
            return;
        }
        if events.send(Event::Idle { builder: index }).is_err() {
            return;
        }
        let Some(job) = jobs.recv().await else {
            return;
        };
        let started = now_secs();
        let result = run_job(&*builder, &job, &cancel).await;
        let finished = Event::Finished {
            builder: index,
            index: job.index,
            number: job.request.number,
            started,
            result,
        };
        if events.send(finished).is_err() {
            return;
        }
    }
}

async fn run_job(
    builder: &dyn Builder,
    job: &Job,
    cancel: &CancellationToken,
) -> Result<BuildOutcome, BuilderError> {
    let mut log = BuildLog::create_capped(&job.log, job.log_limit).map_err(|source| BuilderError::Local {
        op: "create the build log",
        path: job.log.clone(),
        source,
    })?;
    let mut request = job.request.clone();
    let result = match prepare_inputs(builder, job, &mut request).await {
        Ok(note) => {
            log.append(Stream::Stdout, note.as_bytes());
            let mut sink = |stream, data: &[u8]| log.append(stream, data);
            builder.build(&request, &mut sink, cancel).await
        }
        Err(err) => {
            log.append(Stream::Stderr, format!("{err}\n").as_bytes());
            Err(err)
        }
    };
    if let Err(err) = log.finish() {
        // The build's outcome stands; only its log is incomplete.
        tracing::warn!(builder = builder.name(), log = %job.log.display(), %err, "build log write failed");
    }
    result
}

/// Places the job's sources and records its manifest (see [`super::inputs`]); says what was recorded,
/// for the build log.
async fn prepare_inputs(
    builder: &dyn Builder,
    job: &Job,
    request: &mut crate::builders::build::BuildRequest,
) -> Result<String, BuilderError> {
    let Some(side) = builder.job_side() else {
        return Ok(String::new());
    };
    let manifest = inputs::prepare(&job.inputs.settings, &side, &job.inputs.port, request).await?;
    Ok(format!(
        "job manifest recorded: {} sources, {} dependencies, inputs sha256 {}\n",
        manifest.inputs.sources.len(),
        manifest.inputs.dependencies.len(),
        manifest.inputs_sha256
    ))
}
