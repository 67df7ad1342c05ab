//! Uploads: the choice between one PutObject and a multipart upload, the headers every upload carries,
//! and how the SHA-256 ends up in the object's metadata on either path.
//!
//! S3 user metadata (`x-amz-meta-sha256`) is fixed when an upload *starts*. Three cases:
//! - Below `multipart_threshold` the body is buffered (it is small by definition), hashed, and sent in
//!   one PutObject that already carries the digest. The buffered body can be replayed, so the request
//!   goes through `RetryPolicy`.
//! - Multipart with `PutOptions::sha256` given: the expected digest is stored at
//!   CreateMultipartUpload, and the upload is aborted (never completed) if the streamed bytes hash
//!   differently, so a wrong digest can never be published.
//! - Multipart without a known digest: it is only known after the last byte, too late for the final
//!   key's metadata. The body is uploaded under a reserved temporary key
//!   ([`UPLOADS_DIR`]`<random>` under the prefix), then a server-side CopyObject with
//!   `MetadataDirective: REPLACE` creates the final key *with* the digest in one atomic step, and the
//!   temporary object is deleted. So the final key never exists without its digest, and the data
//!   crosses the network once (servers copy internally; garage just adds references to the blocks as
//!   long as the temporary object carries no checksum of its own: see `integrity.rs`).
//!   Callers that know the digest (the publisher does: packages are verified at staging) should pass
//!   it and skip the copy.
//!
//! What a successful `put` confirms ([`Confirmation`]): on the first two paths every byte was
//! counted and hashed by us (a wrong digest or size fails before the object is committed) and checked
//! by the server on receipt (`x-amz-checksum-crc32c` of the PutObject or of each UploadPart, or the
//! signed payload when checksums are off), and the object was committed by the request that carried the
//! digest (PutObject; CompleteMultipartUpload listing the checked parts), so the answer says
//! `StoredAsSent` and a `head` would only read back what we set. The third path ends in a server-side
//! copy from a temporary object whose parts the server checked but that has no checksum of its own, so
//! it says `Reported` and a caller that must know checks with `head`.
//!
//! The whole `put` is never retried: the body is a one-shot stream. Single requests whose body is in
//! memory (PutObject, each UploadPart) are.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use buildmaster_storage::{
    Confirmation, ErrorKind, ExactReader, ObjectKey, ObjectMeta, Operation, PutOptions, Sha256Digest,
    StorageError,
};
use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::backend::Shared;
use crate::copy::CopyFrom;
use crate::integrity::{crc32c_base64, PartProtection};

/// Name of the user-metadata entry holding the lowercase-hex SHA-256 (`x-amz-meta-sha256`).
pub(crate) const META_SHA256: &str = "sha256";

/// Reserved key directory (under the prefix) for uploads whose digest is not yet known. `list` hides
/// it; objects older than a day there are leftovers of a crash between upload and copy.
pub const UPLOADS_DIR: &str = ".buildmaster-uploads/";

/// `Content-Type` when the caller names none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The headers an object is stored with.
#[derive(Clone, Debug)]
pub(crate) struct ObjectHeaders {
    /// `Content-Type`.
    pub(crate) content_type: String,
    /// `Cache-Control`, if any.
    pub(crate) cache_control: Option<&'static str>,
    /// The digest for `x-amz-meta-sha256`, if known when the upload starts.
    pub(crate) sha256: Option<Sha256Digest>,
    /// How a multipart upload of this object protects its parts (see `integrity.rs`).
    pub(crate) parts: PartProtection,
}

impl ObjectHeaders {
    /// The headers for `opts`, with `sha256` as the digest to record and `parts` saying how a multipart
    /// upload protects its parts.
    pub(crate) fn new(opts: &PutOptions, sha256: Option<Sha256Digest>, parts: PartProtection) -> Self {
        Self {
            content_type: opts
                .content_type
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
            cache_control: opts.cache_control.header(),
            sha256,
            parts,
        }
    }
}

/// Converts a body-read failure: the declared size or digest did not match, or the source failed.
pub(crate) fn body_error(key: &ObjectKey, err: std::io::Error) -> StorageError {
    StorageError::io(Operation::Put, Some(key), err)
}

impl Shared {
    /// `StorageBackend::put`.
    pub(crate) async fn put(
        self: &Arc<Self>,
        key: &ObjectKey,
        body: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        let reader = ExactReader::new(body, size);
        // See the module docs on what each path confirms.
        let (digest, confirmation) = if size < self.multipart_threshold {
            let digest = self.put_single(key, reader, size, opts).await?;
            (digest, Confirmation::StoredAsSent)
        } else if let Some(expected) = opts.sha256 {
            let headers = ObjectHeaders::new(opts, Some(expected), self.part_protection(false));
            let full_key = self.full_key(key);
            let (digest, cleanup) = self
                .upload_multipart(key, &full_key, reader, size, &headers, Some(&expected))
                .await?;
            cleanup.disarm();
            (digest, Confirmation::StoredAsSent)
        } else {
            let digest = self.put_multipart_then_copy(key, reader, size, opts).await?;
            (digest, Confirmation::Reported)
        };
        Ok(ObjectMeta {
            key: key.clone(),
            size,
            sha256: Some(digest),
            // PutObject and CompleteMultipartUpload do not return the stored time; `head` has it.
            modified: None,
            confirmation,
        })
    }

    /// Buffers a small body, checks it, and sends it in one PutObject.
    async fn put_single(
        &self,
        key: &ObjectKey,
        mut reader: ExactReader<'_>,
        size: u64,
        opts: &PutOptions,
    ) -> Result<Sha256Digest, StorageError> {
        // `size < multipart_threshold`, which is a u64 of sane size; still, do not trust a cast.
        let len = usize::try_from(size).map_err(|_| {
            self.errors.other(
                Operation::Put,
                Some(key),
                ErrorKind::Permanent,
                "body too large for memory",
            )
        })?;
        let mut buf = vec![0u8; len];
        reader.read_full(&mut buf).await.map_err(|e| body_error(key, e))?;
        let digest = finish(reader, key, opts.sha256.as_ref()).await?;
        let headers = ObjectHeaders::new(opts, Some(digest), self.part_protection(false));
        let body = Bytes::from(buf);
        let full_key = self.full_key(key);
        let crc32c = self.upload_checksums.then(|| crc32c_base64(&body));
        self.retry
            .run(|| async {
                let request = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&full_key)
                    .content_type(&headers.content_type)
                    .set_cache_control(headers.cache_control.map(str::to_owned))
                    .metadata(META_SHA256, digest.to_hex())
                    .set_checksum_crc32_c(crc32c.clone())
                    .body(ByteStream::from(body.clone()))
                    .customize();
                let request = if crc32c.is_some() {
                    request.disable_payload_signing()
                } else {
                    request
                };
                request
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Put, Some(key), &e))
            })
            .await?;
        Ok(digest)
    }

    /// Multipart upload to a temporary key, then a copy that sets the digest (see the module docs).
    async fn put_multipart_then_copy(
        self: &Arc<Self>,
        key: &ObjectKey,
        reader: ExactReader<'_>,
        size: u64,
        opts: &PutOptions,
    ) -> Result<Sha256Digest, StorageError> {
        let temp_key = format!(
            "{}{UPLOADS_DIR}{:016x}{:016x}",
            self.prefix.as_str(),
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let (digest, cleanup) = self
            .upload_multipart(
                key,
                &temp_key,
                reader,
                size,
                // The temporary object itself must have no checksum: servers re-read and rewrite a
                // multipart object with checksums when it is copied (AWS's rule, followed by garage),
                // which would turn the cheap reference copy below into a second full write. Its parts
                // are still checked on receipt where the server allows it (see `integrity.rs`).
                &ObjectHeaders::new(opts, None, self.part_protection(true)),
                None,
            )
            .await?;
        let headers = ObjectHeaders::new(opts, Some(digest), PartProtection::Signed);
        let final_key = self.full_key(key);
        if let Err(err) = self
            .copy_full(
                CopyFrom {
                    bucket: &self.bucket,
                    key: &temp_key,
                },
                &final_key,
                size,
                Some(&headers),
                key,
            )
            .await
        {
            cleanup.run_now().await;
            return Err(err);
        }
        // The object is published; failing to delete the temporary only leaves litter (logged by
        // `run_now`), which must not turn a successful upload into an error.
        cleanup.run_now().await;
        Ok(digest)
    }
}

/// Checks that the body ended at its declared size and, if given, hashed to `expected`.
pub(crate) async fn finish(
    reader: ExactReader<'_>,
    key: &ObjectKey,
    expected: Option<&Sha256Digest>,
) -> Result<Sha256Digest, StorageError> {
    reader.finish(expected).await.map_err(|e| body_error(key, e))
}
