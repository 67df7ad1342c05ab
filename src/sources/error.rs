//! [`SourceError`]: why a source could not be fetched, added or checked. Each names the port (its
//! `name-version`), the source (HaikuPorter's index: `1` for `SOURCE_URI`, `2` for `SOURCE_URI_2`)
//! and, where there is one, the URI — and says what the operator can do about it.

use std::path::PathBuf;

use buildmaster_storage::StorageError;

/// A failure of the source cache.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The recipe could not be read or evaluated again to learn its sources.
    #[error("{port}: cannot read the recipe's sources: {message} (fix the recipe; `buildmaster ports dump` shows its problems)")]
    Recipe {
        /// The port.
        port: String,
        /// What went wrong.
        message: String,
    },
    /// No port of that name (active, or `name-version`) in the ports tree.
    #[error("no port {port} in the ports tree (name it as `buildmaster ports dump` lists it: name or name-version)")]
    NoSuchPort {
        /// What was asked for.
        port: String,
    },
    /// The recipe has no source with that index.
    #[error("{port} has no source {source_index} (its sources: {known})")]
    NoSuchSource {
        /// The port.
        port: String,
        /// The index asked for.
        source_index: String,
        /// The indexes it has, comma-separated.
        known: String,
    },
    /// `CHECKSUM_SHA256` is not 64 hex digits.
    #[error("{port} source {source_index}: CHECKSUM_SHA256 {value:?} is not a SHA-256 (64 hex digits); fix the recipe")]
    BadChecksum {
        /// The port.
        port: String,
        /// The source index.
        source_index: String,
        /// The recipe's value.
        value: String,
    },
    /// A kind of `SOURCE_URI` the cache cannot fetch.
    #[error(
        "{port} source {source_index}: cannot fetch {uri}: {why}; upload the file by hand with \
             `buildmaster sources add FILE --port {port} --source {source_index}`"
    )]
    Unsupported {
        /// The port.
        port: String,
        /// The source index.
        source_index: String,
        /// The URI.
        uri: String,
        /// Why not.
        why: String,
    },
    /// A source with neither a checksum nor a pinned commit: what it gives can change at any time.
    #[error(
        "{port} source {source_index}: {uri} names no commit and the recipe has no CHECKSUM_SHA256, so \
             nothing could verify it; pin it (`#commit=<40-hex id>`) or add CHECKSUM_SHA256 to the recipe"
    )]
    Unpinned {
        /// The port.
        port: String,
        /// The source index.
        source_index: String,
        /// The URI.
        uri: String,
    },
    /// The bytes do not have the digest the recipe (or the pin) requires; nothing was stored.
    #[error(transparent)]
    Mismatch(Box<Mismatch>),
    /// Every URI of the source failed.
    #[error("{port} source {source_index}: could not fetch it from any of its URIs: {attempts}. \
             Retry later, or upload the file with `buildmaster sources add FILE --port {port} --source {source_index}`")]
    Download {
        /// The port.
        port: String,
        /// The source index.
        source_index: String,
        /// `uri: why` for each URI tried, `; `-separated.
        attempts: String,
    },
    /// Storing the source, or looking for it, failed.
    #[error("{port} source {source_index}: storage: {error}")]
    Storage {
        /// The port.
        port: String,
        /// The source index.
        source_index: String,
        /// The backend's error (names the key and whether a retry can help).
        error: Box<StorageError>,
    },
    /// The source index in the state database failed.
    #[error("source index in {path}: {message}")]
    Index {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// A local file (the spool, an uploaded file) could not be used.
    #[error("{path}: {message}")]
    Local {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A source whose bytes are not the ones required (boxed in [`SourceError::Mismatch`]: it is large).
#[derive(Debug, thiserror::Error)]
#[error(
    "{port} source {source_index}: {uri} does not match: expected {algorithm} {expected} ({expected_from}), \
         got {algorithm} {actual}; nothing was stored. Check the file upstream; if it was re-released on \
         purpose, update the checksum in the recipe"
)]
pub struct Mismatch {
    /// The port.
    pub port: String,
    /// The source index.
    pub source_index: String,
    /// Where the bytes came from (a URI, or the uploaded file).
    pub uri: String,
    /// The algorithm both digests are of (`sha256`, or `sha512` for an RPM `sources` file).
    pub algorithm: &'static str,
    /// The digest required.
    pub expected: String,
    /// Where the requirement comes from (`CHECKSUM_SHA256`, the `sources` file, a Debian tree's
    /// `debian/source/orig-checksums`, or the pin recorded on first fetch).
    pub expected_from: &'static str,
    /// The digest of what arrived.
    pub actual: String,
}
