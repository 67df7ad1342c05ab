//! Publishing the instance's implicit repository (HaikuPorter's single repository, top-level keys of
//! the bucket) into object storage: upload, verify, stub, render the index, prune — with the
//! invariants of `docs/publishing.md`, so that clients reading the bucket never see a broken repository.
//! Format-neutral: the repository's format is reached only through
//! [`crate::formats::RepositoryFormat`] ([`repository`] says which one it is), records are
//! [`crate::state::Record`]s.
//!
//! - [`settings`]: [`PublishSettings`] (grace period, retention, prune cap).
//! - [`lock`]: the publish lock, in the state directory and in the bucket.
//! - [`crashpoint`]: named points where tests kill the process to prove crash consistency.
//! - [`repository`]: the implicit repository — its format (Haiku) and render target (`repo.info`).
//! - [`spool`]: finding new packages in `packages/`, inspecting and admitting them.
//! - [`verified`]: what the builds verified (size, SHA-256), which new spool files must match.
//! - [`upload`]: upload → verify → record → stub, uploads concurrent, records in batches.
//! - [`store`]: storing and verifying one package.
//! - [`stub`]: truncating recorded packages to zero-byte stubs, a batch at a time.
//! - [`guard`]: refusing an index that would drop packages (failed checks, a shrink).
//! - [`index`]: choosing the index's packages from the database, rendering, writing and uploading the
//!   index files.
//! - [`run`]: `buildmaster publish`, the whole pipeline (with a gate, new packages are staged, checked
//!   and promoted when green instead of uploaded: [`crate::gate::haikuports_publish`]).
//! - [`retry`]: running the pipeline again, with backoff, through a storage outage.
//! - [`prune`]: `buildmaster prune`: moving orphans to `packages/.obsolete/`, expiring them later.
//! - [`recover`]: rebuilding the database from the bucket, and taking over a HaikuPorter instance.
//! - [`recover_info`]: restoring `repo.info` from the bucket when recovering, never overwriting another.
//! - [`keys`]: the object keys of the bucket layout.
//! - [`progress`]: [`PublishProgress`], how a front end hears of upload progress (the library draws nothing).
//! - [`timings`]: how long each phase of a publish took.

pub mod crashpoint;
pub mod guard;
pub mod index;
pub mod keys;
pub mod lock;
pub mod progress;
pub mod prune;
pub mod recover;
pub mod recover_info;
pub mod repository;
pub mod retry;
pub mod run;
pub mod settings;
pub mod spool;
pub mod store;
pub mod stub;
pub mod timings;
pub mod upload;
pub mod verified;

pub use progress::{NoProgress, PublishProgress};
pub use run::{publish, PublishReport};
pub use settings::PublishSettings;

use std::sync::Arc;

use buildmaster_storage::StorageBackend;

use crate::state::{Database, StateDir};

/// What every publishing step works on.
pub struct Publisher {
    /// The state directory.
    pub state: StateDir,
    /// The state database.
    pub db: Database,
    /// Where packages and the index go.
    pub storage: Arc<dyn StorageBackend>,
    /// Tunables.
    pub settings: PublishSettings,
}

/// Why publishing (or pruning, or recovering) failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Storage failed; nothing unverified was stubbed.
    #[error(transparent)]
    Storage(#[from] buildmaster_storage::StorageError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::state::DbError),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another publish or prune holds the lock.
    #[error("{0}")]
    Locked(String),
    /// Publishing would be unsafe; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The index could not be built.
    #[error("cannot build the repository index: {0}")]
    Index(String),
    /// The gate's records (pipelines, checks, audit log) could not be read or written.
    #[error(transparent)]
    GateRecords(#[from] crate::gate::store::GateStoreError),
    /// The task running the uploads stopped without reporting every package (it panicked or was
    /// cancelled); what it reported was recorded, the rest is picked up by the next publish.
    #[error("the upload task failed: {0}")]
    UploadTask(String),
}

impl PublishError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
