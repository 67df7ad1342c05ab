//! The storage seam of buildmaster: every package file, index file and log that leaves the master goes
//! through [`StorageBackend`].
//!
//! This crate is deliberately small and SDK-free so that the core compiles without any storage SDK and
//! the boundary between "what storage must do" and "how a given store does it" is enforced by the
//! compiler. Backends live in sibling crates (`backends/fs`, `backends/s3`).
//!
//! # Layout
//! - [`key`]: [`ObjectKey`] (a validated relative key) and [`KeyPrefix`] (the configured prefix, joined
//!   with exactly one `/`).
//! - [`meta`]: [`ObjectMeta`], [`PutOptions`], [`CacheControl`], [`ContentHeaders`], [`Sha256Digest`].
//! - [`error`]: [`StorageError`], naming the operation and key and saying whether a retry can help.
//! - [`retry`]: the one place where retries with exponential backoff and jitter happen.
//! - [`hashing`]: [`ExactReader`], which enforces the declared size and hashes while streaming.
//! - [`backend`]: the [`StorageBackend`] trait itself and the streaming [`ObjectReader`].
//! - [`copy_source`]: [`CopySource`], where an object lives, so that a backend on the same service can
//!   copy it server-side (`StorageBackend::copy_from`).
//! - `transfer`: the copy between two backends (server-side, else streamed and verified).

pub mod backend;
pub mod copy_source;
pub mod error;
pub mod hashing;
pub mod key;
pub mod meta;
pub mod retry;
mod transfer;

pub use backend::{ObjectReader, ObjectStream, StorageBackend};
pub use copy_source::{BucketObject, CopySource, LocalFile, ServiceIdentity};
pub use error::{ErrorKind, Operation, StorageError};
pub use hashing::ExactReader;
pub use key::{KeyError, KeyPrefix, ObjectKey};
pub use meta::{CacheControl, Confirmation, ContentHeaders, ObjectMeta, PutOptions, Sha256Digest};
pub use retry::RetryPolicy;
