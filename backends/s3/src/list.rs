//! Listing: ListObjectsV2 pages (up to [`PAGE_SIZE`] keys each) fetched lazily as the caller consumes
//! the stream, following continuation tokens.
//!
//! Keys come back relative to the configured prefix. Keys that are not valid [`ObjectKey`]s (written
//! by other tools, e.g. with `//`) are skipped with a warning rather than failing the whole listing,
//! and the reserved temporary-upload directory is hidden. S3 lists in UTF-8 byte order, which is the
//! order the trait promises; a page without `Contents` is simply empty.

use buildmaster_storage::{ObjectKey, ObjectMeta, ObjectStream, Operation, StorageError};
use futures::{stream, StreamExt, TryStreamExt};

use crate::backend::Shared;
use crate::get::meta_from;
use crate::put::UPLOADS_DIR;

/// Keys per ListObjectsV2 page: S3's maximum.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html#API_ListObjectsV2_RequestSyntax>
const PAGE_SIZE: i32 = 1000;

/// Where the next page starts.
enum Cursor {
    /// No page fetched yet.
    Start,
    /// Fetch the page after this continuation token.
    Next(String),
    /// The last page has been returned.
    Done,
}

impl Shared {
    /// `StorageBackend::list`.
    pub(crate) fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a> {
        let full_prefix = format!("{}{}", self.prefix.as_str(), prefix.as_str());
        let reserved = format!("{}{UPLOADS_DIR}", self.prefix.as_str());
        stream::try_unfold(Cursor::Start, move |cursor| {
            let (full_prefix, reserved) = (full_prefix.clone(), reserved.clone());
            async move {
                let token = match cursor {
                    Cursor::Done => return Ok(None),
                    Cursor::Start => None,
                    Cursor::Next(token) => Some(token),
                };
                let (page, next) = self.list_page(&full_prefix, &reserved, token).await?;
                Ok(Some((stream::iter(page.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    /// Fetches one page (with retries) and converts its entries.
    async fn list_page(
        &self,
        full_prefix: &str,
        reserved: &str,
        token: Option<String>,
    ) -> Result<(Vec<ObjectMeta>, Cursor), StorageError> {
        let out = self
            .retry
            .run(|| async {
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(full_prefix)
                    .max_keys(PAGE_SIZE)
                    .set_continuation_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| self.errors.sdk(Operation::List, None, &e))
            })
            .await?;
        let mut page = Vec::with_capacity(out.contents().len());
        for object in out.contents() {
            let Some(full_key) = object.key() else { continue };
            if full_key.starts_with(reserved) {
                continue;
            }
            let Some(key) = self.prefix.strip(full_key) else {
                tracing::warn!(
                    key = full_key,
                    "skipping an S3 key that is not a valid object key"
                );
                continue;
            };
            let size = object.size().unwrap_or(0).max(0) as u64;
            page.push(meta_from(&key, size, None, object.last_modified()));
        }
        let next = match (out.is_truncated(), out.next_continuation_token) {
            (Some(true), Some(token)) => Cursor::Next(token),
            _ => Cursor::Done,
        };
        Ok((page, next))
    }
}
