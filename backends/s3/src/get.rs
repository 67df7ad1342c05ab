//! Downloads and metadata: `get` (streaming, ranged in parallel for large objects) and `head`.
//!
//! `get` asks for the first `part_size` bytes with a ranged GET. A small object comes back whole in
//! that one answer, which is streamed straight to the caller. For a larger one the answer's
//! `Content-Range` gives the total size and the rest is fetched as further ranges, `parts_in_flight` at
//! a time, handed out strictly in order (see `ranged.rs`). The size and the SHA-256 come from that
//! first answer's headers, so a download never needs a separate HEAD.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::DateTime;
use buildmaster_storage::{
    CacheControl, Confirmation, ContentHeaders, ErrorKind, ObjectKey, ObjectMeta, ObjectReader, Operation,
    Sha256Digest, StorageError,
};
use std::collections::HashMap;

use crate::backend::Shared;
use crate::put::META_SHA256;
use crate::ranged::ranged_body;

/// HTTP status for "Range Not Satisfiable": what a ranged GET of an empty object gets.
/// <https://www.rfc-editor.org/rfc/rfc9110#name-416-range-not-satisfiable>
const STATUS_RANGE_NOT_SATISFIABLE: u16 = 416;

/// Builds an [`ObjectMeta`] from response headers.
pub(crate) fn meta_from(
    key: &ObjectKey,
    size: u64,
    metadata: Option<&HashMap<String, String>>,
    modified: Option<&DateTime>,
) -> ObjectMeta {
    ObjectMeta {
        key: key.clone(),
        size,
        sha256: metadata
            .and_then(|m| m.get(META_SHA256))
            .and_then(|hex| Sha256Digest::from_hex(hex)),
        modified: modified.and_then(|t| SystemTime::try_from(*t).ok()),
        confirmation: Confirmation::Reported,
    }
}

/// The content headers of a GET answer.
fn headers_from(content_type: Option<&str>, cache_control: Option<&str>) -> ContentHeaders {
    ContentHeaders {
        content_type: content_type.map(str::to_owned),
        cache_control: CacheControl::from_header(cache_control),
    }
}

/// The total size from a `Content-Range: bytes 0-99/1234` header.
fn total_from_content_range(range: &str) -> Option<u64> {
    range.rsplit('/').next()?.trim().parse().ok()
}

impl Shared {
    /// `StorageBackend::head`.
    pub(crate) async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.head_full(&self.full_key(key), key).await
    }

    /// HEAD of a full S3 key, reported under `key`. `None` on 404 (a HEAD answer has no body, so a
    /// missing bucket looks the same here; every other operation names it).
    pub(crate) async fn head_full(
        &self,
        full_key: &str,
        key: &ObjectKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        let result = self
            .retry
            .run(|| async {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(full_key)
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Head, Some(key), &e))
            })
            .await;
        match result {
            Ok(out) => {
                let size = out.content_length.unwrap_or(0).max(0) as u64;
                Ok(Some(meta_from(
                    key,
                    size,
                    out.metadata.as_ref(),
                    out.last_modified.as_ref(),
                )))
            }
            Err(err) if err.kind == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `StorageBackend::get`.
    pub(crate) async fn get(self: &Arc<Self>, key: &ObjectKey) -> Result<ObjectReader, StorageError> {
        let full_key = self.full_key(key);
        let first = self
            .retry
            .run(|| async {
                let range = format!("bytes=0-{}", self.part_size - 1);
                match self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(&full_key)
                    .range(range)
                    .send()
                    .await
                {
                    Ok(out) => Ok(Some(out)),
                    Err(err) if is_range_not_satisfiable(&err) => Ok(None),
                    Err(err) => Err(self.errors.sdk(Operation::Get, Some(key), &err)),
                }
            })
            .await?;
        let Some(first) = first else {
            return self.get_whole(key, &full_key).await;
        };
        // A server that ignores `Range` answers 200 with the whole object and no Content-Range.
        let first_len = first.content_length.unwrap_or(0).max(0) as u64;
        let total = first
            .content_range
            .as_deref()
            .and_then(total_from_content_range)
            .unwrap_or(first_len);
        let meta = meta_from(key, total, first.metadata.as_ref(), first.last_modified.as_ref());
        let headers = headers_from(first.content_type.as_deref(), first.cache_control.as_deref());
        if first_len >= total {
            return Ok(ObjectReader {
                meta,
                headers,
                body: Box::pin(first.body.into_async_read()),
            });
        }
        let body = ranged_body(self.clone(), key.clone(), full_key, first, first_len, total);
        Ok(ObjectReader { meta, headers, body })
    }

    /// Plain GET (used for empty objects, where a ranged GET is not satisfiable).
    async fn get_whole(&self, key: &ObjectKey, full_key: &str) -> Result<ObjectReader, StorageError> {
        let out: GetObjectOutput = self
            .retry
            .run(|| async {
                self.client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(full_key)
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::Get, Some(key), &e))
            })
            .await?;
        let size = out.content_length.unwrap_or(0).max(0) as u64;
        Ok(ObjectReader {
            meta: meta_from(key, size, out.metadata.as_ref(), out.last_modified.as_ref()),
            headers: headers_from(out.content_type.as_deref(), out.cache_control.as_deref()),
            body: Box::pin(out.body.into_async_read()),
        })
    }
}

fn is_range_not_satisfiable(err: &SdkError<GetObjectError>) -> bool {
    matches!(err, SdkError::ServiceError(e) if e.raw().status().as_u16() == STATUS_RANGE_NOT_SATISFIABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_total_is_parsed() {
        assert_eq!(total_from_content_range("bytes 0-99/1234"), Some(1234));
        assert_eq!(total_from_content_range("bytes 0-99/*"), None);
    }

    #[test]
    fn metadata_digest_is_read_and_junk_ignored() {
        let key = ObjectKey::new("a").unwrap();
        let digest = Sha256Digest::of(b"x");
        let metadata: HashMap<_, _> = [(META_SHA256.to_owned(), digest.to_hex())].into();
        assert_eq!(meta_from(&key, 1, Some(&metadata), None).sha256, Some(digest));
        let junk: HashMap<_, _> = [(META_SHA256.to_owned(), "nothex".to_owned())].into();
        assert_eq!(meta_from(&key, 1, Some(&junk), None).sha256, None);
    }
}
