//! `buildmaster publish`: ingest the spool, guard the planned index, upload → verify → stub,
//! regenerate, guard and upload the index (built once when the uploads change nothing it names).

use std::collections::HashSet;
use std::sync::Arc;

use buildmaster_storage::ErrorKind;

use super::crashpoint::crash_point;
use super::lock::PublishLock;
use super::progress::{NoProgress, PublishProgress};
use super::repository::ImplicitRepository;
use super::retry::{self, Backoff};
use super::spool::{self, Rejected, Repository, SpoolEntry};
use super::timings::{PhaseClock, PhaseTime};
use super::upload::upload_and_stub;
use super::verified::BuildResults;
use super::{guard, index, keys, now, PublishError, Publisher};
use crate::formats::InspectedPackage;
use crate::gate::haikuports_publish::{self as gated, GateDecision, GateSummary};
use crate::state::Record;

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
    /// The index's identity (Haiku: the SHA-256 of `repo`, as `repo.sha256` holds it).
    pub repo_sha256: String,
    /// Whether the index in storage changed.
    pub index_uploaded: bool,
    /// How long each phase took, in order.
    pub phases: Vec<PhaseTime>,
    /// With a gate: what was staged, promoted, or stays staged (see [`crate::gate::haikuports_publish`]).
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
    let repo = ImplicitRepository::of(&p.state);
    repo.format
        .check_settings(&repo.target)
        .map_err(ImplicitRepository::failed)?;
    let spool = spool::list(&p.state.packages())?;
    let verified = BuildResults::open(&p.state)?;
    clock.mark("list spool");
    let repository = Repository {
        repo: &repo,
        verified: &verified,
    };
    let (fresh, rejected) = spool::ingest(&mut p.db, &spool, &repository, dry_run)?;
    clock.mark("ingest");
    let mut report = PublishReport {
        dry_run,
        new_packages: fresh.iter().map(|r| r.package.file_name.clone()).collect(),
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
    let fresh_names: HashSet<&str> = fresh.iter().map(|r| r.package.file_name.as_str()).collect();
    let planned_records = index_records(&records, &spool, |r| {
        r.state.is_stored()
            || match &decision {
                Some(decision) => decision.promotes(&r.package.file_name),
                None => fresh_names.contains(r.package.file_name.as_str()),
            }
    });
    let names = package_names(&records);
    let name_of = |file: &str| -> Option<String> {
        names
            .get(file)
            .copied()
            .or_else(|| repo.format.package_name_of_file(file))
            .map(str::to_string)
    };
    let planned = guarded_index(p, &repo, &planned_records, published.as_deref(), &name_of)?;
    clock.mark("build planned index");
    if dry_run {
        report.index_packages = planned.files.file_names.len();
        report.repo_sha256 = planned.files.digest;
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

    let verified_now: HashSet<String> = fresh.iter().map(|r| r.package.file_name.clone()).collect();
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
        states
            .get(&r.package.file_name)
            .is_some_and(|state| state.is_stored())
    });
    let files = if planned.names_the_same(&final_records) {
        planned.files
    } else {
        guarded_index(p, &repo, &final_records, published.as_deref(), &name_of)?.files
    };
    crash_point("index-built");
    report.index_packages = files.file_names.len();
    report.repo_sha256 = files.digest.clone();
    clock.mark("build final index");

    let unchanged = roots_published(&*p.storage, &files).await?;
    index::write_local(&p.state.repository(), &files)?;
    crash_point("after-write-local");
    clock.mark("write index locally");
    if !unchanged {
        index::upload(&*p.storage, &files).await?;
        report.index_uploaded = true;
    }
    clock.mark("upload index");
    p.db.record_publish(now(), &files.digest, &files.file_names)?;
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

/// Whether storage already holds this index: every root-of-trust file (Haiku: `repo.sha256`) has
/// these bytes in the bucket. One small GET per root file.
async fn roots_published(
    storage: &dyn buildmaster_storage::StorageBackend,
    files: &index::IndexFiles,
) -> Result<bool, PublishError> {
    for root in files
        .files
        .iter()
        .filter(|f| f.role == crate::formats::IndexRole::Root)
    {
        let key = buildmaster_storage::ObjectKey::new(&root.path)
            .map_err(|e| PublishError::Refused(format!("index file {}: {e}", root.path)))?;
        match storage.get_bytes(&key, root.bytes.len() as u64 + 1024).await {
            Ok(bytes) if bytes == root.bytes => {}
            Ok(_) => return Ok(false),
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// The package name of each record's file name (what the shrink guard compares).
fn package_names(records: &[Record]) -> std::collections::HashMap<&str, &str> {
    records
        .iter()
        .map(|r| (r.package.file_name.as_str(), r.package.name.as_str()))
        .collect()
}

/// The packages an index may name: the records `stored` says are (or will be, once uploaded) in
/// storage whose file (real or stub) is in the spool.
fn index_records<'a>(
    records: &'a [Record],
    spool: &[SpoolEntry],
    stored: impl Fn(&Record) -> bool,
) -> Vec<&'a InspectedPackage> {
    let in_spool: HashSet<&str> = spool.iter().map(|e| e.file_name.as_str()).collect();
    records
        .iter()
        .filter(|r| in_spool.contains(r.package.file_name.as_str()) && stored(r))
        .map(|r| &r.package)
        .collect()
}

/// A built and guarded index, and the packages it was chosen from.
struct GuardedIndex {
    /// The files to publish.
    files: index::IndexFiles,
    /// The file names of the packages the index was chosen from, in order.
    candidates: Vec<String>,
}

impl GuardedIndex {
    /// Whether this index was chosen from exactly `packages` (and so is their index: a record's
    /// inspection never changes under its file name, and the format's choice depends on nothing else).
    fn names_the_same(&self, packages: &[&InspectedPackage]) -> bool {
        packages.len() == self.candidates.len()
            && packages
                .iter()
                .zip(&self.candidates)
                .all(|(package, name)| package.file_name == *name)
    }
}

/// Renders the index of `packages` and refuses it if it drops packages (see [`guard`]).
fn guarded_index(
    p: &Publisher,
    repo: &ImplicitRepository,
    packages: &[&InspectedPackage],
    published: Option<&[String]>,
    name_of: &dyn Fn(&str) -> Option<String>,
) -> Result<GuardedIndex, PublishError> {
    let chosen = index::select(repo, packages);
    let files = index::build(repo, &chosen).map_err(|e| match e {
        PublishError::Refused(why) => PublishError::Refused(format!(
            "{why}. Nothing was uploaded and the published index is unchanged"
        )),
        other => other,
    })?;
    guard::refuse_shrink(published, &chosen, name_of, &p.settings)?;
    Ok(GuardedIndex {
        files,
        candidates: packages.iter().map(|p| p.file_name.clone()).collect(),
    })
}
