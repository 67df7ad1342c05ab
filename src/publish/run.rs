//! `buildmaster publish`: ingest the spool, guard the planned index, upload → verify → stub,
//! regenerate, guard and upload the index.

use std::collections::HashSet;

use buildmaster_storage::ErrorKind;

use super::crashpoint::crash_point;
use super::lock::PublishLock;
use super::progress::{NoProgress, PublishProgress};
use super::retry::{self, Backoff};
use super::spool::{self, Rejected, Repository, SpoolEntry};
use super::upload::upload_and_stub;
use super::verified::BuildResults;
use super::{guard, index, keys, now, PublishError, Publisher};
use crate::haiku::repo_info::RepositoryInfo;
use crate::state::{PackageRecord, PackageState};

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
    let repo_info_path = index::repo_info_path(&p.state);
    let (repo_info, repo_info_text) = index::load_repo_info(&p.state)?;
    let spool = spool::list(&p.state.packages())?;
    let verified = BuildResults::open(&p.state)?;
    let repository = Repository {
        info: &repo_info,
        path: &repo_info_path,
        verified: &verified,
    };
    let (fresh, rejected) = spool::ingest(&mut p.db, &spool, &repository, dry_run)?;
    let mut report = PublishReport {
        dry_run,
        new_packages: fresh.iter().map(|r| r.file_name.clone()).collect(),
        rejected,
        ..Default::default()
    };

    // The index as it will be once the new packages are stored, guarded before anything is uploaded.
    let published =
        guard::published_names(&*p.storage, &p.state.repository().join(keys::PACKAGE_LIST)).await?;
    let records = index_records(p, &spool, &fresh, &report.rejected)?;
    let planned = guarded_index(p, &repo_info, &repo_info_text, &records, published.as_deref())?;
    if dry_run {
        report.index_packages = planned.file_names.len();
        report.repo_sha256 = planned.repo_sha256;
        return Ok(report);
    }

    let verified_now: HashSet<String> = fresh.iter().map(|r| r.file_name.clone()).collect();
    let progress = p.settings.progress.clone();
    let progress: &dyn PublishProgress = progress.as_deref().unwrap_or(&NoProgress);
    let outcome = upload_and_stub(&mut p.db, &*p.storage, &spool, &verified_now, &verified, progress).await?;
    report.rejected.extend(outcome.rejected);
    report.uploaded = outcome.uploaded;
    report.already_stored = outcome.already_stored;
    report.stubbed = outcome.stubbed;

    // Uploads may have refused packages the plan counted on: guard the final index again.
    let records = index_records(p, &spool, &[], &report.rejected)?;
    let files = guarded_index(p, &repo_info, &repo_info_text, &records, published.as_deref())?;
    crash_point("index-built");
    report.index_packages = files.file_names.len();
    report.repo_sha256 = files.repo_sha256.clone();

    let published_sha = match p.storage.get_bytes(&keys::top(keys::REPO_SHA256), 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_ascii_lowercase(),
        Err(e) if e.kind == ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    index::write_local(&p.state.repository(), &files)?;
    crash_point("after-write-local");
    if published_sha != files.repo_sha256 {
        index::upload(&*p.storage, &files).await?;
        report.index_uploaded = true;
    }
    p.db.record_publish(now(), &files.repo_sha256, &files.file_names)?;
    crash_point("after-record-publish");
    Ok(report)
}

/// The records an index may name: every record whose file (real or stub) is in the spool, with the
/// `fresh` ones counted as stored (they are, once uploaded) and spooled ones that were `rejected` left
/// out.
fn index_records(
    p: &Publisher,
    spool: &[SpoolEntry],
    fresh: &[PackageRecord],
    rejected: &[Rejected],
) -> Result<Vec<PackageRecord>, PublishError> {
    let rejected_names: HashSet<&str> = rejected
        .iter()
        .filter_map(|r| r.path.file_name().and_then(|n| n.to_str()))
        .collect();
    let in_spool: HashSet<&str> = spool.iter().map(|e| e.file_name.as_str()).collect();
    let fresh_names: HashSet<&str> = fresh.iter().map(|r| r.file_name.as_str()).collect();
    let mut records = p.db.all()?;
    records.retain(|r| !fresh_names.contains(r.file_name.as_str()));
    records.extend(fresh.iter().map(|r| PackageRecord {
        state: PackageState::Uploaded,
        ..r.clone()
    }));
    records.retain(|r| {
        in_spool.contains(r.file_name.as_str())
            && !(rejected_names.contains(r.file_name.as_str()) && r.state == PackageState::Spooled)
    });
    Ok(records)
}

/// Builds the index of `records` and refuses it if it drops packages (see [`guard`]).
fn guarded_index(
    p: &Publisher,
    repo_info: &RepositoryInfo,
    repo_info_text: &[u8],
    records: &[PackageRecord],
    published: Option<&[String]>,
) -> Result<index::IndexFiles, PublishError> {
    let chosen = index::select(records);
    let (files, problems) = index::build(repo_info.clone(), repo_info_text.to_vec(), &chosen)?;
    guard::refuse_failed_checks(&problems, &index::repo_info_path(&p.state))?;
    guard::refuse_shrink(published, &files.file_names, &p.settings)?;
    Ok(files)
}
