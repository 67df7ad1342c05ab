//! Pool objects in storage: a package file uploaded once under its content-addressed key (its
//! SHA-256 handed to storage, which refuses other bytes as they stream), and copied server-side where
//! a format fixes the path its clients fetch from (Haiku's `<root>/packages/<file>`).

use std::path::Path;

use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};

use crate::formats::FormatKind;
use crate::publish::crashpoint::crash_point;

use super::records::PoolPackage;
use super::RepoError;

/// The pool key and digest of `pool`, checked.
pub fn key_and_digest(pool: &PoolPackage) -> Result<(ObjectKey, Sha256Digest), RepoError> {
    let key = ObjectKey::new(pool.pool_key.clone())
        .map_err(|e| RepoError::Key(format!("{}: {e}", pool.pool_key)))?;
    let digest = Sha256Digest::from_hex(&pool.package.sha256)
        .ok_or_else(|| RepoError::Key(format!("{}: bad digest", pool.package.file_name)))?;
    Ok((key, digest))
}

/// The `Content-Type` of a package file of `format`.
fn content_type(format: FormatKind) -> &'static str {
    match format {
        FormatKind::Debian => "application/vnd.debian.binary-package",
        FormatKind::Rpm => "application/x-rpm",
        FormatKind::Haiku => "application/x-vnd.haiku-package",
    }
}

/// Uploads the file at `path` to `pool`'s key in `storage` unless the same bytes are already there;
/// whether it was uploaded.
pub async fn upload_once(
    storage: &dyn StorageBackend,
    pool: &PoolPackage,
    path: &Path,
) -> Result<bool, RepoError> {
    let (key, digest) = key_and_digest(pool)?;
    if holds(storage, &key, pool.package.size, digest).await? {
        return Ok(false);
    }
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|source| RepoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let options = PutOptions {
        content_type: Some(content_type(pool.format).into()),
        cache_control: buildmaster_storage::CacheControl::Immutable,
        sha256: Some(digest),
    };
    storage.put(&key, &mut file, pool.package.size, &options).await?;
    crash_point("repos-pool-uploaded");
    Ok(true)
}

/// Copies a pool file to `key`, where a format that fixes package paths has its clients fetch it
/// (Haiku: `<root>/packages/<file>`) — a server-side copy, never a second upload. Nothing is copied
/// when the same bytes are already there.
pub async fn place(storage: &dyn StorageBackend, pool: &PoolPackage, key: &str) -> Result<(), RepoError> {
    let to = ObjectKey::new(key.to_string()).map_err(|e| RepoError::Key(format!("{key}: {e}")))?;
    let (from, digest) = key_and_digest(pool)?;
    if !holds(storage, &to, pool.package.size, digest).await? {
        storage.copy(&from, &to).await?;
    }
    Ok(())
}

/// Whether `key` holds an object of `size` bytes with SHA-256 `digest`.
pub async fn holds(
    storage: &dyn StorageBackend,
    key: &ObjectKey,
    size: u64,
    digest: Sha256Digest,
) -> Result<bool, RepoError> {
    Ok(storage
        .head(key)
        .await?
        .is_some_and(|meta| meta.size == size && meta.sha256 == Some(digest)))
}
