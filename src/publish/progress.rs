//! Progress reports from publishing, for a front end to show: the library only counts, it never draws.
//! `buildmaster publish` renders these as terminal bars (`cli::progress`); the daemon passes none.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Told how the uploads of a publish advance. Calls come from the publishing task, possibly from
/// several concurrent uploads at once, so implementations only count (atomics, a progress bar) and
/// never block. Every method has an empty default so an implementation picks what it shows.
pub trait PublishProgress: Send + Sync + fmt::Debug {
    /// Uploads are about to start: `packages` packages need storing, `bytes` bytes in all. Called once,
    /// and not at all when nothing needs uploading.
    fn uploads_started(&self, packages: u64, bytes: u64) {
        let _ = (packages, bytes);
    }
    /// `n` more of the announced bytes are accounted for: read from a file for its upload, or found
    /// already in storage (a package a previous run uploaded is not sent again). After a retried
    /// request the total can exceed the announced one.
    fn bytes_done(&self, n: u64) {
        let _ = n;
    }
    /// One announced package is stored and verified (uploaded now, or found already stored).
    fn package_done(&self, file_name: &str) {
        let _ = file_name;
    }
}

/// Reports nothing: publishing without a front end (the daemon, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl PublishProgress for NoProgress {}

/// An [`AsyncRead`] that tells `on_read` how many bytes each read returned, so a streaming upload can
/// report progress without knowing anything about the backend that consumes it.
pub struct CountingReader<R, F> {
    inner: R,
    on_read: F,
}

impl<R, F: Fn(u64)> CountingReader<R, F> {
    /// Wraps `inner`; `on_read` is called with the size of every non-empty read.
    pub fn new(inner: R, on_read: F) -> Self {
        Self { inner, on_read }
    }
}

impl<R: AsyncRead + Unpin, F: Fn(u64) + Unpin> AsyncRead for CountingReader<R, F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            (this.on_read)(read as u64);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn counting_reader_reports_every_byte_once() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let counted = AtomicU64::new(0);
        let mut reader = CountingReader::new(&data[..], |n| {
            counted.fetch_add(n, Ordering::Relaxed);
        });
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = reader.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, data);
        assert_eq!(counted.load(Ordering::Relaxed), data.len() as u64);
    }
}
