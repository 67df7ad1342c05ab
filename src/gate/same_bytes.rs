//! Promotion's one storage step, shared by pushed and built packages: the staged object copied into
//! the served storage under the same key (a server-side `CopyObject` when both storages are on one S3
//! service, a link between filesystem roots, else streamed and hashed), and the copy checked against
//! the staged size and SHA-256 before anything may name it. Nothing is uploaded again from a local
//! file.

use buildmaster_storage::{ObjectKey, Sha256Digest, StorageBackend, StorageError};

/// Why a staged object could not be promoted.
#[derive(Debug, thiserror::Error)]
pub enum PromoteCopyError {
    /// A storage request failed (the backend says whether a retry can help).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The served copy is not the staged bytes: nothing may name it; the message names the object.
    #[error("{0}")]
    NotTheStagedBytes(String),
}

/// Makes `key` in `served` the staged object of `size` bytes and `digest`: copied from `staging`
/// unless `served` already holds exactly those bytes (a promotion interrupted after its copy).
/// Returns whether a copy was made.
pub async fn promote_copy(
    served: &dyn StorageBackend,
    staging: &dyn StorageBackend,
    key: &ObjectKey,
    size: u64,
    digest: Sha256Digest,
) -> Result<bool, PromoteCopyError> {
    let held = served
        .head(key)
        .await?
        .is_some_and(|meta| meta.size == size && meta.sha256 == Some(digest));
    if held {
        return Ok(false);
    }
    let copied = served.copy_from(staging, key, key).await?;
    if copied.sha256 != Some(digest) || copied.size != size {
        return Err(PromoteCopyError::NotTheStagedBytes(format!(
            "{key}: the promoted copy is not the staged object (size {}, sha256 {}; staged {size} bytes, {digest}); \
             it is not named by any index — check the staging storage and publish again",
            copied.size,
            copied
                .sha256
                .map_or_else(|| "unknown".to_string(), |d| d.to_hex()),
        )));
    }
    Ok(true)
}
