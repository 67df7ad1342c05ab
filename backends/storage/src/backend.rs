//! The [`StorageBackend`] trait: the contract every store (filesystem, S3, …) fulfils.

use std::fmt::Debug;
use std::pin::Pin;

use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::copy_source::CopySource;
use crate::error::{Operation, StorageError};
use crate::key::ObjectKey;
use crate::meta::{ContentHeaders, ObjectMeta, PutOptions};

/// A streaming download: the object's metadata and a reader over its bytes.
pub struct ObjectReader {
    /// Metadata as of the start of the download (size is the number of bytes `body` yields).
    pub meta: ObjectMeta,
    /// The content headers the object was stored with (a streamed copy stores them again).
    pub headers: ContentHeaders,
    /// The object's bytes.
    pub body: Pin<Box<dyn AsyncRead + Send>>,
}

impl Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("meta", &self.meta)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// A lazy, paged listing.
pub type ObjectStream<'a> = BoxStream<'a, Result<ObjectMeta, StorageError>>;

/// An object store. Keys are relative to the backend's configured prefix.
///
/// Contract (checked by the shared conformance suite in `tests/storage_conformance.rs` against every
/// backend):
/// - `put` streams exactly `size` bytes and is atomic: the object appears whole or not at all, and a
///   failed or cancelled `put` leaves nothing behind (no object, no unfinished multipart upload). It
///   records the SHA-256 so that `head` can return it without a download. Its answer says
///   [`Confirmation::StoredAsSent`](crate::Confirmation) only when the backend counted and hashed every
///   byte, the store checked the bytes it received and committed the object as sent (see
///   [`Confirmation`](crate::Confirmation)); a caller may then rely on the object without a `head`.
///   Any path that cannot vouch for that answers `Reported`.
/// - `get` streams; `head` returns `None` for an absent object.
/// - `list` is lazy and paged, returns keys in lexicographic order, and an empty answer is normal.
/// - `copy` is server-side; `delete` is idempotent (deleting an absent object succeeds).
/// - `copy_from` copies from another backend: server-side when the two are on one service (S3
///   `CopyObject` across buckets, a hard link across directories), streamed otherwise; either way the
///   copy keeps the recorded SHA-256 and content headers.
#[async_trait]
pub trait StorageBackend: Send + Sync + Debug + 'static {
    /// Streams `size` bytes from `body` to `key`.
    async fn put(
        &self,
        key: &ObjectKey,
        body: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError>;

    /// Opens `key` for streaming; a missing object is an error of kind `NotFound`.
    async fn get(&self, key: &ObjectKey) -> Result<ObjectReader, StorageError>;

    /// Metadata of `key`, or `None` if it does not exist.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError>;

    /// Every object whose key starts with `prefix` (a plain string prefix, as in S3), in key order.
    fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a>;

    /// Server-side copy of `from` to `to`, keeping the recorded SHA-256 and content headers.
    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError>;

    /// Where `key` lives, for a peer backend to copy it without the bytes passing through this process
    /// (see [`CopySource`]); `None`, the default, when no peer can. Does no I/O and does not check that
    /// the object exists.
    fn copy_source(&self, key: &ObjectKey) -> Option<CopySource> {
        let _ = key;
        None
    }

    /// Copies the object at `source` (another backend's, as its [`copy_source`](Self::copy_source)
    /// told) to `to` without the bytes passing through this process, keeping its recorded SHA-256 and
    /// content headers. `Ok(None)`, the default, when this backend cannot reach `source` that way (another
    /// service, other credentials, another kind of store): the caller then streams.
    async fn copy_from_peer(
        &self,
        source: &CopySource,
        to: &ObjectKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        let _ = (source, to);
        Ok(None)
    }

    /// Copies `from` of `source` (another backend, e.g. a staging bucket) to `to` of this one, keeping
    /// the recorded SHA-256 and content headers: server-side through
    /// [`copy_from_peer`](Self::copy_from_peer) when it can, otherwise downloaded and uploaded with the
    /// recorded SHA-256 verified. Errors name both locations.
    ///
    /// Backends and wrappers implement `copy_source` and `copy_from_peer` and keep this default, so that
    /// a streamed copy goes through the outermost wrapper's `get` and `put`.
    async fn copy_from(
        &self,
        source: &dyn StorageBackend,
        from: &ObjectKey,
        to: &ObjectKey,
    ) -> Result<ObjectMeta, StorageError> {
        crate::transfer::copy_between(source, from, self, to).await
    }

    /// Removes `key`; succeeds if it is already absent.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// A one-line description for logs and status (never includes secrets).
    fn describe(&self) -> String;

    /// Removes what this backend's own interrupted writes left behind (a crash between an upload and
    /// its commit: temporary objects or files, unfinished multipart uploads) once older than
    /// `older_than`, so that live writes are never touched. Returns how many were removed. Backends
    /// that cannot leave anything behind keep the default.
    async fn sweep_leftovers(&self, older_than: std::time::Duration) -> Result<u64, StorageError> {
        let _ = older_than;
        Ok(0)
    }

    /// Uploads an in-memory body (index files).
    async fn put_bytes(
        &self,
        key: &ObjectKey,
        bytes: &[u8],
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        let mut body = bytes;
        self.put(key, &mut body, bytes.len() as u64, opts).await
    }

    /// Downloads a whole object into memory (index files); refuses objects larger than `limit`.
    async fn get_bytes(&self, key: &ObjectKey, limit: u64) -> Result<Vec<u8>, StorageError> {
        let mut reader = self.get(key).await?;
        if reader.meta.size > limit {
            return Err(StorageError::new(
                Operation::Get,
                Some(key),
                crate::ErrorKind::Permanent,
                format!(
                    "object is {} bytes, more than the {limit} bytes expected here",
                    reader.meta.size
                ),
            ));
        }
        let mut out = Vec::with_capacity(reader.meta.size as usize);
        reader
            .body
            .read_to_end(&mut out)
            .await
            .map_err(|e| StorageError::io(Operation::Get, Some(key), e))?;
        Ok(out)
    }
}
