//! Storage errors that say what failed, on which key, and whether trying again can help.

use std::fmt;

use crate::key::ObjectKey;

/// The storage operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Uploading an object.
    Put,
    /// Downloading an object.
    Get,
    /// Reading an object's metadata.
    Head,
    /// Listing keys under a prefix.
    List,
    /// Server-side copy.
    Copy,
    /// Deleting an object.
    Delete,
    /// Setting up the backend (config, bucket access).
    Connect,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Head => "head",
            Self::List => "list",
            Self::Copy => "copy",
            Self::Delete => "delete",
            Self::Connect => "connect",
        })
    }
}

/// The class of a failure, which decides what a caller should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The network or the server failed in a way that may pass (timeouts, connection refused, 5xx,
    /// throttling): retrying can help.
    Transient,
    /// The object does not exist.
    NotFound,
    /// The body did not match what the caller declared (too short, too long, wrong SHA-256). Retrying
    /// with the same body cannot help.
    BadBody,
    /// Access denied, bucket missing, bad configuration: an operator has to act.
    Permanent,
    /// The operation was cancelled by the caller.
    Cancelled,
}

/// A failed storage operation.
#[derive(Debug, thiserror::Error)]
#[error("storage {op} of {target} failed: {message}{hint}", target = self.target(), hint = self.hint())]
pub struct StorageError {
    /// Which operation failed.
    pub op: Operation,
    /// The key (relative to the prefix) the operation was about, if any.
    pub key: Option<ObjectKey>,
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A human explanation, free of secrets.
    pub message: String,
    /// The underlying error, for `source()` chains.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// A new error without an underlying cause.
    pub fn new(op: Operation, key: Option<&ObjectKey>, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            op,
            key: key.cloned(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefixes the message with what was being done (`"creating /srv/bucket: …"`).
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Wraps an I/O error, classifying it.
    pub fn io(op: Operation, key: Option<&ObjectKey>, err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied | Io::ReadOnlyFilesystem | Io::StorageFull | Io::InvalidInput => {
                ErrorKind::Permanent
            }
            Io::UnexpectedEof | Io::InvalidData => ErrorKind::BadBody,
            _ => ErrorKind::Transient,
        };
        // The message carries the I/O error's text; attaching it as `source` too would print it twice in
        // `{:#}` chains.
        Self::new(op, key, kind, err.to_string())
    }

    /// Whether trying the same operation again can succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    fn target(&self) -> String {
        match &self.key {
            Some(key) => format!("'{key}'"),
            None => "the store".to_owned(),
        }
    }

    fn hint(&self) -> &'static str {
        match self.kind {
            ErrorKind::Transient => " (transient: retrying may help; check that the storage endpoint is up)",
            ErrorKind::NotFound => " (no such object)",
            ErrorKind::BadBody => {
                " (the data did not match its declared size or checksum; nothing was stored)"
            }
            ErrorKind::Permanent => " (check the storage configuration and credentials)",
            ErrorKind::Cancelled => " (cancelled)",
        }
    }
}
