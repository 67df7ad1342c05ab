//! Parallel ranged download of a large object, delivered in order as one `AsyncRead`.
//!
//! One HTTP stream is limited by a single connection's round trips and by the server's per-request
//! pipeline; fetching several ranges of `part_size` bytes at once keeps several busy. The ranges go
//! through `futures`' `buffered`, which runs up to N fetches at once but yields their results strictly
//! in order, so the caller reads the object front to back while memory stays bounded at about
//! `parts_in_flight × part_size` (`parts_in_flight − 1` ranges being fetched plus the one being read
//! out; at least one of each). Each fetch runs as its own task, so it keeps receiving while the caller
//! is busy elsewhere (writing the last range to disk or to a builder) instead of only while the caller
//! polls; dropping the reader aborts the fetches still running.
//!
//! Every range after the first carries `If-Match: <ETag of the first answer>`: if the object is
//! replaced mid-download the server answers 412 and the read fails (transient: fetch it again) instead
//! of silently splicing two versions together. Each range is replayable, so each goes through
//! `RetryPolicy` on its own.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use buildmaster_storage::{ErrorKind, ObjectKey, Operation, StorageError};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{stream, FutureExt, StreamExt, TryStreamExt};
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;
use tokio_util::task::AbortOnDropHandle;

use crate::backend::Shared;

/// The body of a ranged download. `first` is the answer to the ranged GET of bytes
/// `0..first_len`; `total` is the object's size.
pub(crate) fn ranged_body(
    shared: Arc<Shared>,
    key: ObjectKey,
    full_key: String,
    first: GetObjectOutput,
    first_len: u64,
    total: u64,
) -> Pin<Box<dyn AsyncRead + Send>> {
    let etag = first.e_tag.clone();
    let step = shared.part_size;
    let in_flight = shared.parts_in_flight;
    let first_fetch = {
        let (shared, key) = (shared.clone(), key.clone());
        spawn_fetch(shared.clone(), key.clone(), async move {
            collect(&shared, &key, first.body, first_len).await
        })
    };
    let rest = (first_len..total).step_by(step as usize).map(move |start| {
        let end = (start + step).min(total); // exclusive
        let (shared, key, full_key, etag) = (shared.clone(), key.clone(), full_key.clone(), etag.clone());
        spawn_fetch(shared.clone(), key.clone(), async move {
            fetch_range(&shared, &key, &full_key, etag.as_deref(), start, end).await
        })
    });
    let chunks = stream::iter(std::iter::once(first_fetch).chain(rest))
        // One range more is held by the reader while it is read out, so fetch one fewer: memory stays
        // at `parts_in_flight × part_size` like an upload's.
        .buffered(in_flight.saturating_sub(1).max(1))
        .map_err(io::Error::other);
    Box::pin(StreamReader::new(chunks))
}

/// Starts `fetch` as a task (when `buffered` asks for the next range) and gives its result, or an error
/// naming `key` if the task died; the task is aborted if the answer is dropped unread.
fn spawn_fetch(
    shared: Arc<Shared>,
    key: ObjectKey,
    fetch: impl Future<Output = Result<Bytes, StorageError>> + Send + 'static,
) -> BoxFuture<'static, Result<Bytes, StorageError>> {
    let task = AbortOnDropHandle::new(tokio::spawn(fetch));
    async move {
        task.await.unwrap_or_else(|died| {
            Err(shared.errors.other(
                Operation::Get,
                Some(&key),
                ErrorKind::Transient,
                &format!("range download task failed: {died}"),
            ))
        })
    }
    .boxed()
}

/// GETs bytes `start..end` (exclusive end), with retries.
async fn fetch_range(
    shared: &Shared,
    key: &ObjectKey,
    full_key: &str,
    etag: Option<&str>,
    start: u64,
    end: u64,
) -> Result<Bytes, StorageError> {
    shared
        .retry
        .run(|| async {
            let out = shared
                .client
                .get_object()
                .bucket(&shared.bucket)
                .key(full_key)
                .range(format!("bytes={start}-{}", end - 1))
                .set_if_match(etag.map(str::to_owned))
                .send()
                .await
                .map_err(|e| shared.errors.sdk(Operation::Get, Some(key), &e))?;
            collect(shared, key, out.body, end - start).await
        })
        .await
}

/// Reads a range's body into one buffer of exactly the expected length. Copying the network's small
/// chunks into a single allocation keeps memory at one `part_size` block per range, instead of a long
/// tail of small buffers that fragment the allocator.
async fn collect(
    shared: &Shared,
    key: &ObjectKey,
    mut body: ByteStream,
    expected: u64,
) -> Result<Bytes, StorageError> {
    let fail = |message: String| {
        shared
            .errors
            .other(Operation::Get, Some(key), ErrorKind::Transient, &message)
    };
    // `expected` ≤ part_size ≤ 5 GiB.
    let mut buf = BytesMut::with_capacity(expected as usize);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| fail(format!("download interrupted: {e}")))?;
        if (buf.len() + chunk.len()) as u64 > expected {
            return Err(fail(format!(
                "range answer is longer than the {expected} bytes asked for"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != expected {
        return Err(fail(format!(
            "range answer had {} bytes, expected {expected}",
            buf.len()
        )));
    }
    Ok(buf.freeze())
}
