//! A scratch build's pipeline in the gate's records (kind `scratch`), so that it is listed with the
//! others (`buildmaster gate pipelines`, `GET /api/pipelines`): opened when the scratch build starts
//! (or by `POST /api/scratch`, before it is queued), given its packages and each check's result once
//! built, and closed `green` (never promoted) or `red` with the verdict's description.
//!
//! The checks are a real buildrun's gate's (`[publish.policy]`, see [`crate::gate::buildrun`]):
//! installability (blocking unless the policy says otherwise), and the policy's lint and test, run as
//! for built packages ([`crate::gate::command_check`]) on the scratch build's own files — a test on a
//! builder too ([`for_scratch`]: HaikuPorter's `TEST()` reruns the scratch build's own recorded job
//! with `--test` on the policy's builder; a Debian package's tests as a push's). A Debian or RPM
//! tree's checks are its `[ports] repository`'s policy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::StorageBackend;

use super::gate_check::Installability;
use super::ScratchError;
use crate::config::instance::InstanceConfig;
use crate::gate::builder_tests::haiku;
use crate::gate::command_check::{self, Staged, Subject};
use crate::gate::flow::GATE;
use crate::gate::policy::{CheckKind, CommandCheck, Mode, Policy};
use crate::gate::store::{CheckResult, CheckStatus, GateStore, PipelineState, StagedPackage};
use crate::state::StateDir;

/// `policy` as a scratch build runs it: a test on a builder reruns the jobs recorded in the scratch
/// build's own `state` (its builds, not the instance's — HaikuPorter's `TEST()` runs with the
/// port's build), on the instance's builders (`config`, `builders_dir`), dependencies already
/// published read from the instance's `storage`, as the scratch build's own were.
pub fn for_scratch(
    policy: &Policy,
    config: &InstanceConfig,
    state: &StateDir,
    builders_dir: Option<std::path::PathBuf>,
    storage: &Arc<dyn StorageBackend>,
) -> Policy {
    let bound = haiku::bind_in(policy.clone(), config, state.root(), builders_dir);
    haiku::use_storage(&bound, storage);
    bound
}

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

    /// Adds the scratch build's `packages` (inspected from the `built` files, in the same order),
    /// records their installability results and runs `policy`'s lint and test on them (a test on a
    /// builder: `policy` as [`for_scratch`] binds it); each blocking failure, as a line for the
    /// verdict.
    pub async fn check(
        &self,
        built: &[PathBuf],
        packages: &[StagedPackage],
        installability: &Installability,
        policy: Option<&Policy>,
        now: i64,
    ) -> Result<Vec<String>, ScratchError> {
        let mut store = GateStore::open(&self.database).map_err(failed)?;
        store.add_packages(self.id, packages).map_err(failed)?;
        let mode = policy.map_or(Mode::Block, |p| p.mode(CheckKind::Installability));
        if mode != Mode::Off {
            for staged in packages {
                let target = staged.targets.first().map_or("", String::as_str);
                let result = installability_result(&staged.package.file_name, target, installability, mode);
                store.set_check(self.id, &result, now).map_err(failed)?;
            }
        }
        let mut blocking = Vec::new();
        let Some(policy) = policy else {
            return Ok(blocking);
        };
        // A test on a builder installs the packages of the same scratch build a package needs.
        let with: Vec<Staged<'_>> = packages
            .iter()
            .zip(built)
            .map(|(staged, file)| Staged {
                path: file,
                package: &staged.package,
                format: staged.format,
            })
            .collect();
        for (staged, file) in packages.iter().zip(built) {
            let subject = Subject {
                file,
                package: &staged.package,
                format: staged.format,
                staged_with: &with,
            };
            for kind in [CheckKind::Lint, CheckKind::Test] {
                let Some(command) = policy.command(kind) else {
                    continue;
                };
                let result = self.run_command(&mut store, command, kind, &subject, now).await?;
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

    /// Runs the lint or test `command` on the scratch build's package `subject` (recorded pending
    /// first, then its result, audited); the result.
    async fn run_command(
        &self,
        store: &mut GateStore,
        command: &CommandCheck,
        kind: CheckKind,
        subject: &Subject<'_>,
        now: i64,
    ) -> Result<CheckResult, ScratchError> {
        let mut result = CheckResult {
            file_name: subject.package.file_name.clone(),
            kind,
            status: CheckStatus::Pending,
            blocking: command.mode == Mode::Block,
            summary: "running".into(),
            log: String::new(),
        };
        store.set_check(self.id, &result, now).map_err(failed)?;
        let outcome = command_check::run_on(command, subject).await;
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

/// The installability result of the scratch package `file_name` for repository `target`: every
/// requirement of it that `installability` found unresolved, blocking in `mode`.
fn installability_result(
    file_name: &str,
    target: &str,
    installability: &Installability,
    mode: Mode,
) -> CheckResult {
    let problems: Vec<String> = installability
        .unresolved
        .iter()
        .filter(|u| u.package == file_name)
        .map(|u| format!("unresolved requirement \"{}\" in {target}", u.requires))
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
