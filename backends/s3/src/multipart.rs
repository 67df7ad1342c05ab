//! Multipart upload with bounded memory: create, stream parts, complete — or abort.
//!
//! The body is read one part at a time into a buffer of `part_size` bytes; each full buffer is uploaded
//! by its own task in a [`JoinSet`], and the next part is only read once fewer than `parts_in_flight`
//! parts are in flight, so peak memory is about `parts_in_flight × part_size` however large the body
//! and however slow the link (unbounded spawning would pile a whole file up in memory). Buffers are
//! reused from part to part (`part_buffers.rs`).
//! Every part is in memory, so each UploadPart request can be retried through `RetryPolicy`.
//!
//! Cleanup: from CreateMultipartUpload on, a [`Cleanup`] guard holds "abort this upload". Any error
//! stops the part tasks and aborts before returning; dropping the future (cancellation) drops the
//! `JoinSet` (which aborts the part tasks) and the guard (which spawns the abort).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use buildmaster_storage::{ErrorKind, ExactReader, ObjectKey, Operation, Sha256Digest, StorageError};
use bytes::Bytes;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::backend::Shared;
use crate::cleanup::{spawn_named, Cleanup, Undo};
use crate::integrity::{crc32c_base64, refused_unlisted_checksum, PartProtection};
use crate::part_buffers::PartBuffers;
use crate::put::{body_error, finish, ObjectHeaders, META_SHA256};
use crate::settings::{MAX_PART_SIZE, MAX_UPLOAD_PARTS};

/// Part sizes are rounded up to whole MiB when a large body forces them above the configured size.
const PART_SIZE_GRANULE: u64 = 1024 * 1024;

/// The part size for a body of `size` bytes: the configured size, grown if the body would otherwise
/// need more than [`MAX_UPLOAD_PARTS`] parts. `None` if even [`MAX_PART_SIZE`] parts are not enough.
pub(crate) fn part_size_for(size: u64, configured: u64) -> Option<u64> {
    let needed = size.div_ceil(MAX_UPLOAD_PARTS).div_ceil(PART_SIZE_GRANULE) * PART_SIZE_GRANULE;
    let part = configured.max(needed);
    (part <= MAX_PART_SIZE).then_some(part)
}

impl Shared {
    /// Uploads the body as a multipart upload to the full key `target` and completes it. Returns the
    /// digest and the still-armed cleanup (now "delete `target`"), which the caller disarms once the
    /// object is where it belongs. `key` is the caller's key, for error messages.
    pub(crate) async fn upload_multipart(
        self: &Arc<Self>,
        key: &ObjectKey,
        target: &str,
        reader: ExactReader<'_>,
        size: u64,
        headers: &ObjectHeaders,
        expected: Option<&Sha256Digest>,
    ) -> Result<(Sha256Digest, Cleanup), StorageError> {
        let part_size = part_size_for(size, self.part_size).ok_or_else(|| {
            self.errors.other(
                Operation::Put,
                Some(key),
                ErrorKind::Permanent,
                &format!("{size} bytes is more than S3 accepts in one object"),
            )
        })?;
        let upload_id = self.create_upload(key, target, headers).await?;
        let mut cleanup = Cleanup::new(
            self.clone(),
            Undo::AbortUpload {
                key: target.to_owned(),
                upload_id: upload_id.clone(),
            },
        );
        let parts = match self
            .send_parts(
                key,
                target,
                &upload_id,
                reader,
                part_size,
                expected,
                headers.parts,
            )
            .await
        {
            Ok(parts) => parts,
            Err(err) => {
                cleanup.run_now().await;
                return Err(err);
            }
        };
        let (digest, parts) = parts;
        if let Err(err) = self.complete_upload(key, target, &upload_id, parts, size).await {
            cleanup.run_now().await;
            return Err(err);
        }
        cleanup.set(Undo::DeleteObject {
            key: target.to_owned(),
        });
        Ok((digest, cleanup))
    }

    /// CreateMultipartUpload, safe against cancellation: if the caller is dropped while the request is
    /// in flight, the server may still create the upload after nobody is listening, and no cleanup
    /// guard would know its id. So the request runs in its own named task, which aborts the upload
    /// itself when the id has nobody left to go to.
    pub(crate) async fn create_upload(
        self: &Arc<Self>,
        key: &ObjectKey,
        target: &str,
        headers: &ObjectHeaders,
    ) -> Result<String, StorageError> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (shared, key_owned, target_owned, headers_owned) =
            (self.clone(), key.clone(), target.to_owned(), headers.clone());
        spawn_named("s3-create-upload", async move {
            let created = shared
                .send_create_upload(&key_owned, &target_owned, &headers_owned)
                .await;
            if let Err(Ok(upload_id)) = sender.send(created) {
                let undo = Undo::AbortUpload {
                    key: target_owned,
                    upload_id,
                };
                Cleanup::new(shared, undo).run_now().await;
            }
        });
        receiver.await.unwrap_or_else(|_| {
            Err(self.errors.other(
                Operation::Put,
                Some(key),
                ErrorKind::Transient,
                "the CreateMultipartUpload task ended without an answer",
            ))
        })
    }

    /// CreateMultipartUpload; with [`PartProtection::Listed`], parts must carry CRC32C checksums (see
    /// `integrity.rs`).
    async fn send_create_upload(
        &self,
        key: &ObjectKey,
        target: &str,
        headers: &ObjectHeaders,
    ) -> Result<String, StorageError> {
        let output = self
            .retry
            .run(|| async {
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(target)
                    .content_type(&headers.content_type)
                    .set_cache_control(headers.cache_control.map(str::to_owned))
                    .set_metadata(
                        headers
                            .sha256
                            .map(|d| [(META_SHA256.to_owned(), d.to_hex())].into()),
                    )
                    .set_checksum_algorithm(headers.parts.lists_crc32c().then_some(ChecksumAlgorithm::Crc32C))
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Put, Some(key), &e))
            })
            .await?;
        output.upload_id.ok_or_else(|| {
            self.errors.other(
                Operation::Put,
                Some(key),
                ErrorKind::Transient,
                "CreateMultipartUpload returned no upload id",
            )
        })
    }

    /// Reads and uploads every part with at most `parts_in_flight` buffers alive; then checks the body's
    /// end and digest. Returns the digest and the parts in order. `protection`: see `integrity.rs`.
    #[allow(clippy::too_many_arguments)] // the upload's identity, its body, and how to send it
    async fn send_parts(
        self: &Arc<Self>,
        key: &ObjectKey,
        target: &str,
        upload_id: &str,
        mut reader: ExactReader<'_>,
        part_size: u64,
        expected: Option<&Sha256Digest>,
        protection: PartProtection,
    ) -> Result<(Sha256Digest, Vec<CompletedPart>), StorageError> {
        let mut tasks: JoinSet<Result<CompletedPart, StorageError>> = JoinSet::new();
        let buffers = PartBuffers::default();
        let mut parts = Vec::new();
        let sent = async {
            let mut number: i32 = 1;
            while reader.remaining() > 0 {
                while tasks.len() >= self.parts_in_flight {
                    parts.push(self.join_part(key, &mut tasks).await?);
                }
                // `part_size` ≤ 5 GiB, so it fits in memory-sized integers on every 64-bit target.
                let len = reader.remaining().min(part_size) as usize;
                let mut buf = buffers.take(len);
                reader.read_full(&mut buf).await.map_err(|e| body_error(key, e))?;
                let shared = self.clone();
                let (key, target, upload_id) = (key.clone(), target.to_owned(), upload_id.to_owned());
                let body = buffers.share(buf);
                let span = tracing::debug_span!("task", name = "s3-upload-part", part = number);
                tasks.spawn(
                    async move {
                        shared
                            .upload_part(&key, &target, &upload_id, number, body, protection)
                            .await
                    }
                    .instrument(span),
                );
                number += 1;
            }
            while !tasks.is_empty() {
                parts.push(self.join_part(key, &mut tasks).await?);
            }
            Ok::<(), StorageError>(())
        }
        .await;
        if let Err(err) = sent {
            // Stop the other parts before the caller aborts the upload, so none lands after the abort.
            tasks.shutdown().await;
            return Err(err);
        }
        let digest = finish(reader, key, expected).await?;
        parts.sort_by_key(|part| part.part_number);
        Ok((digest, parts))
    }

    /// Waits for one part task.
    async fn join_part(
        &self,
        key: &ObjectKey,
        tasks: &mut JoinSet<Result<CompletedPart, StorageError>>,
    ) -> Result<CompletedPart, StorageError> {
        match tasks.join_next().await {
            Some(Ok(result)) => result,
            Some(Err(join_error)) => Err(self.errors.other(
                Operation::Put,
                Some(key),
                ErrorKind::Transient,
                &format!("part upload task failed: {join_error}"),
            )),
            None => unreachable!("join_part is only called with tasks running"),
        }
    }

    /// Uploads one part. A [`PartProtection::VerifiedOnly`] part that the server refuses for carrying a
    /// checksum is sent again signed, and later temporary uploads sign theirs (see `integrity.rs`).
    async fn upload_part(
        &self,
        key: &ObjectKey,
        target: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
        protection: PartProtection,
    ) -> Result<CompletedPart, StorageError> {
        // An earlier part may have met the refusal since this upload started.
        let protection = match protection {
            PartProtection::VerifiedOnly if !self.unlisted_part_checksums.load(Ordering::Relaxed) => {
                PartProtection::Signed
            }
            other => other,
        };
        let crc32c = protection.sends_crc32c().then(|| crc32c_base64(&body));
        let refused = AtomicBool::new(false);
        let sent = self
            .retry
            .run(|| async {
                let request = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(target)
                    .upload_id(upload_id)
                    .part_number(number)
                    .set_checksum_crc32_c(crc32c.clone())
                    .body(ByteStream::from(body.clone()))
                    .customize();
                let request = if crc32c.is_some() {
                    request.disable_payload_signing()
                } else {
                    request
                };
                request.send().await.map_err(|e| {
                    if protection == PartProtection::VerifiedOnly
                        && refused_unlisted_checksum(e.code(), e.message())
                    {
                        refused.store(true, Ordering::Relaxed);
                    }
                    self.errors.sdk(Operation::Put, Some(key), &e)
                })
            })
            .await;
        let output = match sent {
            Err(_) if refused.load(Ordering::Relaxed) => {
                if self.unlisted_part_checksums.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        bucket = %self.bucket,
                        "the S3 server takes no part checksums on uploads without a checksum algorithm; \
                         temporary uploads send signed payloads from now on"
                    );
                }
                return Box::pin(self.upload_part(
                    key,
                    target,
                    upload_id,
                    number,
                    body,
                    PartProtection::Signed,
                ))
                .await;
            }
            other => other?,
        };
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(output.e_tag)
            .set_checksum_crc32_c(crc32c.filter(|_| protection.lists_crc32c()))
            .build())
    }

    /// Completes the upload. If an attempt's answer was lost and a retry finds the upload gone
    /// (`NoSuchUpload`), the object is checked instead: present with the right size means the lost
    /// attempt succeeded.
    pub(crate) async fn complete_upload(
        &self,
        key: &ObjectKey,
        target: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
        size: u64,
    ) -> Result<(), StorageError> {
        let upload = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        let result = self
            .retry
            .run(|| async {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(target)
                    .upload_id(upload_id)
                    .multipart_upload(upload.clone())
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Put, Some(key), &e))
            })
            .await;
        match result {
            Err(err) if err.kind == ErrorKind::NotFound => match self.head_full(target, key).await {
                Ok(Some(meta)) if meta.size == size => Ok(()),
                _ => Err(err),
            },
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn part_size_grows_to_stay_within_the_part_limit() {
        assert_eq!(part_size_for(100 * MIB, 16 * MIB), Some(16 * MIB));
        let huge = 400 * 1024 * MIB; // 400 GiB: 16 MiB parts would be 25,600 parts
        let part = part_size_for(huge, 16 * MIB).unwrap();
        assert!(huge.div_ceil(part) <= MAX_UPLOAD_PARTS);
        assert_eq!(part % MIB, 0);
        assert_eq!(
            part_size_for(MAX_PART_SIZE * MAX_UPLOAD_PARTS + 1, 16 * MIB),
            None
        );
    }
}
