//! Publishing one repository's index: render it from the records, then upload in the order that never
//! shows a client an index naming something missing — content-addressed files first, then the plainly
//! named indexes, the root of trust last — and only the files whose bytes changed.
//!
//! Each file is recorded only after its upload, so a publish killed between two files leaves the
//! repository dirty and the rerun uploads what was not recorded; the previous generation's
//! content-addressed files are marked superseded (their retention window starts) only once the new
//! root is up. The last file's record, that superseding and the repository's "published" mark are one
//! commit ([`Records::finish_publish`]): three fsyncs were a tenth of a small push's time. Crash points:
//! `repos-index-content-addressed`, `repos-index-data`, `repos-index-root` (a file of that role
//! uploaded, not yet recorded), `repos-index-uploaded` (all files up, the previous generation not yet
//! superseded) and `repos-published` (the same, just before the commit that marks it published).
//!
//! A plainly named file is never replaced within the second its previous version was uploaded in
//! ([`after_last_modified`]): clients revalidate it by `Last-Modified`, which has one-second resolution.

use std::time::SystemTime;

use buildmaster_storage::{CacheControl, ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use futures::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

use crate::formats::{
    FormatError, IndexFile, IndexRole, IndexedPackage, ListedPackage, PackageSource, RepositoryFormat, Sign,
};
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

/// Renders `repository`'s index from its linked packages, uploads what changed, and marks the
/// repository published.
pub async fn publish_index(
    storage: &dyn StorageBackend,
    records: &mut Records,
    repository: &Repository,
    format: &dyn RepositoryFormat,
    signer: Option<&dyn Sign>,
    now: SystemTime,
) -> Result<IndexReport, RepoError> {
    let mut source = RecordsSource { records, repository };
    let mut files = format.render_from(&repository.target, &mut source, signer, now)?;
    // A stable sort keeps the format's order inside each role (InRelease before Release, …).
    files.sort_by_key(|file| file.role);
    let mut report = IndexReport::default();
    let now_secs = super::unix_seconds(now);
    // What changed, with its digest, and whether it replaces an earlier version at the same path.
    let mut changed: Vec<(&IndexFile, String, bool)> = Vec::new();
    for file in &files {
        let digest = hex::encode(Sha256::digest(&file.bytes));
        let current = records.current_index(repository.id(), &file.path)?;
        if current.as_deref() == Some(digest.as_str()) {
            report.unchanged += 1;
        } else {
            changed.push((file, digest, current.is_some()));
        }
    }
    let plain = changed.partition_point(|(file, ..)| file.role == IndexRole::ContentAddressed);
    let (content_addressed, plain) = changed.split_at(plain);
    // The first plainly named file that replaces one sets the pace (see `after_last_modified`); its
    // HEAD runs while the content-addressed files, which no client reaches yet, go up side by side.
    let replaced = plain
        .iter()
        .find(|(_, _, replaces)| *replaces)
        .map(|(file, ..)| *file);
    let spaced = async {
        match replaced {
            Some(file) => after_last_modified(storage, repository, file).await,
            None => Ok(()),
        }
    };
    let uploads = futures::stream::iter(content_addressed)
        .map(|(file, digest, _)| async move {
            upload(storage, repository, file, digest).await?;
            crash_point("repos-index-content-addressed");
            Ok::<_, RepoError>(())
        })
        .buffer_unordered(content_addressed.len().max(1))
        .try_collect::<()>();
    futures::try_join!(uploads, spaced)?;
    let recorded: Vec<(&str, &str)> = content_addressed
        .iter()
        .map(|(file, digest, _)| (file.path.as_str(), digest.as_str()))
        .collect();
    records.record_indexes(repository.id(), &recorded, true, now_secs)?;
    report
        .uploaded
        .extend(recorded.iter().map(|(path, _)| path.to_string()));
    // Then the plain files one by one, the root of trust last, each recorded once it is up — the last
    // one in the same commit that ends the publish.
    let mut last = None;
    for (i, (file, digest, _)) in plain.iter().enumerate() {
        upload(storage, repository, file, digest).await?;
        crash_point(match file.role {
            IndexRole::ContentAddressed | IndexRole::Data => "repos-index-data",
            IndexRole::Root => "repos-index-root",
        });
        if i + 1 < plain.len() {
            records.record_index(repository.id(), &file.path, digest, false, now_secs)?;
        } else {
            last = Some((file.path.as_str(), digest.as_str()));
        }
        report.uploaded.push(file.path.clone());
    }
    crash_point("repos-index-uploaded");
    // Content-addressed files the new index no longer names start their retention window now.
    let keep: std::collections::HashSet<&str> = files
        .iter()
        .filter(|file| file.role == IndexRole::ContentAddressed)
        .map(|file| file.path.as_str())
        .collect();
    crash_point("repos-published");
    records.finish_publish(repository.id(), last, &keep, now_secs)?;
    Ok(report)
}

/// A repository's packages as the records hold them, for [`RepositoryFormat::render_from`].
struct RecordsSource<'a> {
    records: &'a Records,
    repository: &'a Repository,
}

fn records_failed(e: super::records::RecordsError) -> FormatError {
    FormatError::Records(e.to_string())
}

impl PackageSource for RecordsSource<'_> {
    fn packages(&mut self) -> Result<Vec<IndexedPackage>, FormatError> {
        let linked = self
            .records
            .linked(self.repository.id())
            .map_err(records_failed)?;
        Ok(keys::indexed(self.repository, linked))
    }

    fn listing(&mut self) -> Result<Vec<ListedPackage>, FormatError> {
        let listed = self
            .records
            .listing(self.repository.id(), self.repository.format())
            .map_err(records_failed)?;
        Ok(listed
            .into_iter()
            .map(|(pool, entry_len)| ListedPackage {
                indexed: keys::indexed_one(self.repository, pool),
                entry_len,
            })
            .collect())
    }

    fn entries(&mut self, packages: &[&IndexedPackage]) -> Result<Vec<String>, FormatError> {
        let sha256s: Vec<&str> = packages.iter().map(|p| p.package.sha256.as_str()).collect();
        self.records
            .entries(self.repository.format(), &sha256s)
            .map_err(records_failed)
    }
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
