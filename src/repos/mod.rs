//! Repositories of pushed packages — Debian, RPM and Haiku — in the instance's bucket, behind the
//! [`RepositoryFormat`](crate::formats::RepositoryFormat) seam: configured in `[[repositories]]`,
//! filled by `buildmaster push`, one content-addressed pool per format shared by all its repositories,
//! indexes rendered from records and uploaded root of trust last.
//!
//! - [`check`]: installability of a repository's packages against itself and its bases.
//! - [`config`]: `[[repositories]]` — ids, roots, pools, format settings, signing keys.
//! - [`records`]: pool files, links into repositories, uploaded index files (state database).
//! - [`keys`]: pool keys, index keys, and hrefs from a repository's root to the pool.
//! - [`listing_cache`]: each repository's listing kept between publishes (only new links are read).
//! - [`index_upload`]: one repository's index, rendered and uploaded in a safe order, only what changed.
//! - [`push_plan`]: which repositories a push names; every inspection and check before any upload.
//! - [`pool_store`]: pool files uploaded once, copied where a format fixes the path.
//! - [`push`]: `buildmaster push`: plan, upload each file once, link, publish what changed.
//! - [`prune`]: superseded content-addressed index files, deleted after the retention window.
//! - [`service`]: a push as the CLI and the API run it, under the publish lock (through the gate,
//!   [`crate::gate`], when the instance has one).
//!
//! The HaikuPorts repository of the instance publishes through [`crate::publish`] (its own bucket
//! layout, spool and records), which reaches its Haiku format through the same
//! [`crate::formats::RepositoryFormat`] seam.

pub mod check;
pub mod config;
pub mod index_upload;
pub mod keys;
pub mod listing_cache;
pub mod pool_store;
pub mod prune;
pub mod push;
pub mod push_plan;
pub mod records;
pub mod service;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::formats::{FormatError, FormatKind, RepositoryFormat, Sign};

use config::Repository;
use records::RecordsError;

/// Why a push or a repository publish failed; each names the file, repository or key.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A package or setting was refused before anything was uploaded.
    #[error("{0}")]
    Refused(String),
    /// `--to` named no configured repository.
    #[error("{0}")]
    UnknownRepository(String),
    /// A format could not inspect, render or sign.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The records failed.
    #[error(transparent)]
    Records(#[from] RecordsError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] buildmaster_storage::StorageError),
    /// A key could not be formed.
    #[error("object key {0}")]
    Key(String),
    /// The publish lock could not be taken or released (another writer holds it).
    #[error(transparent)]
    Lock(crate::publish::PublishError),
    /// The gate's records failed.
    #[error(transparent)]
    GateRecords(#[from] crate::gate::store::GateStoreError),
    /// A local file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The formats an instance can publish, and the signing keys of its repositories.
#[derive(Default)]
pub struct Formats {
    formats: BTreeMap<FormatKind, Arc<dyn RepositoryFormat>>,
}

impl Formats {
    /// A set of `formats`, by their kind.
    pub fn new(formats: impl IntoIterator<Item = Arc<dyn RepositoryFormat>>) -> Self {
        Self {
            formats: formats.into_iter().map(|f| (f.kind(), f)).collect(),
        }
    }

    /// Every format this build of buildmaster has, compressing every index whole (for callers that
    /// only inspect and check).
    pub fn available() -> Self {
        Self::new(crate::formats::all(None))
    }

    /// Every format, keeping compressed index chunks between publishes under `cache_dir` (the
    /// instance's state), so that a publish compresses only what changed.
    pub fn with_index_cache(cache_dir: &std::path::Path) -> Self {
        Self::new(crate::formats::all(Some(cache_dir)))
    }

    /// The format of `kind`.
    pub fn get(&self, kind: FormatKind) -> Result<Arc<dyn RepositoryFormat>, RepoError> {
        self.formats
            .get(&kind)
            .cloned()
            .ok_or_else(|| RepoError::Refused(format!("the {} format is not available", kind.as_str())))
    }

    /// The signer of `repository`, loaded from its key file; `None` for an unsigned repository.
    pub fn signer(&self, repository: &Repository) -> Result<Option<Box<dyn Sign>>, RepoError> {
        match &repository.signing_key {
            None => Ok(None),
            Some(path) => crate::formats::signing::OpenPgpSigner::from_file(path)
                .map(|signer| Some(Box::new(signer) as Box<dyn Sign>))
                .map_err(|e| RepoError::Refused(format!("repository {}: {e}", repository.id()))),
        }
    }
}

/// Unix seconds of `time` (0 before the epoch).
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
