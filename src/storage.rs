//! Opening the configured storage backend.
//!
//! The trait and the backends live in `backends/` (crates `buildmaster-storage`, `-fs`, `-s3`); this
//! module only turns a [`StorageConfig`] (or its absence) into a running backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::{StorageBackend, StorageError};
use buildmaster_storage_fs::FsBackend;
use buildmaster_storage_s3::S3Backend;

use crate::config::{ConfigError, StorageConfig};

/// Where the filesystem backend keeps objects when no config is given: `<state-dir>/storage`.
pub const DEFAULT_FS_SUBDIR: &str = "storage";

/// Why storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No config, and the state directory that would hold the filesystem backend does not exist.
    #[error(transparent)]
    StateDir(#[from] crate::state::StateDirMissing),
    /// The backend could not be set up.
    #[error(transparent)]
    Backend(#[from] StorageError),
}

/// Which config applies: a given, non-empty path; otherwise none (HaikuPorter treats an empty
/// `STORAGE_BACKEND_CONFIG` as "no backend", which for us means the embedded filesystem backend).
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    given.filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf)
}

/// Opens the backend that `config` (a path, possibly empty) selects; without one, the filesystem backend
/// in `<state_dir>/storage`, which must be an existing state directory's (`storage ls` with a forgotten
/// `--state-dir` is refused instead of creating `./buildmaster-state/storage`).
pub async fn open(config: Option<&Path>, state_dir: &Path) -> Result<Arc<dyn StorageBackend>, OpenError> {
    let config = match config_path(config) {
        Some(path) => StorageConfig::load(&path)?,
        None => {
            crate::state::StateDir::new(state_dir).require_existing()?;
            StorageConfig::Fs(buildmaster_storage_fs::FsSettings {
                path: state_dir.join(DEFAULT_FS_SUBDIR),
            })
        }
    };
    open_config(&config).await
}

/// Opens the backend a parsed config describes.
pub async fn open_config(config: &StorageConfig) -> Result<Arc<dyn StorageBackend>, OpenError> {
    Ok(match config {
        StorageConfig::Fs(fs) => Arc::new(FsBackend::new(&fs.path)?),
        StorageConfig::S3(s3) => Arc::new(S3Backend::new(s3).await?),
    })
}
