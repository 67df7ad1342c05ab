//! Server-side copy (CopyObject, or UploadPartCopy for objects above its 5 GiB limit) and idempotent
//! delete.

use std::sync::Arc;

use aws_sdk_s3::types::{CompletedPart, MetadataDirective};
use buildmaster_storage::{CacheControl, ErrorKind, ObjectKey, ObjectMeta, Operation, StorageError};
use futures::{stream, StreamExt, TryStreamExt};

use crate::backend::Shared;
use crate::cleanup::{Cleanup, Undo};
use crate::integrity::PartProtection;
use crate::multipart::part_size_for;
use crate::put::{ObjectHeaders, META_SHA256};
use crate::settings::MIN_PART_SIZE;

/// Largest object a single CopyObject may copy, in bytes (5 GiB); larger ones are copied part by part
/// with UploadPartCopy. <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>
pub const MAX_COPY_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Part size of a multipart copy, in bytes (512 MiB; grown if the object would need more than 10,000
/// parts). Nothing passes through this process, so large parts only mean fewer requests.
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/` and RFC 3986 unreserved characters.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html#API_CopyObject_RequestSyntax>
fn encode_copy_source(source: CopyFrom<'_>) -> String {
    let CopyFrom { bucket, key } = source;
    let mut out = format!("{bucket}/");
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The object a copy reads: a bucket of this backend's service and a full key in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CopyFrom<'a> {
    /// The source bucket (this backend's own, or a peer's on the same service).
    pub(crate) bucket: &'a str,
    /// The full key in that bucket.
    pub(crate) key: &'a str,
}

impl Shared {
    /// `StorageBackend::copy`: metadata (digest, content type, cache control) is copied along.
    pub(crate) async fn copy(
        self: &Arc<Self>,
        from: &ObjectKey,
        to: &ObjectKey,
    ) -> Result<ObjectMeta, StorageError> {
        let source = self.head(from).await?.ok_or_else(|| {
            self.errors.other(
                Operation::Copy,
                Some(from),
                ErrorKind::NotFound,
                "copy source does not exist",
            )
        })?;
        let source_key = self.full_key(from);
        let source_object = CopyFrom {
            bucket: &self.bucket,
            key: &source_key,
        };
        self.copy_full(source_object, &self.full_key(to), source.size, None, to)
            .await?;
        self.head(to).await?.ok_or_else(|| {
            self.errors.other(
                Operation::Copy,
                Some(to),
                ErrorKind::Transient,
                "copied object vanished right after the copy (deleted concurrently?)",
            )
        })
    }

    /// Copies `source` (of `size` bytes) to the full key `target` of this bucket; with `replace`, the
    /// target gets those headers instead of the source's (`MetadataDirective: REPLACE`). `key` names the
    /// target in errors.
    pub(crate) async fn copy_full(
        self: &Arc<Self>,
        source: CopyFrom<'_>,
        target: &str,
        size: u64,
        replace: Option<&ObjectHeaders>,
        key: &ObjectKey,
    ) -> Result<(), StorageError> {
        if size > self.max_copy_object_size {
            let headers = match replace {
                Some(headers) => headers.clone(),
                None => self.source_headers(source, key).await?,
            };
            return self.copy_multipart(source, target, size, &headers, key).await;
        }
        let copy_source = encode_copy_source(source);
        self.retry
            .run(|| async {
                let mut request = self
                    .client
                    .copy_object()
                    .bucket(&self.bucket)
                    .key(target)
                    .copy_source(&copy_source);
                if let Some(headers) = replace {
                    request = request
                        .metadata_directive(MetadataDirective::Replace)
                        .content_type(&headers.content_type)
                        .set_cache_control(headers.cache_control.map(str::to_owned))
                        .set_metadata(
                            headers
                                .sha256
                                .map(|d| [(META_SHA256.to_owned(), d.to_hex())].into()),
                        );
                }
                request
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Copy, Some(key), &e))
            })
            .await
            .map(drop)
    }

    /// The headers `source` is stored with, for a multipart copy (which, unlike CopyObject, does not
    /// carry them over by itself). Only the headers this backend sets are kept.
    async fn source_headers(
        &self,
        source: CopyFrom<'_>,
        key: &ObjectKey,
    ) -> Result<ObjectHeaders, StorageError> {
        let out = self
            .retry
            .run(|| async {
                self.client
                    .head_object()
                    .bucket(source.bucket)
                    .key(source.key)
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Copy, Some(key), &e))
            })
            .await?;
        let cache_control = CacheControl::from_header(out.cache_control.as_deref()).header();
        Ok(ObjectHeaders {
            content_type: out
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            cache_control,
            parts: PartProtection::Signed,
            sha256: out
                .metadata
                .as_ref()
                .and_then(|m| m.get(META_SHA256))
                .and_then(|hex| buildmaster_storage::Sha256Digest::from_hex(hex)),
        })
    }

    /// Multipart copy: CreateMultipartUpload with `headers`, UploadPartCopy of each byte range
    /// (`parts_in_flight` at a time), CompleteMultipartUpload; aborted on error and on cancellation.
    async fn copy_multipart(
        self: &Arc<Self>,
        source: CopyFrom<'_>,
        target: &str,
        size: u64,
        headers: &ObjectHeaders,
        key: &ObjectKey,
    ) -> Result<(), StorageError> {
        // Tests lower `max_copy_object_size` to get several parts out of a small object.
        let base = COPY_PART_SIZE.min(self.max_copy_object_size).max(MIN_PART_SIZE);
        let part_size = part_size_for(size, base).ok_or_else(|| {
            self.errors.other(
                Operation::Copy,
                Some(key),
                ErrorKind::Permanent,
                "object too large to copy",
            )
        })?;
        // Copied parts carry no checksum of ours, so the upload is created without a checksum algorithm.
        let headers = ObjectHeaders {
            parts: PartProtection::Signed,
            ..headers.clone()
        };
        let upload_id = self.create_upload(key, target, &headers).await?;
        let cleanup = Cleanup::new(
            self.clone(),
            Undo::AbortUpload {
                key: target.to_owned(),
                upload_id: upload_id.clone(),
            },
        );
        let copy_source = encode_copy_source(source);
        let ranges = (0..size).step_by(part_size as usize).enumerate();
        let copied: Result<Vec<CompletedPart>, StorageError> = stream::iter(ranges)
            .map(|(index, start)| {
                let end = (start + part_size).min(size) - 1; // inclusive
                self.upload_part_copy(
                    key,
                    target,
                    &upload_id,
                    &copy_source,
                    index as i32 + 1,
                    start,
                    end,
                )
            })
            .buffered(self.parts_in_flight)
            .try_collect()
            .await;
        let result = match copied {
            Ok(parts) => self.complete_upload(key, target, &upload_id, parts, size).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => {
                cleanup.disarm();
                Ok(())
            }
            Err(err) => {
                cleanup.run_now().await;
                Err(err)
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one S3 request's worth of parameters
    async fn upload_part_copy(
        &self,
        key: &ObjectKey,
        target: &str,
        upload_id: &str,
        copy_source: &str,
        number: i32,
        start: u64,
        end: u64,
    ) -> Result<CompletedPart, StorageError> {
        let out = self
            .retry
            .run(|| async {
                self.client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(target)
                    .upload_id(upload_id)
                    .part_number(number)
                    .copy_source(copy_source)
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Copy, Some(key), &e))
            })
            .await?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(out.copy_part_result.and_then(|r| r.e_tag))
            .build())
    }

    /// `StorageBackend::delete`: deleting an absent key succeeds.
    pub(crate) async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.delete_full(&self.full_key(key), Operation::Delete, Some(key))
            .await
    }

    /// DeleteObject of a full key; 404 counts as success (S3 itself answers 204 for absent keys, some
    /// compatible servers 404).
    pub(crate) async fn delete_full(
        &self,
        full_key: &str,
        op: Operation,
        key: Option<&ObjectKey>,
    ) -> Result<(), StorageError> {
        let result = self
            .retry
            .run(|| async {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(full_key)
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(op, key, &e))
            })
            .await;
        match result {
            Err(err) if err.kind == ErrorKind::NotFound => Ok(()),
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            encode_copy_source(CopyFrom {
                bucket: "b",
                key: "p/x 1+2ä.hpkg"
            }),
            "b/p/x%201%2B2%C3%A4.hpkg"
        );
    }
}
