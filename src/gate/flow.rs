//! A gated push and what follows it: stage the files (uploaded once, into the staging storage), run
//! their lint and test commands, then [`evaluate_and_promote`] every open pipeline — which a later
//! push, a waiver or a promote request also does, so that a package waiting for its dependency is
//! promoted as soon as the dependency arrives. A green pipeline into a repository promoted by hand
//! ([`super::promotion`]) stays `green` until somebody asks ([`request_promotion`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use buildmaster_storage::{ObjectKey, StorageBackend};
use serde::Serialize;

use crate::repos::config::Repository;
use crate::repos::pool_store::{key_and_digest, upload_once};
use crate::repos::push::{link_into, load_signers, publish_dirty, PushReport};
use crate::repos::push_plan::{inspect_and_check, Planned};
use crate::repos::records::{PoolPackage, Records};
use crate::repos::{unix_seconds, Formats, RepoError};

use super::command_check;
use super::installability::{evaluate, OpenPipeline};
use super::policy::{CheckKind, Mode};
use super::promotion::{check_promotable, ManualPromotion, PromoteRefused};
use super::same_bytes::{promote_copy, PromoteCopyError};
use super::store::{
    CheckResult, CheckStatus, GateStore, GateStoreError, Pipeline, PipelineKind, PipelineState, StagedPackage,
};
use super::waivers::NewWaiver;

/// Who acts in the audit log when the gate itself promotes.
pub const GATE: &str = "gate";

/// What a gated push did.
#[derive(Clone, Debug, Serialize)]
pub struct GatedReport {
    /// The push's own pipeline, as it stands after evaluation.
    pub pipeline: Pipeline,
    /// Every pipeline promoted by this evaluation (the push's own, and any it unblocked).
    pub promoted: Vec<i64>,
    /// Files uploaded into the staging storage.
    pub staged: Vec<String>,
    /// Links and publishes of the promotion.
    #[serde(skip)]
    pub publish: PushReport,
}

/// The storages, records and settings a gated operation works on.
pub struct GateContext<'a> {
    /// The served storage (clients read it).
    pub served: &'a dyn StorageBackend,
    /// The staging storage (nobody reads it).
    pub staging: &'a dyn StorageBackend,
    /// Pushed-package records.
    pub records: &'a mut Records,
    /// The gate's records.
    pub store: &'a mut GateStore,
    /// The formats.
    pub formats: &'a Formats,
    /// Every configured repository.
    pub repositories: &'a [Repository],
    /// The repositories whose green pipelines wait for a promote request.
    pub manual: &'a ManualPromotion,
    /// Who caused this operation (`api:<token>`, `cli:<user>`): the promotions it triggers name them.
    pub trigger: &'a str,
    /// Told a push's pipeline number as soon as it exists, before its checks run (the API answers a
    /// `wait=false` push with it).
    pub on_pipeline: &'a dyn Fn(i64),
}

/// Stages `files` for `targets` on behalf of `who`, runs their checks, and evaluates every open pipeline.
pub async fn push(
    cx: &mut GateContext<'_>,
    targets: &[&Repository],
    files: &[PathBuf],
    who: &str,
    now: SystemTime,
) -> Result<GatedReport, RepoError> {
    let planned = inspect_and_check(cx.records, cx.formats, targets, files).await?;
    let now_secs = unix_seconds(now);
    let mut staged = Vec::new();
    let mut uploaded = Vec::new();
    for item in &planned {
        let pool = item.pool_package(targets, now_secs);
        if upload_once(cx.staging, &pool, &item.path).await? {
            uploaded.push(item.package.file_name.clone());
        }
        staged.push(StagedPackage {
            format: item.format,
            package: item.package.clone(),
            pool_key: pool.pool_key,
            targets: item
                .targets
                .iter()
                .map(|&t| targets[t].id().to_string())
                .collect(),
        });
    }
    let id = cx
        .store
        .create_pipeline(who, PipelineKind::Push, &staged, now_secs)?;
    let names: Vec<&str> = staged.iter().map(|s| s.package.file_name.as_str()).collect();
    cx.store.audit(
        who,
        "push",
        &format!("pipeline {id}"),
        &names.join(", "),
        now_secs,
    )?;
    let result = check_and_evaluate(cx, id, &planned, &staged, uploaded, now).await;
    if let Err(err) = &result {
        // The pipeline may be watched (an API push answered early): it must not stay `checking`.
        let checking = cx
            .store
            .pipeline(id)
            .ok()
            .flatten()
            .is_some_and(|p| p.state == PipelineState::Checking);
        if checking {
            let summary = format!("the push failed before its checks finished: {err}");
            let _ = cx.store.set_state(id, PipelineState::Red, &summary, now_secs);
        }
    }
    result
}

/// Runs pipeline `id`'s lint and test commands (recorded pending first), then evaluates every open
/// pipeline and promotes the green ones.
async fn check_and_evaluate(
    cx: &mut GateContext<'_>,
    id: i64,
    planned: &[Planned],
    staged: &[StagedPackage],
    uploaded: Vec<String>,
    now: SystemTime,
) -> Result<GatedReport, RepoError> {
    let now_secs = unix_seconds(now);
    // Every command check first, recorded pending, so that a reader of the pipeline sees them all
    // from the moment it exists.
    let mut runs = Vec::new();
    for (item, staged) in planned.iter().zip(staged) {
        for kind in [CheckKind::Lint, CheckKind::Test] {
            let policies = staged
                .targets
                .iter()
                .filter_map(|t| cx.repositories.iter().find(|r| r.id() == t))
                .map(|r| &r.policy);
            let (mut command, mut blocking) = (None, false);
            for policy in policies {
                if let Some(check) = policy.command(kind) {
                    command.get_or_insert(check);
                    blocking |= check.mode == Mode::Block;
                }
            }
            let Some(command) = command else { continue };
            let pending = CheckResult {
                file_name: item.package.file_name.clone(),
                kind,
                status: CheckStatus::Pending,
                blocking,
                summary: "waiting to run".into(),
                log: String::new(),
            };
            cx.store.set_check(id, &pending, now_secs)?;
            runs.push((item, kind, command, blocking));
        }
    }
    (cx.on_pipeline)(id);
    for (item, kind, command, blocking) in runs {
        let outcome = command_check::run_planned(command, item, planned).await;
        let result = CheckResult {
            file_name: item.package.file_name.clone(),
            kind,
            status: if outcome.passed {
                CheckStatus::Passed
            } else {
                CheckStatus::Failed
            },
            blocking,
            summary: outcome.summary,
            log: outcome.log,
        };
        cx.store.set_check(id, &result, now_secs)?;
        cx.store.audit(
            GATE,
            "check",
            &format!("pipeline {id}"),
            &format!("{} {}: {}", kind.as_str(), result.file_name, result.summary),
            now_secs,
        )?;
    }
    let promoted = evaluate_and_promote(cx, now).await?;
    let pipeline = cx
        .store
        .pipeline(id)?
        .ok_or_else(|| RepoError::Refused(format!("pipeline {id} vanished")))?;
    Ok(GatedReport {
        pipeline,
        promoted: promoted.0,
        staged: uploaded,
        publish: promoted.1,
    })
}

/// Re-evaluates every open pipeline (waivers as of `now`), promotes the green ones and publishes
/// what they changed; the promoted pipelines' numbers and what the promotion linked and published.
pub async fn evaluate_and_promote(
    cx: &mut GateContext<'_>,
    now: SystemTime,
) -> Result<(Vec<i64>, PushReport), RepoError> {
    let now_secs = unix_seconds(now);
    let mut pipelines = Vec::new();
    for id in cx.store.open_pipelines(PipelineKind::Push)? {
        if let Some(pipeline) = cx.store.pipeline(id)? {
            pipelines.push(pipeline);
        }
    }
    // Command checks: a failure that blocks and is not waived keeps the pipeline out; so does a
    // repository promoted by hand that nobody asked to promote it into (its packages are not counted
    // as present for the others either).
    let mut eligible = BTreeMap::new();
    let mut waived_installability: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for pipeline in &mut pipelines {
        let checks_pass = command_checks_pass(cx.store, pipeline, now_secs)?;
        eligible.insert(pipeline.id, checks_pass && !cx.manual.awaits_request(pipeline));
        waived_installability.insert(pipeline.id, installability_waived(cx.store, pipeline, now_secs)?);
    }
    let open: Vec<OpenPipeline<'_>> = pipelines
        .iter()
        .map(|p| OpenPipeline {
            id: p.id,
            packages: &p.packages,
            eligible: eligible[&p.id],
            waived: waived_installability.remove(&p.id).unwrap_or_default(),
        })
        .collect();
    let evaluation = evaluate(cx.records, cx.formats, cx.repositories, &open)?;
    // Record installability for every package, then each pipeline's state.
    for pipeline in &pipelines {
        for staged in &pipeline.packages {
            let problems = evaluation
                .unresolved
                .get(&(pipeline.id, staged.package.file_name.clone()))
                .cloned()
                .unwrap_or_default();
            let blocking = staged.targets.iter().any(|t| {
                cx.repositories
                    .iter()
                    .any(|r| r.id() == t && r.policy.mode(CheckKind::Installability) == Mode::Block)
            });
            let waived = open
                .iter()
                .any(|p| p.id == pipeline.id && p.waived.contains(&staged.package.file_name));
            let summary = if problems.is_empty() {
                "every dependency resolves".to_string()
            } else {
                problems
                    .iter()
                    .map(|(repo, u)| format!("unresolvable dependency \"{}\" in {repo}", u.dependency))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let status = match (problems.is_empty(), waived) {
                (true, _) => CheckStatus::Passed,
                (false, true) => CheckStatus::Waived,
                (false, false) => CheckStatus::Failed,
            };
            let result = CheckResult {
                file_name: staged.package.file_name.clone(),
                kind: CheckKind::Installability,
                status,
                blocking,
                summary,
                log: String::new(),
            };
            cx.store.set_check(pipeline.id, &result, now_secs)?;
        }
    }
    let touched: BTreeSet<String> = pipelines
        .iter()
        .filter(|p| evaluation.promotable.contains(&p.id))
        .flat_map(|p| p.packages.iter().flat_map(|s| s.targets.iter().cloned()))
        .collect();
    let targets: Vec<&Repository> = cx
        .repositories
        .iter()
        .filter(|r| touched.contains(r.id()))
        .collect();
    let signers = load_signers(cx.formats, &targets)?;
    let mut report = PushReport::default();
    let mut promoted = Vec::new();
    for pipeline in &pipelines {
        if !evaluation.promotable.contains(&pipeline.id) {
            let awaits = cx.manual.awaits_request(pipeline);
            hold(cx.store, pipeline.id, awaits, now_secs)?;
            continue;
        }
        for staged in &pipeline.packages {
            let linked = promote_package(cx, staged, now_secs).await?;
            report.linked.extend(linked);
        }
        let names: Vec<&str> = pipeline
            .packages
            .iter()
            .map(|s| s.package.file_name.as_str())
            .collect();
        let summary = format!("promoted {}", names.join(", "));
        cx.store
            .set_state(pipeline.id, PipelineState::Promoted, &summary, now_secs)?;
        let detail = format!("{} (triggered by {})", names.join(", "), cx.trigger);
        cx.store.audit(
            GATE,
            "promote",
            &format!("pipeline {}", pipeline.id),
            &detail,
            now_secs,
        )?;
        promoted.push(pipeline.id);
    }
    report.published = publish_dirty(cx.served, cx.records, cx.formats, &targets, &signers, now).await?;
    remove_promoted(cx, &pipelines, &promoted).await?;
    Ok((promoted, report))
}

/// Copies one staged package into the served storage (the same bytes, server-side where the two
/// storages share a service), records it and links it into its repositories.
async fn promote_package(
    cx: &mut GateContext<'_>,
    staged: &StagedPackage,
    now_secs: i64,
) -> Result<Vec<(String, String)>, RepoError> {
    let pool = PoolPackage {
        format: staged.format,
        package: staged.package.clone(),
        pool_key: staged.pool_key.clone(),
        added_at: now_secs,
    };
    let (key, digest) = key_and_digest(&pool)?;
    promote_copy(cx.served, cx.staging, &key, pool.package.size, digest)
        .await
        .map_err(|e| match e {
            PromoteCopyError::Storage(e) => RepoError::Storage(e),
            PromoteCopyError::NotTheStagedBytes(why) => {
                RepoError::Refused(format!("{}: {why}", staged.package.file_name))
            }
        })?;
    cx.records.insert_pool(&pool)?;
    let repositories: Vec<&Repository> = cx
        .repositories
        .iter()
        .filter(|r| staged.targets.iter().any(|t| t == r.id()))
        .collect();
    link_into(cx.served, cx.records, cx.formats, &pool, &repositories, now_secs).await
}

/// Deletes promoted packages from the staging storage, unless an open pipeline still stages the same
/// object.
async fn remove_promoted(
    cx: &mut GateContext<'_>,
    pipelines: &[Pipeline],
    promoted: &[i64],
) -> Result<(), RepoError> {
    let still_staged: BTreeSet<&str> = pipelines
        .iter()
        .filter(|p| !promoted.contains(&p.id))
        .flat_map(|p| p.packages.iter().map(|s| s.pool_key.as_str()))
        .collect();
    for pipeline in pipelines.iter().filter(|p| promoted.contains(&p.id)) {
        for staged in &pipeline.packages {
            if !still_staged.contains(staged.pool_key.as_str()) {
                let key = ObjectKey::new(staged.pool_key.clone())
                    .map_err(|e| RepoError::Key(format!("{}: {e}", staged.pool_key)))?;
                cx.staging.delete(&key).await?;
            }
        }
    }
    Ok(())
}

/// Whether `pipeline`'s lint and test checks let it through as of `now_secs`: none that blocks is
/// failed without a waiver, or never finished (its run was killed). A failure a waiver covers is
/// recorded as waived, naming the waiver.
pub(crate) fn command_checks_pass(
    store: &mut GateStore,
    pipeline: &mut Pipeline,
    now_secs: i64,
) -> Result<bool, GateStoreError> {
    let mut ok = true;
    for check in &mut pipeline.checks {
        if check.kind == CheckKind::Installability || !check.blocking {
            continue;
        }
        // A blocking check that never finished (its run was killed mid-way) has not passed.
        if check.status == CheckStatus::Pending {
            ok = false;
            continue;
        }
        if check.status != CheckStatus::Failed {
            continue;
        }
        let staged = pipeline
            .packages
            .iter()
            .find(|s| s.package.file_name == check.file_name);
        let waiver = match staged {
            Some(staged) => store.waiver_for(staged, check.kind, now_secs)?,
            None => None,
        };
        if let Some(waiver) = waiver {
            check.status = CheckStatus::Waived;
            check.summary = format!(
                "{} — waived by {} until {}: {}",
                check.summary, waiver.who, waiver.until, waiver.reason
            );
            store.set_check(pipeline.id, check, now_secs)?;
        } else {
            ok = false;
        }
    }
    Ok(ok)
}

/// The file names of `pipeline`'s packages whose installability failures a waiver covers now.
pub(crate) fn installability_waived(
    store: &GateStore,
    pipeline: &Pipeline,
    now_secs: i64,
) -> Result<BTreeSet<String>, GateStoreError> {
    let mut waived = BTreeSet::new();
    for staged in &pipeline.packages {
        if store
            .waiver_for(staged, CheckKind::Installability, now_secs)?
            .is_some()
        {
            waived.insert(staged.package.file_name.clone());
        }
    }
    Ok(waived)
}

/// One line naming every blocking check that failed.
pub(crate) fn blocking_failures(pipeline: &Pipeline) -> String {
    let failed = failed_blocking(pipeline);
    if failed.is_empty() {
        "waiting for another pipeline".into()
    } else {
        failed.join("; ")
    }
}

/// Each blocking check of `pipeline` that failed, or never finished, as a line.
fn failed_blocking(pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .checks
        .iter()
        .filter(|c| c.blocking && matches!(c.status, CheckStatus::Failed | CheckStatus::Pending))
        .map(|c| match c.status {
            CheckStatus::Pending => format!("{} of {} did not finish", c.kind.as_str(), c.file_name),
            _ => format!("{} of {} failed: {}", c.kind.as_str(), c.file_name, c.summary),
        })
        .collect()
}

/// Records why open pipeline `id` is not promoted now: `green` when every blocking check passed (or
/// was waived) and it only `awaits` a promote request, else `red` naming what failed; the new state.
pub(crate) fn hold(
    store: &mut GateStore,
    id: i64,
    awaits: bool,
    now_secs: i64,
) -> Result<(PipelineState, String), GateStoreError> {
    let Some(pipeline) = store.pipeline(id)? else {
        return Ok((PipelineState::Red, format!("pipeline {id} vanished")));
    };
    let (state, summary) = if awaits && failed_blocking(&pipeline).is_empty() {
        (
            PipelineState::Green,
            "green: waiting for a promote request (its repository is promoted by hand: [gate] manual_promotion)"
                .to_string(),
        )
    } else {
        (PipelineState::Red, blocking_failures(&pipeline))
    };
    store.set_state(id, state, &summary, now_secs)?;
    Ok((state, summary))
}

/// `who` asks to promote green pipeline `id` by hand (audited), and the open pipelines are evaluated
/// again at once: the pipelines promoted, or why `id` cannot be.
pub async fn request_promotion(
    cx: &mut GateContext<'_>,
    id: i64,
    who: &str,
    now: SystemTime,
) -> Result<Result<Vec<i64>, PromoteRefused>, RepoError> {
    let now_secs = unix_seconds(now);
    let pipeline = cx.store.pipeline(id)?;
    let names = match check_promotable(id, pipeline.as_ref()) {
        Ok(pipeline) => pipeline
            .packages
            .iter()
            .map(|s| s.package.file_name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        Err(refused) => return Ok(Err(refused)),
    };
    cx.store.request_promotion(id, who, now_secs)?;
    cx.store.audit(
        who,
        "promote-request",
        &format!("pipeline {id}"),
        &names,
        now_secs,
    )?;
    let (promoted, _) = evaluate_and_promote(cx, now).await?;
    Ok(Ok(promoted))
}

/// Records `waiver` by `who` (audited: the package as subject; the check, expiry, repository and
/// reason as detail), then evaluates the open pipelines again: its number and the pipelines promoted.
pub async fn waive(
    cx: &mut GateContext<'_>,
    waiver: &NewWaiver,
    who: &str,
    now: SystemTime,
) -> Result<(i64, Vec<i64>), RepoError> {
    let now_secs = unix_seconds(now);
    let id = cx.store.add_waiver(waiver, who, now_secs)?;
    let subject = match &waiver.version {
        Some(version) => format!("{} {version}", waiver.package),
        None => waiver.package.clone(),
    };
    let detail = format!(
        "{} until {} in {} (waiver {id}): {}",
        waiver.kind.as_str(),
        waiver.until,
        waiver.repository,
        waiver.reason
    );
    cx.store.audit(who, "waive", &subject, &detail, now_secs)?;
    let (promoted, _) = evaluate_and_promote(cx, now).await?;
    Ok((id, promoted))
}
