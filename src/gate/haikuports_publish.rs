//! The gated publish of the HaikuPorts repository (`[gate]` with `[publish.policy]`, see
//! `docs/gate.md`): new packages of the spool are not uploaded into the served bucket but **staged** —
//! the same bytes, streamed against their recorded digest and verified, into the staging storage under
//! the keys they will have when served — and a pipeline of kind `buildrun` is opened for each package
//! (a port's subpackages share their package's: [`crate::gate::buildrun::package_sets`]). Their lint
//! and test commands run; then every open buildrun pipeline is evaluated
//! ([`crate::gate::buildrun::evaluate`]) and the green ones are **promoted**: each object copied from
//! staging into the served bucket ([`crate::gate::same_bytes::promote_copy`], server-side where both
//! buckets share a service — never uploaded again from the spool), recorded as uploaded, and from there
//! stubbed and indexed by the ordinary publish steps ([`crate::publish::run`] calls [`decide`] and
//! [`promote`]). The packages of a red pipeline stay real in the spool, spooled in the database and
//! out of the index; every later publish evaluates them again.
//!
//! It lives with the gate, not in [`crate::publish`], because it reads the packages' Haiku attributes
//! (their requires and provides, through [`PackageRecord`]) for the HaikuPorts installability check;
//! the publish steps stay format-neutral.
//!
//! Crash safety is the publish's: a package is recorded as uploaded only after its served copy was
//! checked, and only recorded packages are indexed. Crash points: `gate-staged` (staged, no pipeline
//! yet: the next publish stages them again, without uploading what staging holds), `gate-pipeline-opened`,
//! `gate-promote-copied` (served copy made, not recorded: copied no second time), `gate-promote-recorded`
//! (recorded, pipeline not yet marked promoted).

use std::collections::{HashMap, HashSet};

use buildmaster_storage::Sha256Digest;

use super::buildrun::{evaluate, package_sets, BuiltEvaluation, BuiltPipeline, HaikuPortsGate, HAIKUPORTS};
use super::command_check;
use super::flow::{command_checks_pass, hold, installability_waived, GATE};
use super::policy::{CheckKind, Mode};
use super::same_bytes::{promote_copy, PromoteCopyError};
use super::store::{
    CheckResult, CheckStatus, GateStore, Pipeline, PipelineKind, PipelineState, StagedPackage,
};
use crate::formats::haiku::record::PackageRecord;
use crate::formats::FormatKind;
use crate::publish::crashpoint::crash_point;
use crate::publish::progress::NoProgress;
use crate::publish::spool::{Rejected, SpoolEntry};
use crate::publish::store::{store_and_verify, Stored};
use crate::publish::{keys, now, PublishError, Publisher};
use crate::state::{PackageState, Record};

/// What the gate did in one publish.
#[derive(Clone, Debug, Default)]
pub struct GateSummary {
    /// Packages uploaded into the staging storage by this publish.
    pub staged: Vec<String>,
    /// Pipelines promoted by this publish.
    pub promoted: Vec<i64>,
    /// Open pipelines left red, with why.
    pub red: Vec<(i64, String)>,
    /// Green pipelines waiting for a promote request (`[gate] manual_promotion` names `haikuports`).
    pub waiting: Vec<i64>,
}

/// Which spool packages this publish may store, and which stay staged.
#[derive(Debug, Default)]
pub struct GateDecision {
    /// The pipelines to promote, with their packages' records.
    promote: Vec<(i64, Vec<Record>)>,
    /// Real spool files not in storage that this publish neither uploads nor indexes.
    held: HashSet<String>,
    /// Spool files that could not be staged.
    pub rejected: Vec<Rejected>,
    /// What to report.
    pub summary: GateSummary,
}

impl GateDecision {
    /// Whether `file_name` is promoted by this publish (so the planned index may name it).
    pub fn promotes(&self, file_name: &str) -> bool {
        self.promote
            .iter()
            .any(|(_, records)| records.iter().any(|r| r.package.file_name == file_name))
    }

    /// Whether `file_name` stays out of this publish's uploads.
    pub fn holds(&self, file_name: &str) -> bool {
        self.held.contains(file_name)
    }
}

/// Stages the spool's new packages, runs their checks and evaluates every open buildrun pipeline;
/// `records` are every package record (with a dry run's unrecorded new ones). A dry run changes
/// nothing and holds every package not yet in storage.
pub async fn decide(
    p: &mut Publisher,
    gate: &HaikuPortsGate,
    spool: &[SpoolEntry],
    records: &[Record],
    dry_run: bool,
) -> Result<GateDecision, PublishError> {
    super::builder_tests::haiku::use_storage(&gate.policy, &p.storage);
    let by_name: HashMap<&str, &Record> = records
        .iter()
        .map(|r| (r.package.file_name.as_str(), r))
        .collect();
    let unstored: Vec<&SpoolEntry> = spool
        .iter()
        .filter(|e| e.size > 0)
        .filter(|e| {
            by_name
                .get(e.file_name.as_str())
                .is_some_and(|r| !r.state.is_stored())
        })
        .collect();
    let mut decision = GateDecision::default();
    if dry_run {
        decision.held = unstored.iter().map(|e| e.file_name.clone()).collect();
        return Ok(decision);
    }
    let mut store = GateStore::open(&p.state.database())?;
    let now = now();
    let in_pipeline: HashSet<String> = open_pipelines(&store)?
        .iter()
        .flat_map(|pipeline| pipeline.packages.iter().map(|s| s.package.file_name.clone()))
        .collect();
    let new: Vec<&SpoolEntry> = unstored
        .iter()
        .copied()
        .filter(|e| !in_pipeline.contains(&e.file_name))
        .collect();
    stage(p, gate, &mut store, &new, &by_name, now, &mut decision).await?;

    let paths: HashMap<&str, &SpoolEntry> = unstored.iter().map(|e| (e.file_name.as_str(), *e)).collect();
    let pipelines = open_pipelines(&store)?;
    run_command_checks(gate, &mut store, &pipelines, &paths, now).await?;

    let mut pipelines = open_pipelines(&store)?;
    let in_spool: HashSet<&str> = spool.iter().map(|e| e.file_name.as_str()).collect();
    // The evaluation reads the packages' requires and provides: the records' HaikuPorts view.
    let in_pipeline: HashSet<String> = pipelines
        .iter()
        .flat_map(|pipeline| pipeline.packages.iter().map(|s| s.package.file_name.clone()))
        .collect();
    let views: HashMap<&str, PackageRecord> = records
        .iter()
        .filter(|r| {
            let name = r.package.file_name.as_str();
            (r.state.is_stored() && in_spool.contains(name)) || in_pipeline.contains(name)
        })
        .map(|r| Ok((r.package.file_name.as_str(), PackageRecord::from_record(r)?)))
        .collect::<Result<_, crate::formats::FormatError>>()
        .map_err(|e| PublishError::Index(e.to_string()))?;
    let indexed: Vec<&PackageRecord> = records
        .iter()
        .filter(|r| r.state.is_stored() && in_spool.contains(r.package.file_name.as_str()))
        .filter_map(|r| views.get(r.package.file_name.as_str()))
        .collect();
    let mut built = Vec::new();
    for pipeline in &mut pipelines {
        let packages: Vec<&PackageRecord> = pipeline
            .packages
            .iter()
            .filter_map(|s| views.get(s.package.file_name.as_str()))
            .collect();
        // A package whose record is gone (its file was refused) can never be promoted.
        let complete = packages.len() == pipeline.packages.len();
        // Promoted by hand: not before somebody asked (nor counted as present for the others).
        let awaits = gate.manual.awaits_request(pipeline);
        built.push(BuiltPipeline {
            id: pipeline.id,
            eligible: command_checks_pass(&mut store, pipeline, now)? && complete && !awaits,
            waived: installability_waived(&store, pipeline, now)?,
            packages,
        });
    }
    let system = match &gate.system_packages {
        Some(dir) => crate::formats::haiku::check::system_packages(dir).map_err(|e| {
            PublishError::Refused(format!(
                "reading the system packages ([ports] system_packages) for the gate: {e}"
            ))
        })?,
        None => Vec::new(),
    };
    let mode = gate.policy.mode(CheckKind::Installability);
    let evaluation = evaluate(&indexed, &built, &system, mode);
    record_installability(&mut store, &pipelines, &evaluation, mode, now)?;
    for (pipeline, open) in built.iter().zip(&pipelines) {
        if evaluation.promotable.contains(&pipeline.id) {
            let records = pipeline
                .packages
                .iter()
                .filter_map(|view| by_name.get(view.file_name.as_str()).map(|&r| r.clone()))
                .collect();
            decision.promote.push((pipeline.id, records));
            continue;
        }
        match hold(&mut store, pipeline.id, gate.manual.awaits_request(open), now)? {
            (PipelineState::Green, _) => decision.summary.waiting.push(pipeline.id),
            (_, why) => decision.summary.red.push((pipeline.id, why)),
        }
    }
    decision.held = unstored
        .iter()
        .map(|e| e.file_name.clone())
        .filter(|name| !decision.promotes(name))
        .collect();
    Ok(decision)
}

/// Every open pipeline of built packages, oldest first.
fn open_pipelines(store: &GateStore) -> Result<Vec<Pipeline>, PublishError> {
    let mut out = Vec::new();
    for id in store.open_pipelines(PipelineKind::Buildrun)? {
        out.extend(store.pipeline(id)?);
    }
    Ok(out)
}

/// Uploads `new` spool files into the staging storage (verified, not sent again when staging holds
/// them) and opens a pipeline for each package (a port's subpackages share their package's). A file whose bytes are not its record's is rejected and its
/// record removed, so the next publish checks it from the start.
async fn stage(
    p: &mut Publisher,
    gate: &HaikuPortsGate,
    store: &mut GateStore,
    new: &[&SpoolEntry],
    by_name: &HashMap<&str, &Record>,
    now: i64,
    decision: &mut GateDecision,
) -> Result<(), PublishError> {
    let mut staged = Vec::new();
    for entry in new {
        let record = by_name[entry.file_name.as_str()];
        let (_, _, stored) = store_and_verify(
            &*gate.staging,
            (*entry).clone(),
            record.clone(),
            false,
            &NoProgress,
        )
        .await?;
        if let Stored::Refused(why) = stored {
            p.db.remove(std::slice::from_ref(&record.package.file_name))?;
            decision.rejected.push(Rejected {
                path: entry.path.clone(),
                reason: format!(
                    "it changed since it was checked (the staging storage refused its bytes: {why}); nothing was \
                     staged. Publish again once nothing writes to it"
                ),
            });
            continue;
        }
        if stored == Stored::Uploaded {
            decision.summary.staged.push(record.package.file_name.clone());
        }
        staged.push(StagedPackage {
            format: FormatKind::Haiku,
            package: record.package.clone(),
            pool_key: keys::package(&record.package.file_name)
                .map_err(|e| PublishError::Refused(e.to_string()))?
                .as_str()
                .to_string(),
            targets: vec![HAIKUPORTS.to_string()],
        });
    }
    if staged.is_empty() {
        return Ok(());
    }
    crash_point("gate-staged");
    let identities: Vec<(&str, &str)> = staged
        .iter()
        .map(|s| (s.package.name.as_str(), s.package.version.as_str()))
        .collect();
    for set in package_sets(&identities) {
        let packages: Vec<StagedPackage> = set.iter().map(|&i| staged[i].clone()).collect();
        let id = store.create_pipeline(&gate.who, PipelineKind::Buildrun, &packages, now)?;
        let names: Vec<&str> = packages.iter().map(|s| s.package.file_name.as_str()).collect();
        store.audit(
            &gate.who,
            "stage",
            &format!("pipeline {id}"),
            &names.join(", "),
            now,
        )?;
        crash_point("gate-pipeline-opened");
    }
    Ok(())
}

/// Runs the policy's lint and test commands that have no result yet (a new pipeline's, or those a
/// killed publish left pending) on the spool file, which holds the staged bytes. Every one is
/// recorded pending first, so a reader of the pipeline sees them all from the start.
async fn run_command_checks(
    gate: &HaikuPortsGate,
    store: &mut GateStore,
    pipelines: &[Pipeline],
    spool: &HashMap<&str, &SpoolEntry>,
    now: i64,
) -> Result<(), PublishError> {
    let mut runs = Vec::new();
    for pipeline in pipelines {
        for staged in &pipeline.packages {
            for kind in [CheckKind::Lint, CheckKind::Test] {
                let Some(command) = gate.policy.command(kind) else {
                    continue;
                };
                let file_name = &staged.package.file_name;
                let done = pipeline
                    .checks
                    .iter()
                    .any(|c| &c.file_name == file_name && c.kind == kind && c.status != CheckStatus::Pending);
                if done {
                    continue;
                }
                let mut result = CheckResult {
                    file_name: file_name.clone(),
                    kind,
                    status: CheckStatus::Pending,
                    blocking: command.mode == Mode::Block,
                    summary: "waiting to run".into(),
                    log: String::new(),
                };
                store.set_check(pipeline.id, &result, now)?;
                result.status = CheckStatus::Failed;
                runs.push((pipeline.id, staged, command, result));
            }
        }
    }
    for (id, staged, command, mut result) in runs {
        match spool.get(staged.package.file_name.as_str()) {
            Some(entry) => {
                let outcome = command_check::run(command, &entry.path, &staged.package).await;
                if outcome.passed {
                    result.status = CheckStatus::Passed;
                }
                result.summary = outcome.summary;
                result.log = outcome.log;
            }
            None => result.summary = "its file is no longer in the spool: build the package again".into(),
        }
        store.set_check(id, &result, now)?;
        let detail = format!(
            "{} {}: {}",
            result.kind.as_str(),
            result.file_name,
            result.summary
        );
        store.audit(GATE, "check", &format!("pipeline {id}"), &detail, now)?;
    }
    Ok(())
}

/// Records every open pipeline's installability results (nothing when the policy turns it off).
fn record_installability(
    store: &mut GateStore,
    pipelines: &[Pipeline],
    evaluation: &BuiltEvaluation,
    mode: Mode,
    now: i64,
) -> Result<(), PublishError> {
    if mode == Mode::Off {
        return Ok(());
    }
    for pipeline in pipelines {
        let waived = installability_waived(store, pipeline, now)?;
        for staged in &pipeline.packages {
            let file_name = &staged.package.file_name;
            let problems = evaluation.unresolved.get(file_name);
            let (status, summary) = match problems {
                None => (CheckStatus::Passed, "every requirement resolves".to_string()),
                Some(problems) => (
                    if waived.contains(file_name) {
                        CheckStatus::Waived
                    } else {
                        CheckStatus::Failed
                    },
                    problems
                        .iter()
                        .map(|r| format!("unresolved requirement \"{r}\" in {HAIKUPORTS}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            };
            let result = CheckResult {
                file_name: file_name.clone(),
                kind: CheckKind::Installability,
                status,
                blocking: mode == Mode::Block,
                summary,
                log: String::new(),
            };
            store.set_check(pipeline.id, &result, now)?;
        }
    }
    Ok(())
}

/// Promotes the decided pipelines: each package copied from staging into the served bucket and
/// checked, then recorded as uploaded (the ordinary steps stub and index it), the pipeline marked
/// promoted and audited, and the staged objects removed. Runs after the planned index was guarded.
pub async fn promote(
    p: &mut Publisher,
    gate: &HaikuPortsGate,
    decision: &mut GateDecision,
) -> Result<(), PublishError> {
    if decision.promote.is_empty() {
        return Ok(());
    }
    let mut store = GateStore::open(&p.state.database())?;
    for (id, records) in &decision.promote {
        for record in records {
            let key =
                keys::package(&record.package.file_name).map_err(|e| PublishError::Refused(e.to_string()))?;
            let digest = Sha256Digest::from_hex(&record.package.sha256).ok_or_else(|| {
                PublishError::Refused(format!(
                    "{}: recorded sha256 is malformed",
                    record.package.file_name
                ))
            })?;
            promote_copy(&*p.storage, &*gate.staging, &key, record.package.size, digest)
                .await
                .map_err(|e| match e {
                    PromoteCopyError::Storage(e) => PublishError::Storage(e),
                    PromoteCopyError::NotTheStagedBytes(why) => PublishError::Refused(why),
                })?;
            crash_point("gate-promote-copied");
        }
        // Only packages still spooled move forward: one a killed run recorded may be stubbed already.
        let states = p.db.states()?;
        let spooled: Vec<String> = records
            .iter()
            .filter(|r| states.get(&r.package.file_name) == Some(&PackageState::Spooled))
            .map(|r| r.package.file_name.clone())
            .collect();
        p.db.set_states(&spooled, PackageState::Uploaded)?;
        crash_point("gate-promote-recorded");
        let names: Vec<&str> = records.iter().map(|r| r.package.file_name.as_str()).collect();
        let now = now();
        store.set_state(
            *id,
            PipelineState::Promoted,
            &format!("promoted {}", names.join(", ")),
            now,
        )?;
        let detail = format!("{} (published by {})", names.join(", "), gate.who);
        store.audit(GATE, "promote", &format!("pipeline {id}"), &detail, now)?;
        for record in records {
            let key =
                keys::package(&record.package.file_name).map_err(|e| PublishError::Refused(e.to_string()))?;
            gate.staging.delete(&key).await?;
        }
        decision.summary.promoted.push(*id);
    }
    Ok(())
}
