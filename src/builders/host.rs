//! The transport seam: what the builder flow needs from a machine, whether it is reached over SSH
//! ([`super::ssh_host::SshHost`]) or is the master itself ([`super::local::LocalHost`]). The cache,
//! the ports-tree sync, the build steps and the results ([`super::cache`], [`super::ports_tree`],
//! [`super::build`], [`super::results`]) are written once against [`BuilderHost`]; only connection
//! life and health stay transport-specific ([`super::remote`]).
//!
//! Every write is `<name>.upload` then rename, with size and SHA-256 checked while streaming; every
//! read-back is checked against the digest the host computed for the file itself. Paths are the
//! host's own (absolute, `/`-separated) strings.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use buildmaster_storage::Sha256Digest;
use tokio::io::AsyncRead;

use super::error::BuilderError;
use super::exec::{ExecLimits, Exit, OutputSink, Stream};
use super::quote::command_line;
use super::sftp::{Expected, Transferred};

/// Output captured by [`run_capture`] is capped: housekeeping commands print little, and an error
/// message only needs the end.
const CAPTURE_LIMIT_BYTES: usize = 1024 * 1024;
/// How much of a failed housekeeping command's output an error quotes (its end).
const ERROR_TAIL_CHARS: usize = 2000;

/// A command to run on a host.
#[derive(Clone, Copy, Debug)]
pub struct Command<'a> {
    /// The argument vector; never a shell line.
    pub argv: &'a [String],
    /// Directory to run in; `None`: the host's default (the login directory over SSH).
    pub cwd: Option<&'a str>,
    /// A script sourced first when present (HaikuPorter's `SetupEnvironment`, see
    /// [`super::exec::build_command_line`]); `None`: none.
    pub setup_script: Option<&'a str>,
}

impl<'a> Command<'a> {
    /// `argv` in `cwd`, no setup script.
    pub fn new(argv: &'a [String], cwd: Option<&'a str>) -> Self {
        Self {
            argv,
            cwd,
            setup_script: None,
        }
    }
}

/// An entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// File name.
    pub name: String,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
    /// A regular file (not a symlink, not a directory).
    pub is_file: bool,
}

/// Running commands on a machine: the part of [`BuilderHost`] a bare SSH connection also offers,
/// so that housekeeping helpers ([`run_capture`], [`run_checked`]) work on either.
#[async_trait]
pub trait RunCommand: Send + Sync {
    /// The builder's name, for errors.
    fn builder(&self) -> &str;

    /// Runs `cmd` within `limits` (idle and total timeouts, cancellation; a PTY where the transport
    /// has one), streaming its output to `sink` as it arrives. Cancelling or a timeout kills the
    /// command's whole process group.
    async fn run(
        &self,
        cmd: Command<'_>,
        limits: &ExecLimits,
        sink: OutputSink<'_>,
    ) -> Result<Exit, BuilderError>;
}

/// Files and commands on a builder.
#[async_trait]
pub trait BuilderHost: RunCommand {
    /// Whether this host is the master itself: its ports tree is then the master's own checkout,
    /// which the flow never rewrites (no sync step).
    fn is_master(&self) -> bool;

    /// Streams `source` to `dest` through `dest.upload`, checking size and SHA-256 against
    /// `expected` while streaming; renames into place only when both match, removes the temporary
    /// file otherwise.
    async fn upload(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        dest: &str,
        expected: Expected,
    ) -> Result<Transferred, BuilderError>;

    /// Copies the host's `src` to the local `dest`, checked against the size and SHA-256 the host
    /// computes for `src` itself (a result the build produced: a mismatch is the build's failure).
    async fn fetch(&self, src: &str, dest: &Path, limits: &ExecLimits) -> Result<Transferred, BuilderError>;

    /// SHA-256 and size of `path`, or `None` if it does not exist.
    async fn sha256(&self, path: &str, limits: &ExecLimits) -> Result<Option<Transferred>, BuilderError>;

    /// Lists `dir` (without `.` and `..`).
    async fn list(&self, dir: &str) -> Result<Vec<DirEntry>, BuilderError>;

    /// Size of `path`, or `None` if it does not exist.
    async fn size(&self, path: &str) -> Result<Option<u64>, BuilderError>;

    /// Renames `from` to `to`, atomically replacing `to`.
    async fn rename(&self, from: &str, to: &str) -> Result<(), BuilderError>;

    /// Removes a file or symlink; an absent one is fine.
    async fn remove(&self, path: &str) -> Result<(), BuilderError>;

    /// Creates `dir` and its missing parents.
    async fn mkdir_p(&self, dir: &str) -> Result<(), BuilderError>;

    /// Creates the symlink `link` pointing at `target`.
    async fn symlink(&self, target: &str, link: &str) -> Result<(), BuilderError>;

    /// Writes a small file atomically (`.upload` then rename).
    async fn write_small(&self, path: &str, bytes: &[u8]) -> Result<(), BuilderError>;

    /// Reads a small file whole, or `None` if it does not exist; more than `limit` bytes is an error.
    async fn read_small(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, BuilderError>;
}

/// What a short command printed.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Exit status.
    pub status: u32,
    /// Standard output (capped).
    pub stdout: Vec<u8>,
    /// Standard error (capped).
    pub stderr: Vec<u8>,
}

/// Runs a housekeeping command and captures its output.
pub async fn run_capture<H: RunCommand + ?Sized>(
    host: &H,
    argv: &[String],
    cwd: Option<&str>,
    limits: &ExecLimits,
) -> Result<Output, BuilderError> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut sink = |stream: Stream, data: &[u8]| {
        let buf = match stream {
            Stream::Stdout => &mut stdout,
            Stream::Stderr => &mut stderr,
        };
        if buf.len() < CAPTURE_LIMIT_BYTES {
            buf.extend_from_slice(data);
        }
    };
    let status = host.run(Command::new(argv, cwd), limits, &mut sink).await?.status;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Runs a housekeeping command that must succeed; a failure quotes the end of its output.
pub async fn run_checked<H: RunCommand + ?Sized>(
    host: &H,
    argv: &[String],
    cwd: Option<&str>,
    limits: &ExecLimits,
) -> Result<Output, BuilderError> {
    let out = run_capture(host, argv, cwd, limits).await?;
    if out.status != 0 {
        let text = String::from_utf8_lossy(if out.stderr.is_empty() {
            &out.stdout
        } else {
            &out.stderr
        });
        let chars: Vec<char> = text.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(ERROR_TAIL_CHARS)..]
            .iter()
            .collect();
        return Err(BuilderError::Command {
            builder: host.builder().into(),
            command: command_line(argv),
            status: format!("exit status {}", out.status),
            output: tail.trim().to_string(),
        });
    }
    Ok(out)
}

/// `sha256sum` output (`<64 hex>  <name>`, or space-asterisk in binary mode) as name → digest.
pub fn parse_sha256sum(text: &str) -> BTreeMap<String, Sha256Digest> {
    let mut sums = BTreeMap::new();
    for line in text.lines() {
        if let Some((hex, name)) = line.split_once(' ') {
            if let Some(digest) = Sha256Digest::from_hex(hex) {
                sums.insert(name.trim_start_matches([' ', '*']).to_string(), digest);
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_lines_in_text_and_binary_mode() {
        let hex = "ab".repeat(32);
        let sums = parse_sha256sum(&format!("{hex}  a b.hpkg\n{hex} *c.hpkg\nnot a line\n"));
        assert_eq!(sums.len(), 2);
        assert_eq!(sums["a b.hpkg"].to_hex(), hex);
        assert!(sums.contains_key("c.hpkg"));
    }
}
