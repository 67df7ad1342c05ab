//! Typed builder errors and their classification. The class decides what the scheduler does, and it
//! is decided here, once, from what actually failed — never from a catch-all (HaikuPorter's
//! `except socket.error` turned a missing result file into an endless reschedule, report §3.6).

use std::path::PathBuf;
use std::time::Duration;

/// What a failure means for scheduling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The connection failed or was lost: re-run the build elsewhere; the builder goes reconnecting.
    Transport,
    /// Setup, sync, cache or verification of what we sent failed on the builder: retry (elsewhere or
    /// later); counts against the builder.
    Infrastructure,
    /// The build itself failed (non-zero exit, timeout with a live builder, missing or wrong result):
    /// no automatic retry.
    BuildFailure,
    /// The build was cancelled on request.
    Cancelled,
}

/// An error in a builder's config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file could not be read.
    #[error("cannot read builder config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// HaikuPorter JSON that does not parse.
    #[error("builder config {path} is not valid HaikuPorter builder JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A private key file could not be read.
    #[error("builder {builder}: cannot read private key file {path}: {source}")]
    KeyFile {
        /// The builder.
        builder: String,
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Neither a pinned host key nor a `known_hosts` file: we never accept unknown host keys.
    #[error(
        "builder {builder}: no host key for {host}; set ssh.host_key or ssh.known_hosts \
         (e.g. from `ssh-keyscan`)"
    )]
    NoHostKey {
        /// The builder.
        builder: String,
        /// The SSH host.
        host: String,
    },
    /// Some other invalid value.
    #[error("builder {builder}: {what}")]
    Invalid {
        /// The builder.
        builder: String,
        /// What is wrong.
        what: String,
    },
}

/// Why a host key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// No key is recorded for this host.
    Unknown,
    /// A different key is recorded: possibly a man in the middle, possibly a reinstalled builder.
    Changed,
    /// The key is marked `@revoked` in `known_hosts` (OpenSSH refuses it whatever else is recorded).
    Revoked {
        /// The 1-based line of the `@revoked` entry.
        line: usize,
    },
}

/// An error while talking to or building on a builder.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// TCP connect or SSH handshake failed or timed out.
    #[error("builder {builder}: cannot connect to {host}:{port}: {reason}")]
    Connect {
        /// The builder.
        builder: String,
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// Why.
        reason: String,
    },
    /// The host key is not the pinned one; the connection was closed before authenticating, so
    /// nothing was sent or run.
    #[error(
        "builder {builder}: refusing host {host}:{port}: {problem} host key, the server offered {fingerprint}; \
         if the builder was reinstalled, update its pinned key or known_hosts entry"
    )]
    HostKey {
        /// The builder.
        builder: String,
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// Unknown or changed.
        problem: HostKeyProblem,
        /// `SHA256:…` of the key the server presented.
        fingerprint: String,
    },
    /// Public-key authentication was refused.
    #[error("builder {builder}: {user}@{host} refused our key ({key_type}); is it in authorized_keys?")]
    Auth {
        /// The builder.
        builder: String,
        /// The login user.
        user: String,
        /// The host.
        host: String,
        /// The client key's algorithm.
        key_type: String,
    },
    /// A client key that cannot be used.
    #[error("builder {builder}: unusable private key: {reason}")]
    Key {
        /// The builder.
        builder: String,
        /// Why.
        reason: String,
    },
    /// The connection went away (closed, keepalive unanswered, no exit status).
    #[error("builder {builder}: connection lost during {during}")]
    Lost {
        /// The builder.
        builder: String,
        /// What was going on.
        during: String,
    },
    /// A housekeeping command failed.
    #[error("builder {builder}: `{command}` failed with {status}: {output}")]
    Command {
        /// The builder.
        builder: String,
        /// The command line.
        command: String,
        /// Exit status, or a description.
        status: String,
        /// The end of its output.
        output: String,
    },
    /// A command ran past its limit on a live builder.
    #[error("builder {builder}: `{command}` {what} after {after:?}; killed")]
    Timeout {
        /// The builder.
        builder: String,
        /// The command line.
        command: String,
        /// "printed nothing" or "ran too long".
        what: &'static str,
        /// The limit.
        after: Duration,
        /// Whether it was the build itself (a build failure) or housekeeping (infrastructure).
        is_build: bool,
    },
    /// An SFTP operation failed on a live connection.
    #[error("builder {builder}: SFTP {op} {path}: {reason}")]
    Sftp {
        /// The builder.
        builder: String,
        /// open, write, rename, …
        op: &'static str,
        /// The remote path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The builder's SFTP server lacks an extension we cannot work without (see
    /// [`sftp_rename`](super::sftp_rename) for why `posix-rename@openssh.com` is one).
    #[error(
        "builder {builder}: its SFTP server does not offer {extension} (it offers: {offered}); \
         buildmaster, like HaikuPorter, moves every file into place with it because Haiku's file \
         system has no hard links and OpenSSH's plain SFTP rename needs them. Make the builder's sshd \
         run OpenSSH's sftp-server or internal-sftp (any OpenSSH since 4.8) as its sftp subsystem"
    )]
    MissingSftpExtension {
        /// The builder.
        builder: String,
        /// The extension's name.
        extension: &'static str,
        /// The extensions the server does advertise, comma-separated (for the operator).
        offered: String,
    },
    /// Local I/O (spool, staging) failed.
    #[error("{op} {path}: {source}")]
    Local {
        /// What was being done.
        op: &'static str,
        /// The local path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading a dependency from storage failed.
    #[error("builder {builder}: dependency {file}: {source}")]
    Storage {
        /// The builder.
        builder: String,
        /// The package file.
        file: String,
        /// Why.
        source: buildmaster_storage::StorageError,
    },
    /// Transferred bytes are not what the package record says.
    #[error("builder {builder}: {file}: {what}; expected {expected}, got {got}")]
    Verify {
        /// The builder.
        builder: String,
        /// The file.
        file: String,
        /// "size", "size and SHA-256" (a short stream), "SHA-256" or "package identity".
        what: &'static str,
        /// The expected value.
        expected: String,
        /// The value seen.
        got: String,
        /// A result the build produced (build failure) rather than a dependency we sent.
        is_result: bool,
    },
    /// The build tool exited non-zero.
    #[error("build of {port} on {builder} failed with exit status {status}")]
    BuildFailed {
        /// The builder.
        builder: String,
        /// The port (`name-version`).
        port: String,
        /// Exit status.
        status: u32,
    },
    /// The build tool exited 0 but an expected result is missing.
    #[error("build of {port} on {builder} exited 0 but did not produce {file}")]
    MissingResult {
        /// The builder.
        builder: String,
        /// The port.
        port: String,
        /// The missing package file.
        file: String,
    },
    /// An input file (a source from the source cache) on the builder is missing or is not what the
    /// job says, found by the check before the build starts: the build is not run, and nothing on
    /// the builder is ever asked to download a replacement.
    #[error("builder {builder}: input {input} at {path} {problem} ({digests}) — the build was not started")]
    Input {
        /// The builder.
        builder: String,
        /// The input's name (as the job manifest lists it).
        input: String,
        /// Where it should be on the builder.
        path: String,
        /// "is missing" or "does not match".
        problem: &'static str,
        /// `expected SHA-256 <hex>, got <hex>` (or `got nothing`): both digests, for the operator.
        digests: String,
    },
    /// The job's inputs cannot be made on the master (a source not in the source cache, a recipe
    /// whose sources cannot be read, a manifest that cannot be recorded): the build was not started.
    /// Final for this build — retrying elsewhere cannot help until an operator acts (the message
    /// says how).
    #[error("build of {port} for builder {builder}: {message} — the build was not started")]
    JobInputs {
        /// The builder it was assigned to.
        builder: String,
        /// The port (`name-version`).
        port: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The builder is configured with `network = "none"` but cannot run a command without network.
    #[error(
        "builder {builder}: network = \"none\" is configured but the build step cannot be isolated: \
         {reason}. On Linux install util-linux's `unshare` and run the builder as root or allow \
         unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, \
         user.max_user_namespaces > 0); on Haiku there is no network namespace (see docs/builders.md); \
         or set network = \"host\""
    )]
    NoNetworkIsolation {
        /// The builder.
        builder: String,
        /// What the probe saw.
        reason: String,
    },
    /// Cancelled on request; the remote process was killed.
    #[error("builder {builder}: {what} cancelled")]
    Cancelled {
        /// The builder.
        builder: String,
        /// What was cancelled.
        what: String,
    },
}

impl BuilderError {
    /// How the scheduler must treat this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Connect { .. } | Self::Lost { .. } => ErrorClass::Transport,
            Self::HostKey { .. }
            | Self::Auth { .. }
            | Self::Key { .. }
            | Self::Command { .. }
            | Self::Sftp { .. }
            | Self::MissingSftpExtension { .. }
            | Self::Local { .. }
            | Self::Input { .. }
            | Self::NoNetworkIsolation { .. }
            | Self::Storage { .. } => ErrorClass::Infrastructure,
            Self::Timeout { is_build, .. }
            | Self::Verify {
                is_result: is_build, ..
            } => {
                if *is_build {
                    ErrorClass::BuildFailure
                } else {
                    ErrorClass::Infrastructure
                }
            }
            Self::BuildFailed { .. } | Self::MissingResult { .. } | Self::JobInputs { .. } => {
                ErrorClass::BuildFailure
            }
            Self::Cancelled { .. } => ErrorClass::Cancelled,
        }
    }

    /// Whether retrying cannot help until an operator acts: a refused host key, refused authentication,
    /// an unusable client key, an SFTP server without a required extension, a builder that cannot run
    /// without network although configured to. The builder keeps being
    /// re-probed (the fix needs no restart), but a one-shot buildrun stops waiting for it.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::HostKey { .. }
                | Self::Auth { .. }
                | Self::Key { .. }
                | Self::MissingSftpExtension { .. }
                | Self::NoNetworkIsolation { .. }
        )
    }

    /// Whether the scheduler may re-run the build without being asked to.
    pub fn is_transient(&self) -> bool {
        matches!(self.class(), ErrorClass::Transport | ErrorClass::Infrastructure)
    }
}

impl std::fmt::Display for HostKeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown => f.write_str("unknown"),
            Self::Changed => f.write_str("changed"),
            Self::Revoked { line } => write!(f, "revoked (`@revoked` on line {line} of known_hosts)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_zero_with_missing_result_is_a_build_failure_not_transient() {
        let err = BuilderError::MissingResult {
            builder: "b".into(),
            port: "p-1".into(),
            file: "p-1-1-x86_64.hpkg".into(),
        };
        assert_eq!(err.class(), ErrorClass::BuildFailure);
        assert!(!err.is_transient());
        let lost = BuilderError::Lost {
            builder: "b".into(),
            during: "build".into(),
        };
        assert_eq!(lost.class(), ErrorClass::Transport);
        assert!(lost.is_transient());
    }
}
