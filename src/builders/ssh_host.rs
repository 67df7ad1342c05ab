//! A builder reached over SSH as a [`BuilderHost`]: commands through the russh [`Connection`] (see
//! [`super::exec`]: PTY, process-group kill, keepalive probe), files through the pipelined,
//! verifying [`Sftp`] session.

use std::path::Path;

use async_trait::async_trait;
use tokio::io::AsyncRead;

use super::connection::Connection;
use super::error::BuilderError;
use super::exec::{ExecLimits, Exit, OutputSink};
use super::host::{self, BuilderHost, Command, DirEntry, RunCommand};
use super::sftp::{Expected, Sftp, Transferred};

/// An SSH connection and its SFTP session.
pub struct SshHost {
    /// Commands.
    conn: Connection,
    /// Files.
    sftp: Sftp,
}

impl SshHost {
    /// A host over an open connection and SFTP session.
    pub fn new(conn: Connection, sftp: Sftp) -> Self {
        Self { conn, sftp }
    }

    /// The connection (health checks, tools).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The SFTP session (checks, tools).
    pub fn sftp(&self) -> &Sftp {
        &self.sftp
    }

    /// Closes the SFTP session and the connection.
    pub async fn close(self) {
        self.sftp.close().await;
        self.conn.close().await;
    }
}

#[async_trait]
impl RunCommand for SshHost {
    fn builder(&self) -> &str {
        self.conn.builder()
    }

    async fn run(
        &self,
        cmd: Command<'_>,
        limits: &ExecLimits,
        sink: OutputSink<'_>,
    ) -> Result<Exit, BuilderError> {
        RunCommand::run(&self.conn, cmd, limits, sink).await
    }
}

#[async_trait]
impl BuilderHost for SshHost {
    fn is_master(&self) -> bool {
        false
    }

    async fn upload(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        dest: &str,
        expected: Expected,
    ) -> Result<Transferred, BuilderError> {
        self.sftp.upload(source, dest, expected).await
    }

    async fn fetch(&self, src: &str, dest: &Path, limits: &ExecLimits) -> Result<Transferred, BuilderError> {
        // The builder hashes its own file, so a transfer that changes a byte is caught.
        let Some(want) = self.sha256(src, limits).await? else {
            return Err(BuilderError::Sftp {
                builder: self.builder().into(),
                op: "fetch",
                path: src.into(),
                reason: "no such file".into(),
            });
        };
        self.sftp.download(src, dest, Some(want.into())).await
    }

    async fn sha256(&self, path: &str, limits: &ExecLimits) -> Result<Option<Transferred>, BuilderError> {
        let Some(size) = self.sftp.size(path).await? else {
            return Ok(None);
        };
        let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
        let argv = vec!["sha256sum".to_string(), "--".to_string(), name.to_string()];
        let out =
            host::run_checked(self, &argv, Some(if dir.is_empty() { "/" } else { dir }), limits).await?;
        let sums = host::parse_sha256sum(&String::from_utf8_lossy(&out.stdout));
        match sums.get(name) {
            Some(sha256) => Ok(Some(Transferred {
                size,
                sha256: *sha256,
            })),
            None => Err(BuilderError::Command {
                builder: self.builder().into(),
                command: "sha256sum".into(),
                status: "no checksum printed".into(),
                output: format!("for {path}"),
            }),
        }
    }

    async fn list(&self, dir: &str) -> Result<Vec<DirEntry>, BuilderError> {
        Ok(self
            .sftp
            .list(dir)
            .await?
            .into_iter()
            .map(|e| DirEntry {
                name: e.name,
                size: e.size,
                is_file: e.is_file,
            })
            .collect())
    }

    async fn size(&self, path: &str) -> Result<Option<u64>, BuilderError> {
        self.sftp.size(path).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), BuilderError> {
        self.sftp.rename(from, to).await
    }

    async fn remove(&self, path: &str) -> Result<(), BuilderError> {
        self.sftp.remove(path).await
    }

    async fn mkdir_p(&self, dir: &str) -> Result<(), BuilderError> {
        self.sftp.mkdir_p(dir).await
    }

    async fn symlink(&self, target: &str, link: &str) -> Result<(), BuilderError> {
        self.sftp.symlink(target, link).await
    }

    async fn write_small(&self, path: &str, bytes: &[u8]) -> Result<(), BuilderError> {
        self.sftp.write_small(path, bytes).await
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, BuilderError> {
        self.sftp.read_small(path, limit).await
    }
}
