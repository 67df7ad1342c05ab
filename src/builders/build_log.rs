//! The per-build log: build output appended to a file as it arrives and fanned out to live subscribers
//! (the web UI later). A slow subscriber never slows the build: the fan-out is a bounded broadcast
//! channel, and a subscriber that falls behind skips ahead (it can re-read the file).
//!
//! The log is capped (`[buildrun] max_build_log_bytes`, default [`DEFAULT_MAX_BUILD_LOG_BYTES`]): a
//! build that prints without end must not fill the master's disk. The file keeps the first part of
//! the output up to the cap less [`KEPT_TAIL_BYTES`], then a line saying where and why output was cut;
//! the last [`KEPT_TAIL_BYTES`] are kept in memory and appended when the build ends, because the
//! error that failed a build is at its end.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::exec::Stream;

/// Chunks a lagging subscriber may fall behind before it skips ahead.
const SUBSCRIBER_BACKLOG_CHUNKS: usize = 1024;

/// Default cap on one build log: far above what a verbose HaikuPorts build prints (a few MB), far
/// below what fills a disk.
pub const DEFAULT_MAX_BUILD_LOG_BYTES: u64 = 64 << 20;
/// Bytes of the end of a cut log kept and appended when the build ends (at most a quarter of the
/// cap).
pub const KEPT_TAIL_BYTES: usize = 1 << 20;

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
    /// The cap on the file's size (markers aside).
    limit: u64,
    /// Bytes written to the file so far.
    written: u64,
    /// Bytes of output neither written nor kept in `tail` (after the cut).
    skipped: u64,
    /// After the cut: the last bytes of output (at most `2 × tail_keep`, trimmed to `tail_keep`).
    tail: Vec<u8>,
    /// How many bytes of the end are kept after the cut.
    tail_keep: usize,
    /// Whether the cut happened.
    cut: bool,
}

impl BuildLog {
    /// Creates (truncates) the log file, capped at [`DEFAULT_MAX_BUILD_LOG_BYTES`].
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Self::create_capped(path, DEFAULT_MAX_BUILD_LOG_BYTES)
    }

    /// Creates (truncates) the log file, capped at `limit` bytes. The file is readable by its owner
    /// only: a build's output may hold what a recipe should not have printed.
    pub fn create_capped(path: &Path, limit: u64) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        let (live, _) = broadcast::channel(SUBSCRIBER_BACKLOG_CHUNKS);
        let tail_keep = KEPT_TAIL_BYTES.min((limit / 4) as usize);
        Ok(Self {
            path: path.into(),
            file,
            live,
            write_error: None,
            limit,
            written: 0,
            skipped: 0,
            tail: Vec::new(),
            tail_keep,
            cut: false,
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
        if self.cut {
            self.keep_tail(data);
            return;
        }
        let head_limit = self.limit.saturating_sub(self.tail_keep as u64);
        let room = head_limit.saturating_sub(self.written) as usize;
        let (now, rest) = data.split_at(room.min(data.len()));
        self.write(now);
        self.written += now.len() as u64;
        // No subscribers is normal.
        let _ = self.live.send(LogChunk {
            stream,
            data: Bytes::copy_from_slice(now),
        });
        if !rest.is_empty() {
            self.cut = true;
            let marker = format!(
                "\n[buildmaster: this build log reached its cap of {} bytes ([buildrun] \
                 max_build_log_bytes); output is skipped from here, and its last {} bytes are \
                 appended when the build ends]\n",
                self.limit, self.tail_keep
            );
            self.write_marker(&marker);
            self.keep_tail(rest);
        }
    }

    /// After the cut: keeps the last `tail_keep` bytes, counting what falls out.
    fn keep_tail(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        // Trim only once the buffer is twice the kept size: amortised O(1) per byte.
        if self.tail.len() > 2 * self.tail_keep {
            let excess = self.tail.len() - self.tail_keep;
            self.tail.drain(..excess);
            self.skipped += excess as u64;
        }
    }

    fn write(&mut self, data: &[u8]) {
        if self.write_error.is_none() {
            if let Err(e) = self.file.write_all(data) {
                self.write_error = Some(e);
            }
        }
    }

    /// Writes a line of ours to the file and to subscribers.
    fn write_marker(&mut self, marker: &str) {
        self.write(marker.as_bytes());
        let _ = self.live.send(LogChunk {
            stream: Stream::Stdout,
            data: Bytes::copy_from_slice(marker.as_bytes()),
        });
    }

    /// Flushes the file (after appending the kept end of a cut log); returns the first write error,
    /// if any.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        if self.cut {
            let excess = self.tail.len().saturating_sub(self.tail_keep);
            self.skipped += excess as u64;
            let tail = self.tail.split_off(excess);
            let marker = format!(
                "\n[buildmaster: {} bytes of output skipped; the last {} bytes follow]\n",
                self.skipped,
                tail.len()
            );
            self.write_marker(&marker);
            self.write(&tail);
            let _ = self.live.send(LogChunk {
                stream: Stream::Stdout,
                data: Bytes::from(tail),
            });
        }
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

    #[test]
    fn a_log_over_its_cap_keeps_its_start_and_end_and_marks_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 4096u64;
        let mut log = BuildLog::create_capped(&dir.path().join("1.log"), limit).unwrap();
        log.append(Stream::Stdout, b"START\n");
        let line = [b'x'; 99];
        for _ in 0..10_000 {
            log.append(Stream::Stdout, &line);
            log.append(Stream::Stdout, b"\n");
        }
        log.append(Stream::Stderr, b"error: the real failure\n");
        let path = log.finish().unwrap();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert!(text.len() < limit as usize + 1024, "{} bytes", text.len());
        assert!(text.starts_with("START\n"));
        assert!(text.contains("reached its cap of 4096 bytes"), "{text}");
        assert!(text.contains("bytes of output skipped"), "{text}");
        assert!(text.ends_with("error: the real failure\n"), "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
