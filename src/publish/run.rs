//! `buildmaster publish`: ingest the spool, guard the planned index, upload → verify → stub,
//! regenerate, guard and upload the index (built once when the uploads change nothing it names).

use std::collections::HashSet;
use std::sync::Arc;

use buildmaster_storage::ErrorKind;

use super::crashpoint::crash_point;
use super::gated::{self, GateDecision, GateSummary};
use super::lock::PublishLock;
use super::progress::{NoProgress, PublishProgress};
use super::retry::{self, Backoff};
use super::spool::{self, Rejected, Repository, SpoolEntry};
use super::timings::{PhaseClock, PhaseTime};
use super::upload::upload_and_stub;
use super::verified::BuildResults;
use super::{guard, index, keys, now, PublishError, Publisher};
use crate::haiku::repo_info::RepositoryInfo;
use crate::state::PackageRecord;

/// What a publish did (or, with `--dry-run`, would do).
#[derive(Debug, Default)]
pub struct PublishReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// New packages found in the spool.
    pub new_packages: Vec<String>,
    /// Packages uploaded.
    pub uploaded: Vec<String>,
    /// Packages already in storage with the right digest (not uploaded again).
    pub already_stored: Vec<String>,
    /// Local files stubbed.
    pub stubbed: Vec<String>,
    /// Spool files that cannot be published, with the reason.
    pub rejected: Vec<Rejected>,
    /// Packages in the index.
    pub index_packages: usize,
    /// SHA-256 of the index.
    pub repo_sha256: String,
    /// Whether the index in storage changed.
    pub index_uploaded: bool,
    /// How long each phase took, in order.
    pub phases: Vec<PhaseTime>,
    /// With a gate: what was staged, promoted, or stays staged (see [`super::gated`]).
    pub gate: Option<GateSummary>,
}

/// Publishes the spool, retrying through transient storage errors for the settings' retry window
/// (see [`super::retry`]).
pub async fn publish(p: &mut Publisher, dry_run: bool) -> Result<PublishReport, PublishError> {
    let mut backoff = Backoff::new(p.settings.retry_window);
    loop {
        let err = match publish_once(p, dry_run).await {
            Err(err) if retry::is_transient(&err) => err,
            done => return done,
        };
        let Some(delay) = backoff.next_delay() else {
            return Err(err);
        };
        tracing::warn!(
            %err,
            attempt = backoff.failures,
            retry_in_secs = delay.as_secs(),
            "publish failed with a transient storage error; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

/// One publish attempt, from the lock to the index.
async fn publish_once(p: &mut Publisher, dry_run: bool) -> Result<PublishReport, PublishError> {
    p.state
        .create()
        .map_err(|e| PublishError::io(p.state.root(), e))?;
    refuse_if_state_lost(p).await?;
    if dry_run {
        return publish_locked(p, true).await;
    }
    let lock = PublishLock::acquire(&p.state, &*p.storage, p.settings.lock_ttl).await?;
    let result = publish_locked(p, false).await;
    let released = lock.release(&*p.storage).await;
    let report = result?;
    released?;
    Ok(report)
}

/// An empty database next to a bucket that holds a published repository means the state directory
/// was lost (or this is a HaikuPorter instance being taken over): publishing now would publish an index
/// without the existing packages. Refuse and say how to recover.
pub async fn refuse_if_state_lost(p: &Publisher) -> Result<(), PublishError> {
    if p.db.package_count()? > 0 {
        return Ok(());
    }
    let published = match p.storage.head(&keys::top(keys::REPO)).await {
        Ok(meta) => meta.is_some(),
        Err(e) if e.kind == ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    // An index that names no package (published while every spooled package was rejected) has
    // nothing to lose.
    let names_none = published
        && guard::published_names(&*p.storage, &p.state.repository().join(keys::PACKAGE_LIST))
            .await?
            .is_some_and(|names| names.is_empty());
    if published && !names_none {
        return Err(PublishError::Refused(format!(
            "the state database {} is empty but {} already holds a published repository; run `buildmaster \
             recover` first so that its packages are known (nothing was changed)",
            p.state.database().display(),
            p.storage.describe()
        )));
    }
    Ok(())
}

async fn publish_locked(p: &mut Publisher, dry_run: bool) -> Result<PublishReport, PublishError> {
    let mut clock = PhaseClock::start();
    let repo_info_path = index::repo_info_path(&p.state);
    let (repo_info, repo_info_text) = index::load_repo_info(&p.state)?;
    let spool = spool::list(&p.state.packages())?;
    let verified = BuildResults::open(&p.state)?;
    clock.mark("list spool");
    let repository = Repository {
        info: &repo_info,
        path: &repo_info_path,
        verified: &verified,
    };
    let (fresh, rejected) = spool::ingest(&mut p.db, &spool, &repository, dry_run)?;
    clock.mark("ingest");
    let mut report = PublishReport {
        dry_run,
        new_packages: fresh.iter().map(|r| r.file_name.clone()).collect(),
        rejected,
        ..Default::default()
    };

    // The index as it will be once the new packages are stored, guarded before anything is uploaded.
    let published =
        guard::published_names(&*p.storage, &p.state.repository().join(keys::PACKAGE_LIST)).await?;
    clock.mark("read published package.list");
    let mut records = p.db.all()?;
    if dry_run {
        // A dry run recorded nothing: its new packages are only in `fresh`.
        records.extend(fresh.iter().cloned());
    }
    clock.mark("load records");
    // With a gate, only the packages of green pipelines join the index; the rest stay staged.
    let gate = p.settings.gate.clone();
    let mut decision = match &gate {
        Some(gate) => Some(gated::decide(p, gate, &spool, &records, dry_run).await?),
        None => None,
    };
    clock.mark("gate");
    let fresh_names: HashSet<&str> = fresh.iter().map(|r| r.file_name.as_str()).collect();
    let planned_records = index_records(&records, &spool, |r| {
        r.state.is_stored()
            || match &decision {
                Some(decision) => decision.promotes(&r.file_name),
                None => fresh_names.contains(r.file_name.as_str()),
            }
    });
    let planned = guarded_index(
        p,
        &repo_info,
        &repo_info_text,
        &planned_records,
        published.as_deref(),
    )?;
    clock.mark("build planned index");
    if dry_run {
        report.index_packages = planned.files.file_names.len();
        report.repo_sha256 = planned.files.repo_sha256;
        report.phases = clock.into_phases();
        return Ok(report);
    }
    let spool = match (&gate, &mut decision) {
        (Some(gate), Some(decision)) => {
            gated::promote(p, gate, decision).await?;
            clock.mark("promote");
            report.rejected.append(&mut decision.rejected);
            report.gate = Some(decision.summary.clone());
            unheld(spool, decision)
        }
        _ => spool,
    };

    let verified_now: HashSet<String> = fresh.iter().map(|r| r.file_name.clone()).collect();
    let progress: Arc<dyn PublishProgress> = p
        .settings
        .progress
        .clone()
        .unwrap_or_else(|| Arc::new(NoProgress));
    let outcome = upload_and_stub(&mut p.db, &p.storage, &spool, &verified_now, &verified, &progress).await?;
    report.rejected.extend(outcome.rejected);
    report.uploaded = outcome.uploaded;
    report.already_stored = outcome.already_stored;
    report.stubbed = outcome.stubbed;
    clock.mark("upload and stub");

    // Uploads may have refused packages the plan counted on: the final index is made of the records'
    // states now. Records never change but for their state (or go away), so when it names the same
    // files as the plan it is the plan, already built and guarded.
    let states = p.db.states()?;
    let final_records = index_records(&records, &spool, |r| {
        states.get(&r.file_name).is_some_and(|state| state.is_stored())
    });
    let files = if planned.names_the_same(&final_records) {
        planned.files
    } else {
        guarded_index(
            p,
            &repo_info,
            &repo_info_text,
            &final_records,
            published.as_deref(),
        )?
        .files
    };
    crash_point("index-built");
    report.index_packages = files.file_names.len();
    report.repo_sha256 = files.repo_sha256.clone();
    clock.mark("build final index");

    let published_sha = match p.storage.get_bytes(&keys::top(keys::REPO_SHA256), 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_ascii_lowercase(),
        Err(e) if e.kind == ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    index::write_local(&p.state.repository(), &files)?;
    crash_point("after-write-local");
    clock.mark("write index locally");
    if published_sha != files.repo_sha256 {
        index::upload(&*p.storage, &files).await?;
        report.index_uploaded = true;
    }
    clock.mark("upload index");
    p.db.record_publish(now(), &files.repo_sha256, &files.file_names)?;
    crash_point("after-record-publish");
    clock.mark("record publish");
    report.phases = clock.into_phases();
    Ok(report)
}

/// The spool without the files the gate holds back (they are staged, not uploaded).
fn unheld(spool: Vec<SpoolEntry>, decision: &GateDecision) -> Vec<SpoolEntry> {
    spool
        .into_iter()
        .filter(|e| !decision.holds(&e.file_name))
        .collect()
}

/// The records an index may name: those `stored` says are (or will be, once uploaded) in storage
/// whose file (real or stub) is in the spool.
fn index_records<'a>(
    records: &'a [PackageRecord],
    spool: &[SpoolEntry],
    stored: impl Fn(&PackageRecord) -> bool,
) -> Vec<&'a PackageRecord> {
    let in_spool: HashSet<&str> = spool.iter().map(|e| e.file_name.as_str()).collect();
    records
        .iter()
        .filter(|r| in_spool.contains(r.file_name.as_str()) && stored(r))
        .collect()
}

/// A built and guarded index, and the packages it was chosen from.
struct GuardedIndex {
    /// The files to publish.
    files: index::IndexFiles,
    /// The file names [`index::select`] chose, before the repository's checks.
    chosen: Vec<String>,
}

impl GuardedIndex {
    /// Whether `records` would choose exactly the packages this index was built from (and so build
    /// the same index: a record's attributes never change under its file name).
    fn names_the_same(&self, records: &[&PackageRecord]) -> bool {
        let chosen = index::select(records);
        chosen.len() == self.chosen.len()
            && chosen
                .iter()
                .zip(&self.chosen)
                .all(|(record, name)| record.file_name == *name)
    }
}

/// Builds the index of `records` and refuses it if it drops packages (see [`guard`]).
fn guarded_index(
    p: &Publisher,
    repo_info: &RepositoryInfo,
    repo_info_text: &[u8],
    records: &[&PackageRecord],
    published: Option<&[String]>,
) -> Result<GuardedIndex, PublishError> {
    let chosen = index::select(records);
    let (files, problems) = index::build(repo_info.clone(), repo_info_text.to_vec(), &chosen)?;
    guard::refuse_failed_checks(&problems, &index::repo_info_path(&p.state))?;
    guard::refuse_shrink(published, &files.file_names, &p.settings)?;
    Ok(GuardedIndex {
        files,
        chosen: chosen.iter().map(|r| r.file_name.clone()).collect(),
    })
}
