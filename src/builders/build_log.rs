//! The per-build log: build output appended to a file as it arrives and fanned out to live subscribers
//! (the web UI later). A slow subscriber never slows the build: the fan-out is a bounded broadcast
//! channel, and a subscriber that falls behind skips ahead (it can re-read the file).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::exec::Stream;

/// Chunks a lagging subscriber may fall behind before it skips ahead.
const SUBSCRIBER_BACKLOG_CHUNKS: usize = 1024;

/// One chunk of build output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    /// Which stream it came from.
    pub stream: Stream,
    /// The bytes, as received (not split at lines).
    pub data: Bytes,
}

/// A build's log file plus its live subscribers.
pub struct BuildLog {
    path: PathBuf,
    file: std::fs::File,
    live: broadcast::Sender<LogChunk>,
    write_error: Option<std::io::Error>,
}

impl BuildLog {
    /// Creates (truncates) the log file.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::File::create(path)?;
        let (live, _) = broadcast::channel(SUBSCRIBER_BACKLOG_CHUNKS);
        Ok(Self {
            path: path.into(),
            file,
            live,
            write_error: None,
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A live feed of what is appended from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LogChunk> {
        self.live.subscribe()
    }

    /// Appends a chunk: to the file, then to subscribers. A failed file write is kept (the build goes
    /// on; the first error is reported by [`BuildLog::finish`]).
    pub fn append(&mut self, stream: Stream, data: &[u8]) {
        if self.write_error.is_none() {
            if let Err(e) = self.file.write_all(data) {
                self.write_error = Some(e);
            }
        }
        // No subscribers is normal.
        let _ = self.live.send(LogChunk {
            stream,
            data: Bytes::copy_from_slice(data),
        });
    }

    /// Flushes the file; returns the first write error, if any.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        if let Some(e) = self.write_error.take() {
            return Err(e);
        }
        self.file.flush()?;
        self.file.sync_data()?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_reaches_the_file_and_live_subscribers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BuildLog::create(&dir.path().join("builds/7.log")).unwrap();
        let mut sub = log.subscribe();
        let mut sink = |s: Stream, d: &[u8]| log.append(s, d);
        sink(Stream::Stdout, b"configure\n");
        sink(Stream::Stderr, b"warning: x\n");
        assert_eq!(sub.recv().await.unwrap().data, Bytes::from_static(b"configure\n"));
        let second = sub.recv().await.unwrap();
        assert_eq!(
            (second.stream, second.data),
            (Stream::Stderr, Bytes::from_static(b"warning: x\n"))
        );
        let path = log.finish().unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"configure\nwarning: x\n");
    }
}
