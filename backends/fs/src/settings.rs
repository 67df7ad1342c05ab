//! `{"backend_type": "fs", "path": "…"}`: the filesystem backend's storage config.

use std::path::PathBuf;

/// Settings of the filesystem backend.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsSettings {
    /// Directory that holds the objects (created if missing). Relative paths are relative to the
    /// working directory. Required.
    pub path: PathBuf,
}
