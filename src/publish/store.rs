//! Storing one package: asking storage whether it already holds it, streaming it up against its
//! recorded digest, and verifying the stored object before anything records it as uploaded.
//!
//! Verifying is one of two things. When the `put` that stored the package answers
//! [`Confirmation::StoredAsSent`] for the recorded size and SHA-256, that answer is the verification:
//! the backend counted and hashed every byte against the record (refusing the upload otherwise) and
//! the store checked the bytes it received (S3: CRC32C or signed payload, on every request) before
//! committing the object, which is more than a `head` shows (a `head` reads back the size and the
//! `sha256` metadata this very upload set). Anything else — an object found already there, a `put`
//! whose path cannot confirm (an upload to a temporary key and a copy), an answer that disagrees with
//! the record — is verified with a `head`: size and recorded SHA-256.

use std::path::Path;

use buildmaster_storage::{Confirmation, ErrorKind, PutOptions, Sha256Digest, StorageBackend};

use super::crashpoint::crash_point;
use super::progress::{CountingReader, PublishProgress};
use super::spool::SpoolEntry;
use super::{keys, PublishError};
use crate::fsutil::sha256_stream;
use crate::state::{PackageState, Record};

/// What the upload step did with one package.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
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

/// Stores and verifies one package, unless an earlier run did (its record is past spooled).
/// `unlisted`: a listing of storage taken under the lock does not show it.
pub async fn store_and_verify(
    storage: &dyn StorageBackend,
    entry: SpoolEntry,
    record: Record,
    unlisted: bool,
    progress: &dyn PublishProgress,
) -> Result<(SpoolEntry, Record, Stored), PublishError> {
    if record.state != PackageState::Spooled {
        return Ok((entry, record, Stored::Before));
    }
    let (stored, confirmation) = store(storage, &entry.path, &record, unlisted, progress).await?;
    match stored {
        Stored::Refused(_) => return Ok((entry, record, stored)),
        // Not sent again, but part of the announced bytes all the same.
        Stored::AlreadyThere => progress.bytes_done(record.package.size),
        Stored::Uploaded | Stored::Before => {}
    }
    crash_point("after-upload");
    if confirmation == Confirmation::Reported {
        verify(storage, &record).await?;
    }
    crash_point("after-verify");
    Ok((entry, record, stored))
}

/// Uploads one package unless storage already holds it with the same digest (asked with a `head`,
/// unless `unlisted` says a listing under the lock did not show it). Says
/// [`Confirmation::StoredAsSent`] only for an upload whose `put` confirmed the recorded size and
/// SHA-256; everything else is to be verified.
async fn store(
    storage: &dyn StorageBackend,
    path: &Path,
    record: &Record,
    unlisted: bool,
    progress: &dyn PublishProgress,
) -> Result<(Stored, Confirmation), PublishError> {
    let key = keys::package(&record.package.file_name).map_err(|e| PublishError::Refused(e.to_string()))?;
    let digest = digest_of(record)?;
    let existing = if unlisted { None } else { storage.head(&key).await? };
    if let Some(existing) = existing {
        match existing.sha256 {
            Some(d) if d == digest && existing.size == record.package.size => {
                return Ok((Stored::AlreadyThere, Confirmation::Reported))
            }
            // Objects uploaded by HaikuPorter carry no digest; its uploads are atomic, so the right
            // size means the object is the file it uploaded. The index still states our digest, which
            // pkgman verifies after download.
            None if existing.size == record.package.size => {
                return Ok((Stored::AlreadyThere, Confirmation::Reported))
            }
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
        .put(
            &key,
            &mut body,
            record.package.size,
            &PutOptions::package(Some(digest)),
        )
        .await
    {
        Ok(meta) if meta.confirms(record.package.size, &digest) => {
            Ok((Stored::Uploaded, Confirmation::StoredAsSent))
        }
        Ok(_) => Ok((Stored::Uploaded, Confirmation::Reported)),
        // The backends discard refused bytes (temporary file removed, multipart upload aborted).
        Err(e) if e.kind == ErrorKind::BadBody => Ok((Stored::Refused(e.message), Confirmation::Reported)),
        Err(e) => Err(e.into()),
    }
}

/// Checks that storage holds the package whole: size and SHA-256 via `head` (objects that storage
/// already held, uploads their `put` did not confirm, stubs found before any upload).
pub async fn verify(storage: &dyn StorageBackend, record: &Record) -> Result<(), PublishError> {
    let key = keys::package(&record.package.file_name).map_err(|e| PublishError::Refused(e.to_string()))?;
    let digest = digest_of(record)?;
    let meta = storage.head(&key).await?.ok_or_else(|| {
        PublishError::Refused(format!(
            "{key} is missing from storage right after its upload; not stubbing it"
        ))
    })?;
    let digest_ok = meta.sha256.is_none_or(|d| d == digest);
    if meta.size != record.package.size || !digest_ok {
        return Err(PublishError::Refused(format!(
            "{key} in storage does not match the local package (size {} vs {}); not stubbing it",
            meta.size, record.package.size
        )));
    }
    Ok(())
}

fn digest_of(record: &Record) -> Result<Sha256Digest, PublishError> {
    Sha256Digest::from_hex(&record.package.sha256).ok_or_else(|| {
        PublishError::Refused(format!(
            "{}: recorded sha256 is malformed",
            record.package.file_name
        ))
    })
}

/// Whether the real file at `path` is the recorded package (size, then SHA-256, streaming).
pub fn local_file_matches(path: &Path, record: &Record) -> Result<bool, PublishError> {
    let file = std::fs::File::open(path).map_err(|e| PublishError::io(path, e))?;
    let size = file.metadata().map_err(|e| PublishError::io(path, e))?.len();
    if size != record.package.size {
        return Ok(false);
    }
    let (_, sha256) = sha256_stream(file).map_err(|e| PublishError::io(path, e))?;
    Ok(sha256 == record.package.sha256)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
