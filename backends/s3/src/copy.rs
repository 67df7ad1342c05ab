//! Server-side copy (CopyObject) and idempotent delete.

use aws_sdk_s3::types::MetadataDirective;
use buildmaster_storage::{ErrorKind, ObjectKey, ObjectMeta, Operation, StorageError};

use crate::backend::Shared;
use crate::put::{ObjectHeaders, META_SHA256};

/// Largest object a single CopyObject may copy, in bytes (5 GiB); larger ones need UploadPartCopy.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>
pub const MAX_COPY_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/` and RFC 3986 unreserved characters.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html#API_CopyObject_RequestSyntax>
fn encode_copy_source(bucket: &str, key: &str) -> String {
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

impl Shared {
    /// `StorageBackend::copy`: metadata (digest, content type, cache control) is copied along.
    pub(crate) async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let source = self.head(from).await?.ok_or_else(|| {
            self.errors.other(
                Operation::Copy,
                Some(from),
                ErrorKind::NotFound,
                "copy source does not exist",
            )
        })?;
        self.copy_full(&self.full_key(from), &self.full_key(to), source.size, None, to)
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

    /// CopyObject from the full key `source` to `target`; with `replace`, the target gets those headers
    /// instead of the source's (`MetadataDirective: REPLACE`). `key` names the target in errors.
    pub(crate) async fn copy_full(
        &self,
        source: &str,
        target: &str,
        size: u64,
        replace: Option<&ObjectHeaders>,
        key: &ObjectKey,
    ) -> Result<(), StorageError> {
        if size > MAX_COPY_OBJECT_SIZE {
            return Err(self.errors.other(
                Operation::Copy,
                Some(key),
                ErrorKind::Permanent,
                &format!(
                    "server-side copy of {size} bytes is not supported (CopyObject stops at 5 GiB and \
                     multipart copy is not implemented); pass the SHA-256 to put to avoid the copy"
                ),
            ));
        }
        let copy_source = encode_copy_source(&self.bucket, source);
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
            encode_copy_source("b", "p/x 1+2ä.hpkg"),
            "b/p/x%201%2B2%C3%A4.hpkg"
        );
    }
}
