//! Per-object metadata files.
//!
//! The SHA-256 and content headers of `<root>/<key>` live in `<root>/.buildmaster-meta/<key>.meta`
//! (JSON). Writing two files cannot be atomic, so the sidecar records the inode number of the data file
//! it describes: the sidecar is written first, for the temporary data file whose inode is then renamed
//! into place. A sidecar whose inode or size does not match the current data file (a crash between the
//! two renames, or a file replaced by hand) is ignored, and `head` reports the digest as unknown rather
//! than a wrong one.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use buildmaster_storage::{CacheControl, ContentHeaders, ObjectKey, Sha256Digest};

use crate::RESERVED_PREFIX;

/// Directory (under the root) holding sidecars.
pub const META_DIR: &str = ".buildmaster-meta";

/// What a sidecar holds.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sidecar {
    /// Lowercase hex SHA-256 of the data file.
    pub sha256: String,
    /// Size of the data file in bytes.
    pub size: u64,
    /// Inode number of the data file this sidecar describes.
    pub ino: u64,
    /// `Content-Type` given at upload.
    pub content_type: Option<String>,
    /// `Cache-Control` given at upload.
    pub cache_control: Option<String>,
}

impl Sidecar {
    /// The digest, if this sidecar still describes a data file with metadata `meta`.
    pub fn digest_for(&self, meta: &std::fs::Metadata) -> Option<Sha256Digest> {
        if self.ino == meta.ino() && self.size == meta.len() {
            Sha256Digest::from_hex(&self.sha256)
        } else {
            None
        }
    }

    /// The `CacheControl` recorded at upload.
    pub fn cache_control(&self) -> CacheControl {
        CacheControl::from_header(self.cache_control.as_deref())
    }

    /// The content headers recorded at upload.
    pub fn headers(&self) -> ContentHeaders {
        ContentHeaders {
            content_type: self.content_type.clone(),
            cache_control: self.cache_control(),
        }
    }
}

/// Path of the sidecar for `key`.
pub fn path(root: &Path, key: &ObjectKey) -> PathBuf {
    root.join(META_DIR).join(format!("{key}.meta"))
}

/// Reads the sidecar for `key`, if there is a readable one.
pub fn read(root: &Path, key: &ObjectKey) -> Option<Sidecar> {
    let text = std::fs::read(path(root, key)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Whether `key` names the backend's own bookkeeping.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}
