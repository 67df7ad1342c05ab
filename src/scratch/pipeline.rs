//! A scratch build's pipeline in the gate's records (kind `scratch`), so that it is listed with the
//! others (`buildmaster gate pipelines`, `GET /api/pipelines`): opened when the scratch build starts
//! (or by `POST /api/scratch`, before it is queued), given its packages and each check's result once
//! built, and closed `green` (never promoted) or `red` with the verdict's description.
//!
//! The checks are a real buildrun's gate's (`[publish.policy]`, see [`crate::gate::buildrun`]):
//! installability with Haiku's solver rules (blocking unless the policy says otherwise), and the
//! policy's lint and test commands, run as for built packages ([`crate::gate::command_check`]) on the
//! scratch build's own files.

use std::path::{Path, PathBuf};

use super::gate_check::Installability;
use super::ScratchError;
use crate::formats::FormatKind;
use crate::gate::buildrun::HAIKUPORTS;
use crate::gate::command_check::{self, CommandOutcome};
use crate::gate::flow::GATE;
use crate::gate::policy::{CheckKind, CommandCheck, Mode, Policy};
use crate::gate::store::{CheckResult, CheckStatus, GateStore, PipelineState, StagedPackage};

/// The pipeline of one scratch build.
pub struct ScratchPipeline {
    /// The instance's state database, where the gate's records are.
    database: PathBuf,
    /// Its number.
    pub id: i64,
}

fn failed(e: impl std::fmt::Display) -> ScratchError {
    ScratchError::Check(format!("the scratch build's pipeline: {e}"))
}

impl ScratchPipeline {
    /// Opens a new pipeline for a scratch build of `reference` asked for by `who`, in `checking`.
    pub fn open(database: &Path, who: &str, reference: &str, now: i64) -> Result<Self, ScratchError> {
        let mut store = GateStore::open(database).map_err(failed)?;
        let id = store
            .create_scratch_pipeline(who, reference, now)
            .map_err(failed)?;
        Ok(Self {
            database: database.to_path_buf(),
            id,
        })
    }

    /// The pipeline `id` opened before the build started (by the API).
    pub fn existing(database: &Path, id: i64) -> Self {
        Self {
            database: database.to_path_buf(),
            id,
        }
    }

    /// Says which commit the ref named: `feature/x at 0123…`.
    pub fn resolved(&self, reference: &str, sha: &str) -> Result<(), ScratchError> {
        GateStore::open(&self.database)
            .and_then(|mut store| store.set_reference(self.id, &format!("{reference} at {sha}")))
            .map_err(failed)
    }

    /// Adds the `built` packages (their staging keys in `staged`, in the same order, when staged), records
    /// their installability results and runs `policy`'s lint and test commands on them; each blocking
    /// failure, as a line for the verdict.
    pub async fn check(
        &self,
        built: &[PathBuf],
        staged: &[String],
        installability: &Installability,
        policy: Option<&Policy>,
        now: i64,
    ) -> Result<Vec<String>, ScratchError> {
        let mut store = GateStore::open(&self.database).map_err(failed)?;
        let mut packages = Vec::new();
        for (index, file) in built.iter().enumerate() {
            let package =
                crate::formats::haiku::entry::inspect(file).map_err(|e| ScratchError::Workspace {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
            packages.push(StagedPackage {
                format: FormatKind::Haiku,
                pool_key: staged.get(index).cloned().unwrap_or_default(),
                package,
                targets: vec![HAIKUPORTS.to_string()],
            });
        }
        store.add_packages(self.id, &packages).map_err(failed)?;
        let mode = policy.map_or(Mode::Block, |p| p.mode(CheckKind::Installability));
        if mode != Mode::Off {
            for staged in &packages {
                let result = installability_result(&staged.package.file_name, installability, mode);
                store.set_check(self.id, &result, now).map_err(failed)?;
            }
        }
        let mut blocking = Vec::new();
        let Some(policy) = policy else {
            return Ok(blocking);
        };
        for (staged, file) in packages.iter().zip(built) {
            for kind in [CheckKind::Lint, CheckKind::Test] {
                let Some(command) = policy.command(kind) else {
                    continue;
                };
                let result = self
                    .run_command(&mut store, command, kind, staged, file, now)
                    .await?;
                if result.status == CheckStatus::Failed && result.blocking {
                    blocking.push(format!(
                        "{} of {} failed: {}",
                        kind.as_str(),
                        result.file_name,
                        result.summary
                    ));
                }
            }
        }
        Ok(blocking)
    }

    /// Runs the lint or test `command` on the scratch build's `file` (recorded pending first, then
    /// its result, audited); the result.
    async fn run_command(
        &self,
        store: &mut GateStore,
        command: &CommandCheck,
        kind: CheckKind,
        staged: &StagedPackage,
        file: &Path,
        now: i64,
    ) -> Result<CheckResult, ScratchError> {
        let mut result = CheckResult {
            file_name: staged.package.file_name.clone(),
            kind,
            status: CheckStatus::Pending,
            blocking: command.mode == Mode::Block,
            summary: "running".into(),
            log: String::new(),
        };
        store.set_check(self.id, &result, now).map_err(failed)?;
        // HaikuPorter's TEST() on a builder reruns a recorded build of the instance; a scratch
        // build's builds are not the instance's, so it cannot run here yet — and a test that did
        // not run never lets a verdict be green.
        let outcome = if command.on_builder.is_some() {
            CommandOutcome {
                passed: false,
                summary: "a test on a builder (on = \"builder\") is not run for scratch builds yet".into(),
                log: String::new(),
            }
        } else {
            command_check::run(command, file, &staged.package).await
        };
        result.status = if outcome.passed {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        };
        result.summary = outcome.summary;
        result.log = outcome.log;
        store.set_check(self.id, &result, now).map_err(failed)?;
        let detail = format!("{} {}: {}", kind.as_str(), result.file_name, result.summary);
        store
            .audit(GATE, "check", &format!("pipeline {}", self.id), &detail, now)
            .map_err(failed)?;
        Ok(result)
    }

    /// Closes the pipeline with the verdict: `green` for `success`, `red` otherwise.
    pub fn close(&self, verdict: &str, description: &str, now: i64) -> Result<(), ScratchError> {
        let state = if verdict == "success" {
            PipelineState::Green
        } else {
            PipelineState::Red
        };
        let summary = format!("scratch build {verdict}: {description}");
        GateStore::open(&self.database)
            .and_then(|mut store| store.set_state(self.id, state, &summary, now))
            .map_err(failed)
    }
}

/// The installability result of the scratch package `file_name`: every requirement of it that
/// `installability` found unresolved, blocking in `mode`.
fn installability_result(file_name: &str, installability: &Installability, mode: Mode) -> CheckResult {
    let problems: Vec<String> = installability
        .unresolved
        .iter()
        .filter(|u| u.package == file_name)
        .map(|u| format!("unresolved requirement \"{}\" in {HAIKUPORTS}", u.requires))
        .collect();
    CheckResult {
        file_name: file_name.to_string(),
        kind: CheckKind::Installability,
        status: if problems.is_empty() {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        },
        blocking: mode == Mode::Block,
        summary: if problems.is_empty() {
            "every requirement resolves".into()
        } else {
            problems.join("; ")
        },
        log: String::new(),
    }
}
