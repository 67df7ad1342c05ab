//! Publishing one repository's index: render it from the records, then upload in the order that never
//! shows a client an index naming something missing — content-addressed files first, then the plainly
//! named indexes, the root of trust last — and only the files whose bytes changed.
//!
//! Each file is recorded only after its upload, so a publish killed between two files leaves the
//! repository dirty and the rerun uploads what was not recorded; the previous generation's
//! content-addressed files are marked superseded (their retention window starts) only once the new
//! root is up. Crash points: `repos-index-content-addressed`, `repos-index-data`, `repos-index-root`
//! (a file of that role uploaded, not yet recorded) and `repos-index-uploaded` (all files up, the
//! previous generation not yet superseded).
//!
//! A plainly named file is never replaced within the second its previous version was uploaded in
//! ([`after_last_modified`]): clients revalidate it by `Last-Modified`, which has one-second resolution.

use std::time::SystemTime;

use buildmaster_storage::{CacheControl, ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use sha2::{Digest as _, Sha256};

use crate::formats::{IndexFile, IndexRole, RepositoryFormat, Sign};
use crate::publish::crashpoint::crash_point;

use super::config::Repository;
use super::keys;
use super::records::Records;
use super::RepoError;

/// What one index publish did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Index files uploaded, by path under the repository's root.
    pub uploaded: Vec<String>,
    /// Index files whose bytes were already current.
    pub unchanged: usize,
}

/// Renders `repository`'s index from its linked packages and uploads what changed.
pub async fn publish_index(
    storage: &dyn StorageBackend,
    records: &mut Records,
    repository: &Repository,
    format: &dyn RepositoryFormat,
    signer: Option<&dyn Sign>,
    now: SystemTime,
) -> Result<IndexReport, RepoError> {
    let packages = keys::indexed(repository, records.linked(repository.id())?);
    let mut files = format.render(&repository.target, &packages, signer, now)?;
    // A stable sort keeps the format's order inside each role (InRelease before Release, …).
    files.sort_by_key(|file| file.role);
    let mut report = IndexReport::default();
    let now_secs = super::unix_seconds(now);
    let mut spaced = false;
    for file in &files {
        let digest = hex::encode(Sha256::digest(&file.bytes));
        let current = records.current_index(repository.id(), &file.path)?;
        if current.as_deref() == Some(digest.as_str()) {
            report.unchanged += 1;
            continue;
        }
        if current.is_some() && file.role != IndexRole::ContentAddressed && !spaced {
            after_last_modified(storage, repository, file).await?;
            spaced = true;
        }
        upload(storage, repository, file, &digest).await?;
        crash_point(match file.role {
            IndexRole::ContentAddressed => "repos-index-content-addressed",
            IndexRole::Data => "repos-index-data",
            IndexRole::Root => "repos-index-root",
        });
        let content_addressed = file.role == IndexRole::ContentAddressed;
        records.record_index(repository.id(), &file.path, &digest, content_addressed, now_secs)?;
        report.uploaded.push(file.path.clone());
    }
    crash_point("repos-index-uploaded");
    // Content-addressed files the new index no longer names start their retention window now.
    let keep: std::collections::HashSet<&str> = files
        .iter()
        .filter(|file| file.role == IndexRole::ContentAddressed)
        .map(|file| file.path.as_str())
        .collect();
    records.supersede_content_except(repository.id(), &keep, now_secs)?;
    Ok(report)
}

/// Waits, if need be, until the second after the one in which the file `file` replaces was uploaded.
/// Clients revalidate plainly named index files with `If-Modified-Since`, and object stores keep
/// `Last-Modified` to the second: a file replaced twice within one second looks unchanged to a client
/// that fetched the first version (apt answers "Hit" and keeps the old index until the next change).
/// One HEAD per publish; a wait of at most a second only when publishes follow each other that fast.
async fn after_last_modified(
    storage: &dyn StorageBackend,
    repository: &Repository,
    file: &IndexFile,
) -> Result<(), RepoError> {
    let key = ObjectKey::new(keys::index_key(repository, &file.path))
        .map_err(|e| RepoError::Key(format!("{}: {e}", file.path)))?;
    let Some(previous) = storage.head(&key).await?.and_then(|meta| meta.modified) else {
        return Ok(());
    };
    let second = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let now = SystemTime::now();
    if second(previous) >= second(now) {
        let next = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(second(previous) + 1);
        let wait = next.duration_since(now).unwrap_or_default();
        // Bounded: a server clock far ahead of ours is not waited out.
        tokio::time::sleep(
            wait.min(std::time::Duration::from_secs(2)) + std::time::Duration::from_millis(20),
        )
        .await;
    }
    Ok(())
}

async fn upload(
    storage: &dyn StorageBackend,
    repository: &Repository,
    file: &IndexFile,
    digest: &str,
) -> Result<(), RepoError> {
    let key = ObjectKey::new(keys::index_key(repository, &file.path))
        .map_err(|e| RepoError::Key(format!("{}: {e}", file.path)))?;
    let options = PutOptions {
        content_type: Some(content_type(&file.path).into()),
        cache_control: match file.role {
            IndexRole::ContentAddressed => CacheControl::Immutable,
            IndexRole::Data | IndexRole::Root => CacheControl::NoCache,
        },
        sha256: Sha256Digest::from_hex(digest),
    };
    storage.put_bytes(&key, &file.bytes, &options).await?;
    Ok(())
}

/// The `Content-Type` of an index file, by its name.
fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".xz") {
        "application/x-xz"
    } else if name.ends_with(".xml") {
        "application/xml"
    } else if name.ends_with(".asc") || name.ends_with(".gpg") {
        "application/pgp-signature"
    } else {
        "text/plain; charset=utf-8"
    }
}
