//! Renames on a builder with OpenSSH's `posix-rename@openssh.com` SFTP extension — never the plain
//! SFTP RENAME.
//!
//! Why: OpenSSH's `sftp-server` implements the plain `SSH_FXP_RENAME` with `link()` + `unlink()` (the
//! draft forbids replacing an existing target), and Haiku's file system (BFS) has no hard links, so
//! on a real Haiku builder every plain rename fails with `EPERM`. `posix-rename@openssh.com` is
//! `rename(2)`: atomic, replaces the target, works on BFS. HaikuPorter switched to it for exactly this
//! reason (`RemoteBuilderSSH._move` calls paramiko's `posix_rename`, haikuporter commit 8d0c7b0).
//!
//! No fallback: a server that does not advertise the extension is refused at connect with an error
//! naming the builder and what to run instead. Falling back to plain RENAME would be safe on a server
//! whose RENAME really is `rename(2)`, but the fallback cannot tell which kind it talks to, and on the
//! builders that matter (Haiku with OpenSSH) it fails anyway — only later, mid-build, with a bare
//! "permission denied". HaikuPorter needs the extension too. Every OpenSSH since 4.8 (2008) offers it.
//!
//! russh-sftp 3.0's [`SftpSession`](russh_sftp::client::SftpSession) keeps its raw session (and the
//! server's extension list) private, so the extension requests go through a second SFTP channel on
//! the same connection, a [`RawSftpSession`] used for nothing else. The upload's file handle is
//! closed before the rename is sent, so both channels see the same finished file.

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::{Config, RawSftpSession};
use russh_sftp::protocol::{Packet, StatusCode};
use serde::Serialize;

use super::connection::Connection;
use super::error::BuilderError;

/// The extension's name as servers advertise it in `SSH_FXP_VERSION`.
pub const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// The only version of the extension there is (OpenSSH's `PROTOCOL` file, section 4.3).
const POSIX_RENAME_VERSION: &str = "1";

/// The request's body: two strings, old path then new path (OpenSSH `PROTOCOL` §4.3).
#[derive(Serialize)]
struct PosixRenameRequest<'a> {
    oldpath: &'a str,
    newpath: &'a str,
}

/// An SFTP channel for `posix-rename@openssh.com` requests.
pub struct PosixRenamer {
    session: RawSftpSession,
}

impl PosixRenamer {
    /// Opens the channel and checks that the server offers the extension.
    pub async fn open(conn: &Connection, request_timeout_secs: u64) -> Result<Self, BuilderError> {
        let channel = conn.session_channel("sftp (posix-rename)").await?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|_| conn.lost("sftp (posix-rename)"))?;
        let config = Config {
            request_timeout_secs: request_timeout_secs.max(1),
            ..Config::default()
        };
        let session = RawSftpSession::new_with_config(channel.into_stream(), config);
        let version = session.init().await.map_err(|e| BuilderError::Sftp {
            builder: conn.builder().into(),
            op: "start",
            path: String::new(),
            reason: e.to_string(),
        })?;
        let offered = version.extensions.get(POSIX_RENAME).map(String::as_str);
        if offered != Some(POSIX_RENAME_VERSION) {
            return Err(BuilderError::MissingSftpExtension {
                builder: conn.builder().into(),
                extension: POSIX_RENAME,
                offered: {
                    let mut names: Vec<_> = version.extensions.keys().cloned().collect();
                    names.sort();
                    names.join(", ")
                },
            });
        }
        Ok(Self { session })
    }

    /// `rename(2)` on the builder: atomically replaces `to` if it exists.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), SftpError> {
        let body = russh_sftp::ser::to_bytes(&PosixRenameRequest {
            oldpath: from,
            newpath: to,
        })?;
        match self.session.extended(POSIX_RENAME, body.to_vec()).await? {
            Packet::Status(status) if status.status_code == StatusCode::Ok => Ok(()),
            Packet::Status(status) => Err(SftpError::Status(status)),
            _ => Err(SftpError::UnexpectedPacket),
        }
    }

    /// Closes the channel.
    pub fn close(&self) {
        let _ = self.session.close_session();
    }
}
