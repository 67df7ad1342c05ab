//! The S3 storage backend of buildmaster: [`S3Backend`] implements
//! [`StorageBackend`](buildmaster_storage::StorageBackend) on AWS S3 or any S3-compatible server
//! (garage, MinIO, Ceph RGW, R2) through aws-sdk-s3.
//!
//! # Layout
//! - [`settings`]: [`S3Settings`], the `"backend_type": "s3"` section of the storage JSON
//!   (HaikuPorter's keys plus tuning knobs), and the S3 protocol limits as named constants.
//! - `client`: building the SDK client (credentials, path style, checksum mode, no SDK retries).
//! - `backend`: [`S3Backend`] itself and the dispatch of the trait's operations.
//! - `put`: PutObject versus multipart, object headers, and how the SHA-256 reaches the metadata.
//! - `multipart`: bounded-memory multipart upload with abort on error and cancellation;
//!   `part_buffers`: the buffers it and ranged downloads reuse.
//! - `cleanup`: the drop guard that aborts uploads / deletes temporaries when a future is dropped.
//! - `get`: `get` and `head`; `ranged`: parallel ranged download delivered in order.
//! - `list`: lazy ListObjectsV2 paging.
//! - `copy`: server-side copy and idempotent delete.
//! - `peer_copy`: server-side copy from another bucket of the same service (`copy_from_peer`).
//! - `sweep`: removing leftovers of interrupted writes (temporaries, unfinished multipart uploads).
//! - `integrity`: CRC32C checksums verified by the server instead of signed payloads.
//! - `errors`: SDK errors to [`StorageError`](buildmaster_storage::StorageError), secrets scrubbed.

mod backend;
mod cleanup;
mod client;
mod copy;
mod errors;
mod get;
mod integrity;
mod list;
mod multipart;
mod part_buffers;
mod peer_copy;
mod put;
mod ranged;
pub mod settings;
mod sweep;

pub use backend::S3Backend;
pub use copy::MAX_COPY_OBJECT_SIZE;
pub use put::UPLOADS_DIR;
pub use settings::{S3Settings, Secret};

/// The SDK this backend is built on, re-exported so that tests and tools can make raw S3 calls
/// (e.g. ListMultipartUploads) with exactly the same version.
pub use aws_sdk_s3;
