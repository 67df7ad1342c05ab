//! Upload → verify → record → stub, for one package at a time.
//!
//! The order is the safety argument: the object is verified in storage (size and SHA-256 via `head`)
//! before the database says "uploaded", and the database says "uploaded" durably before the local file
//! is truncated. A crash anywhere leaves either a real local file or a verified object, never neither;
//! the next run picks up where this one stopped (an object already present with the right digest is not
//! uploaded again).
//!
//! Each upload is one streaming read of the file, handed to storage with the digest recorded at
//! ingest (the build's verified digest, when a build produced the file — ingest did not hash such a
//! file, so this is its only full read): storage hashes the bytes as they go and refuses to store them
//! if they differ, so a file changed after ingest is never stored; it is rejected by name instead, and
//! the index is built without it.

use std::collections::HashSet;
use std::path::Path;

use buildmaster_storage::{ErrorKind, PutOptions, Sha256Digest, StorageBackend};
use futures::StreamExt;

use super::crashpoint::crash_point;
use super::progress::{CountingReader, PublishProgress};
use super::spool::{Rejected, SpoolEntry};
use super::verified::{self, BuildResults};
use super::{keys, PublishError};
use crate::haiku::package_scan::sha256_stream;
use crate::state::{Database, PackageRecord, PackageState};

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

/// Packages uploaded at the same time. Each upload streams from its file with bounded memory (the S3
/// backend's own part limit), so this bounds requests in flight, not memory; four keep a loopback or
/// LAN link busy while one package is being verified.
const UPLOAD_CONCURRENCY: usize = 4;

/// Brings every spooled package to [`PackageState::Stubbed`]. `verified_now` names the packages this
/// run ingested, whose digest is known (hashed, or the one their build verified), so they are not read
/// before their upload; a file whose bytes storage refuses is rejected, naming its build from
/// `verified` when one produced it. `progress` hears of the packages to store, their bytes as they are
/// read, and each one verified.
pub async fn upload_and_stub(
    db: &mut Database,
    storage: &dyn StorageBackend,
    spool: &[SpoolEntry],
    verified_now: &HashSet<String>,
    verified: &BuildResults,
    progress: &dyn PublishProgress,
) -> Result<UploadOutcome, PublishError> {
    let mut outcome = UploadOutcome::default();
    let mut work = Vec::new();
    for entry in spool {
        let Some(record) = db.get(&entry.file_name)? else {
            continue;
        };
        match (record.state, entry.size > 0) {
            (PackageState::Stubbed, false) => {}
            (PackageState::Uploaded, false) => db.set_state(&record.file_name, PackageState::Stubbed)?,
            (_, true) => {
                if !verified_now.contains(&record.file_name) && !local_file_matches(&entry.path, &record)? {
                    outcome.rejected.push(Rejected {
                        path: entry.path.clone(),
                        reason: format!(
                            "{} is recorded with sha256 {} but this file differs; packages are immutable: bump \
                             the revision and rebuild",
                            record.file_name, record.sha256
                        ),
                    });
                    continue;
                }
                work.push((entry, record));
            }
            (PackageState::Spooled, false) => {
                // Truncated by hand before it was uploaded: recoverable only if storage has it.
                verify(storage, &record).await.map_err(|_| {
                    PublishError::Refused(format!(
                        "{} is a zero-byte stub but was never uploaded; its contents are lost: rebuild the package \
                         and remove the stub",
                        entry.path.display()
                    ))
                })?;
                db.set_state(&record.file_name, PackageState::Stubbed)?;
            }
        }
    }

    let to_store: Vec<&PackageRecord> = work
        .iter()
        .map(|(_, record)| record)
        .filter(|record| record.state == PackageState::Spooled)
        .collect();
    if !to_store.is_empty() {
        progress.uploads_started(to_store.len() as u64, to_store.iter().map(|r| r.size).sum());
    }

    // Uploads and verifications run concurrently; recording and stubbing happen here, one package at a
    // time, strictly after that package's verification. On the first error the remaining uploads are
    // dropped, which aborts them (the backends clean up cancelled puts).
    let mut finished = futures::stream::iter(work)
        .map(|(entry, record)| async move {
            let mut stored = Stored::Before;
            if record.state == PackageState::Spooled {
                stored = store(storage, &entry.path, &record, progress).await?;
                match stored {
                    Stored::Refused(_) => return Ok((entry, record, stored)),
                    // Not sent again, but part of the announced bytes all the same.
                    Stored::AlreadyThere => progress.bytes_done(record.size),
                    Stored::Uploaded | Stored::Before => {}
                }
                crash_point("after-upload");
                verify(storage, &record).await?;
                crash_point("after-verify");
            }
            Ok::<_, PublishError>((entry, record, stored))
        })
        .buffer_unordered(UPLOAD_CONCURRENCY);
    while let Some(done) = finished.next().await {
        let (entry, record, stored) = done?;
        match &stored {
            Stored::Uploaded => outcome.uploaded.push(record.file_name.clone()),
            Stored::AlreadyThere => outcome.already_stored.push(record.file_name.clone()),
            Stored::Refused(refusal) => {
                outcome
                    .rejected
                    .push(refused(db, verified, entry, &record, verified_now, refusal)?);
                continue;
            }
            Stored::Before => {}
        }
        if stored != Stored::Before {
            db.set_state(&record.file_name, PackageState::Uploaded)?;
            crash_point("after-record-uploaded");
            progress.package_done(&record.file_name);
        }
        stub(&entry.path)?;
        crash_point("after-stub");
        db.set_state(&record.file_name, PackageState::Stubbed)?;
        crash_point("after-record-stubbed");
        outcome.stubbed.push(record.file_name.clone());
    }
    Ok(outcome)
}

/// What the upload step did with one package.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    /// Nothing: an earlier run stored and verified it (its record says uploaded).
    Before,
    /// Uploaded by this run.
    Uploaded,
    /// Storage already held it with this digest; not sent again.
    AlreadyThere,
    /// Storage refused the bytes as they streamed (not the recorded digest or size): the file changed
    /// after ingest. Storage's words.
    Refused(String),
}

/// The rejection of a package whose bytes storage refused. A record this run made is removed again,
/// so the next publish checks the file from the start (and names its build again) instead of finding a
/// record its bytes do not match.
fn refused(
    db: &mut Database,
    verified: &BuildResults,
    entry: &SpoolEntry,
    record: &PackageRecord,
    verified_now: &HashSet<String>,
    refusal: &str,
) -> Result<Rejected, PublishError> {
    let reason = match verified.get(&record.file_name)? {
        Some(result) => verified::content_mismatch(&result, refusal),
        None => format!(
            "it changed while it was being published (storage refused its bytes: {refusal}); nothing was \
             stored. Publish again once nothing writes to it"
        ),
    };
    if verified_now.contains(&record.file_name) {
        db.remove(std::slice::from_ref(&record.file_name))?;
    }
    Ok(Rejected {
        path: entry.path.clone(),
        reason,
    })
}

/// Uploads one package unless storage already holds it with the same digest.
async fn store(
    storage: &dyn StorageBackend,
    path: &Path,
    record: &PackageRecord,
    progress: &dyn PublishProgress,
) -> Result<Stored, PublishError> {
    let key = keys::package(&record.file_name).map_err(|e| PublishError::Refused(e.to_string()))?;
    let digest = digest_of(record)?;
    if let Some(existing) = storage.head(&key).await? {
        match existing.sha256 {
            Some(d) if d == digest && existing.size == record.size => return Ok(Stored::AlreadyThere),
            // Objects uploaded by HaikuPorter carry no digest; its uploads are atomic, so the right
            // size means the object is the file it uploaded. The index still states our digest, which
            // pkgman verifies after download.
            None if existing.size == record.size => return Ok(Stored::AlreadyThere),
            _ => {
                return Err(PublishError::Refused(format!(
                    "storage already holds {key} with different contents (size {}, sha256 {}); packages are \
                     immutable: bump the revision and rebuild",
                    existing.size,
                    existing
                        .sha256
                        .map(|d| d.to_hex())
                        .unwrap_or_else(|| "unknown".into())
                )))
            }
        }
    }
    crash_point("before-upload");
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| PublishError::io(path, e))?;
    let mut body = CountingReader::new(file, |n| progress.bytes_done(n));
    match storage
        .put(&key, &mut body, record.size, &PutOptions::package(Some(digest)))
        .await
    {
        Ok(_) => Ok(Stored::Uploaded),
        // The backends discard refused bytes (temporary file removed, multipart upload aborted).
        Err(e) if e.kind == ErrorKind::BadBody => Ok(Stored::Refused(e.message)),
        Err(e) => Err(e.into()),
    }
}

/// Checks that storage holds the package whole: size and SHA-256 via `head`.
async fn verify(storage: &dyn StorageBackend, record: &PackageRecord) -> Result<(), PublishError> {
    let key = keys::package(&record.file_name).map_err(|e| PublishError::Refused(e.to_string()))?;
    let digest = digest_of(record)?;
    let meta = storage.head(&key).await?.ok_or_else(|| {
        PublishError::Refused(format!(
            "{key} is missing from storage right after its upload; not stubbing it"
        ))
    })?;
    let digest_ok = meta.sha256.is_none_or(|d| d == digest);
    if meta.size != record.size || !digest_ok {
        return Err(PublishError::Refused(format!(
            "{key} in storage does not match the local package (size {} vs {}); not stubbing it",
            meta.size, record.size
        )));
    }
    Ok(())
}

fn digest_of(record: &PackageRecord) -> Result<Sha256Digest, PublishError> {
    Sha256Digest::from_hex(&record.sha256)
        .ok_or_else(|| PublishError::Refused(format!("{}: recorded sha256 is malformed", record.file_name)))
}

/// Whether the real file at `path` is the recorded package (size, then SHA-256, streaming).
fn local_file_matches(path: &Path, record: &PackageRecord) -> Result<bool, PublishError> {
    let file = std::fs::File::open(path).map_err(|e| PublishError::io(path, e))?;
    let size = file.metadata().map_err(|e| PublishError::io(path, e))?.len();
    if size != record.size {
        return Ok(false);
    }
    let (_, sha256) = sha256_stream(file).map_err(|e| PublishError::io(path, e))?;
    Ok(sha256 == record.sha256)
}

/// Truncates a verified, recorded package to a zero-byte stub, durably.
fn stub(path: &Path) -> Result<(), PublishError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| PublishError::io(path, e))?;
    file.set_len(0).map_err(|e| PublishError::io(path, e))?;
    file.sync_all().map_err(|e| PublishError::io(path, e))
}
