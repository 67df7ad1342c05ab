//! Upload → verify → record → stub, for every package of the spool.
//!
//! The order is the safety argument: the object is verified in storage (by the `put` that stored it
//! when that confirms the recorded size and SHA-256, else by a `head`: see `store.rs`) before the
//! database says "uploaded", and the database says "uploaded" durably before the local file
//! is truncated. A crash anywhere leaves either a real local file or a verified object, never neither;
//! the next run picks up where this one stopped (an object already present with the right digest is not
//! uploaded again).
//!
//! Before storing a package, storage is asked whether it already holds it (a `head`: the same bytes are
//! not sent again, other bytes under its name are refused). When many packages are to be stored, one
//! listing of `packages/` answers that for all of them at a fraction of the requests; a `head` is then
//! made only for the names the listing shows. The daemon is the bucket's single writer (it holds the
//! publish lock), so nothing it did not list appears before its `put`.
//!
//! Uploads run [`UPLOAD_CONCURRENCY`] at a time in their own task, so they keep going while this one
//! records: verified packages are recorded and stubbed in batches (whatever finished meanwhile, up to
//! [`RECORD_BATCH`]), one transaction for "uploaded", the batch's stubs synced together, one
//! transaction for "stubbed" — three waits for the disk per batch instead of three per package.
//!
//! Each upload is one streaming read of the file, handed to storage with the digest recorded at
//! ingest (the build's verified digest, when a build produced the file — ingest did not hash such a
//! file, so this is its only full read): storage hashes the bytes as they go and refuses to store them
//! if they differ, so a file changed after ingest is never stored; it is rejected by name instead, and
//! the index is built without it.

use std::collections::HashSet;
use std::sync::Arc;

use buildmaster_storage::StorageBackend;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::crashpoint::crash_point;
use super::progress::PublishProgress;
use super::spool::{Rejected, SpoolEntry};
use super::store::{local_file_matches, store_and_verify, verify, Stored};
use super::stub::stub_all;
use super::verified::{self, BuildResults};
use super::{keys, PublishError};
use crate::state::{Database, PackageState, Record};

/// What happened to the spool's packages in one run.
#[derive(Debug, Default)]
pub struct UploadOutcome {
    /// Packages uploaded by this run.
    pub uploaded: Vec<String>,
    /// Packages found already in storage with the right digest (not uploaded again).
    pub already_stored: Vec<String>,
    /// Local files truncated to stubs by this run.
    pub stubbed: Vec<String>,
    /// Files that could not be published.
    pub rejected: Vec<Rejected>,
}

/// Packages uploaded (each a `put`, with a `head` before it unless a listing answered, and a verifying
/// `head` after it unless the `put` confirmed) at the same time, at most. A first publish of 10,000
/// small packages to garage on loopback (`bench/publish`) is bound by the CPU of both ends sharing the
/// cores: 16 in flight keep them busy.
const UPLOAD_CONCURRENCY: usize = 16;

/// Bytes of package files in flight at once, at most, in MiB (each package counts at least 1 MiB; one
/// larger than the whole allowance goes alone). Storage buffers a small body whole and a large one a
/// few multipart parts at a time, so this bounds the memory uploads take: many small packages go
/// [`UPLOAD_CONCURRENCY`] at a time, large ones one or two, which fill a link as well.
const UPLOAD_MIB_IN_FLIGHT: u32 = 16;

/// Most verified packages recorded and stubbed together (one database transaction per state).
/// A batch is whatever finished while the previous one was being recorded, so it stays small when
/// uploads are slow (large packages) and grows when they are fast.
const RECORD_BATCH: usize = 256;

/// Keys an S3 listing returns per request (`max-keys`' default in `ListObjectsV2`).
const LIST_PAGE_KEYS: u64 = 1000;

/// A package handed to the upload task, and what came back.
type Finished = (SpoolEntry, Record, Stored);

/// Brings every spooled package to [`PackageState::Stubbed`]. `verified_now` names the packages this
/// run ingested, whose digest is known (hashed, or the one their build verified), so they are not read
/// before their upload; a file whose bytes storage refuses is rejected, naming its build from
/// `verified` when one produced it. `progress` hears of the packages to store, their bytes as they are
/// read, and each one verified.
pub async fn upload_and_stub(
    db: &mut Database,
    storage: &Arc<dyn StorageBackend>,
    spool: &[SpoolEntry],
    verified_now: &HashSet<String>,
    verified: &BuildResults,
    progress: &Arc<dyn PublishProgress>,
) -> Result<UploadOutcome, PublishError> {
    let mut outcome = UploadOutcome::default();
    let work = sort_spool(db, &**storage, spool, verified_now, &mut outcome).await?;

    let to_store: Vec<&Record> = work
        .iter()
        .map(|(_, record)| record)
        .filter(|record| record.state == PackageState::Spooled)
        .collect();
    if !to_store.is_empty() {
        progress.uploads_started(
            to_store.len() as u64,
            to_store.iter().map(|r| r.package.size).sum(),
        );
    }
    if work.is_empty() {
        return Ok(outcome);
    }
    let listed = if to_store.len() as u64 > 2 * (db.package_count()? / LIST_PAGE_KEYS + 1) {
        Some(Arc::new(stored_package_names(&**storage).await?))
    } else {
        None
    };

    // Dropping `uploads` (on an error here) aborts the upload task and with it the uploads in
    // flight (the backends clean up cancelled puts).
    let mut uploads = JoinSet::new();
    let expected = work.len();
    let mut finished = spawn_uploads(&mut uploads, storage.clone(), progress.clone(), listed, work);
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let mut recorded = 0;
    while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        // Record what was verified before reporting a failure: the next run need not verify it again.
        let mut failure = None;
        let mut done = Vec::with_capacity(batch.len());
        for result in batch.drain(..) {
            match result {
                Ok(finished) => done.push(finished),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        recorded += done.len();
        record_and_stub(db, verified, verified_now, done, &**progress, &mut outcome)?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    while let Some(joined) = uploads.join_next().await {
        joined.map_err(|e| PublishError::UploadTask(e.to_string()))?;
    }
    if recorded != expected {
        return Err(PublishError::UploadTask(format!(
            "{recorded} of {expected} packages came back from the upload task"
        )));
    }
    Ok(outcome)
}

/// Sorts the spool against the records: stubs already recorded as stubbed need nothing, stubs of
/// uploaded packages are recorded as stubbed, real files (and stubs of packages that never reached a
/// verified upload) are returned with their record for the upload step. Reads each record's state
/// only, and a whole record only for a real file.
async fn sort_spool(
    db: &mut Database,
    storage: &dyn StorageBackend,
    spool: &[SpoolEntry],
    verified_now: &HashSet<String>,
    outcome: &mut UploadOutcome,
) -> Result<Vec<(SpoolEntry, Record)>, PublishError> {
    let states = db.states()?;
    let mut work = Vec::new();
    let mut stubbed_by_hand = Vec::new();
    for entry in spool {
        let Some(&state) = states.get(&entry.file_name) else {
            continue;
        };
        match (state, entry.size > 0) {
            (PackageState::Stubbed, false) => {}
            (PackageState::Uploaded, false) => stubbed_by_hand.push(entry.file_name.clone()),
            (_, true) => {
                let Some(record) = db.get(&entry.file_name)? else {
                    continue;
                };
                if !verified_now.contains(&record.package.file_name)
                    && !local_file_matches(&entry.path, &record)?
                {
                    outcome.rejected.push(Rejected {
                        path: entry.path.clone(),
                        reason: format!(
                            "{} is recorded with sha256 {} but this file differs; packages are immutable: bump \
                             the revision and rebuild",
                            record.package.file_name, record.package.sha256
                        ),
                    });
                    continue;
                }
                work.push((entry.clone(), record));
            }
            (PackageState::Spooled, false) => {
                // Truncated by hand before it was uploaded: recoverable only if storage has it.
                let Some(record) = db.get(&entry.file_name)? else {
                    continue;
                };
                verify(storage, &record).await.map_err(|_| {
                    PublishError::Refused(format!(
                        "{} is a zero-byte stub but was never uploaded; its contents are lost: rebuild the package \
                         and remove the stub",
                        entry.path.display()
                    ))
                })?;
                stubbed_by_hand.push(entry.file_name.clone());
            }
        }
    }
    db.set_states(&stubbed_by_hand, PackageState::Stubbed)?;
    Ok(work)
}

/// The package file names under `packages/` in storage, from one listing.
async fn stored_package_names(storage: &dyn StorageBackend) -> Result<HashSet<String>, PublishError> {
    let prefix = buildmaster_storage::ObjectKey::prefix(keys::PACKAGES).expect("valid prefix");
    let mut names = HashSet::new();
    let mut listing = storage.list(&prefix);
    while let Some(object) = listing.try_next().await? {
        if let Some(name) = keys::package_file_name(&object.key) {
            names.insert(name.to_owned());
        }
    }
    Ok(names)
}

/// Starts the upload task: each package of `work` still [`PackageState::Spooled`] is stored and
/// verified, [`UPLOAD_CONCURRENCY`] at a time; every result comes back through the returned channel,
/// and the task stops after the first error. `listed`, when storage was listed, names the packages
/// it holds: the others are stored without asking first.
fn spawn_uploads(
    tasks: &mut JoinSet<()>,
    storage: Arc<dyn StorageBackend>,
    progress: Arc<dyn PublishProgress>,
    listed: Option<Arc<HashSet<String>>>,
    work: Vec<(SpoolEntry, Record)>,
) -> mpsc::Receiver<Result<Finished, PublishError>> {
    let (sender, receiver) = mpsc::channel(RECORD_BATCH);
    let uploads = async move {
        let (storage, progress, listed) = (&*storage, &*progress, listed.as_deref());
        let allowance = Semaphore::new(UPLOAD_MIB_IN_FLIGHT as usize);
        let allowance = &allowance;
        let mut finished = futures::stream::iter(work)
            .map(|(entry, record)| async move {
                let mib = record
                    .package
                    .size
                    .div_ceil(1 << 20)
                    .clamp(1, u64::from(UPLOAD_MIB_IN_FLIGHT));
                // Never closed, so acquiring only waits.
                let _permit = allowance.acquire_many(mib as u32).await;
                let unlisted = listed.is_some_and(|names| !names.contains(&record.package.file_name));
                store_and_verify(storage, entry, record, unlisted, progress).await
            })
            .buffer_unordered(UPLOAD_CONCURRENCY);
        while let Some(result) = finished.next().await {
            let failed = result.is_err();
            if sender.send(result).await.is_err() || failed {
                return;
            }
        }
    };
    tasks.spawn(uploads.instrument(tracing::info_span!("task", name = "publish-uploads")));
    receiver
}

/// Records a batch of verified packages as uploaded (one transaction), stubs their files (synced
/// together), then records them as stubbed (one transaction). Refused packages are rejected instead.
fn record_and_stub(
    db: &mut Database,
    verified: &BuildResults,
    verified_now: &HashSet<String>,
    finished: Vec<Finished>,
    progress: &dyn PublishProgress,
    outcome: &mut UploadOutcome,
) -> Result<(), PublishError> {
    let mut newly_verified = Vec::new();
    let mut to_stub = Vec::new();
    for (entry, record, stored) in finished {
        match &stored {
            Stored::Uploaded => outcome.uploaded.push(record.package.file_name.clone()),
            Stored::AlreadyThere => outcome.already_stored.push(record.package.file_name.clone()),
            Stored::Refused(refusal) => {
                outcome
                    .rejected
                    .push(refused(db, verified, &entry, &record, verified_now, refusal)?);
                continue;
            }
            Stored::Before => {}
        }
        if stored != Stored::Before {
            newly_verified.push(record.package.file_name.clone());
        }
        to_stub.push((entry.path, record.package.file_name));
    }
    db.set_states(&newly_verified, PackageState::Uploaded)?;
    for name in &newly_verified {
        crash_point("after-record-uploaded");
        progress.package_done(name);
    }
    let (paths, names): (Vec<_>, Vec<_>) = to_stub.into_iter().unzip();
    stub_all(&paths)?;
    for _ in &names {
        crash_point("after-stub");
    }
    db.set_states(&names, PackageState::Stubbed)?;
    for _ in &names {
        crash_point("after-record-stubbed");
    }
    outcome.stubbed.extend(names);
    Ok(())
}

/// The rejection of a package whose bytes storage refused. A record this run made is removed again,
/// so the next publish checks the file from the start (and names its build again) instead of finding a
/// record its bytes do not match.
fn refused(
    db: &mut Database,
    verified: &BuildResults,
    entry: &SpoolEntry,
    record: &Record,
    verified_now: &HashSet<String>,
    refusal: &str,
) -> Result<Rejected, PublishError> {
    let reason = match verified.get(&record.package.file_name)? {
        Some(result) => verified::content_mismatch(&result, refusal),
        None => format!(
            "it changed while it was being published (storage refused its bytes: {refusal}); nothing was \
             stored. Publish again once nothing writes to it"
        ),
    };
    if verified_now.contains(&record.package.file_name) {
        db.remove(std::slice::from_ref(&record.package.file_name))?;
    }
    Ok(Rejected {
        path: entry.path.clone(),
        reason,
    })
}
