//! The filesystem storage backend: the embedded default, a directory laid out exactly like the bucket
//! (`packages/<canonical name>`, `repo`, `repo.info`, …), so that any static web server pointed at it is a
//! complete repository.
//!
//! # Layout
//! - [`settings`]: [`FsSettings`], the `"backend_type": "fs"` storage config.
//! - [`sidecar`]: per-object metadata (SHA-256, content headers) kept beside the data so `head` never
//!   re-reads a file.
//! - [`backend`]: [`FsBackend`], the [`StorageBackend`](buildmaster_storage::StorageBackend)
//!   implementation: temp file + fsync + rename for atomic, durable writes.
//! - `copy`: copies by hard link (or local file copy), within one root or from another backend's root.
//! - [`walk`]: sorted, prefix-filtered listing of the tree.

pub mod backend;
mod copy;
pub mod settings;
pub mod sidecar;
pub mod walk;

pub use backend::FsBackend;
pub use settings::FsSettings;

/// Names of the backend's own directories at the top of the root. Keys whose first segment starts with
/// this are refused and never listed, so bookkeeping can never collide with a stored object.
pub const RESERVED_PREFIX: &str = ".buildmaster-";
