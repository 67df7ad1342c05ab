//! [`CopySource`]: where an object lives, told by its backend to another backend so that the second can
//! copy it without the bytes passing through this process (S3 `CopyObject` between two buckets of one
//! service, a hard link between two directories of one filesystem).
//!
//! A backend describes its own objects ([`StorageBackend::copy_source`]) and decides for itself
//! whether it can reach another's ([`StorageBackend::copy_from_peer`]); when it cannot, the copy is
//! streamed (see `transfer.rs`).
//!
//! [`StorageBackend::copy_source`]: crate::StorageBackend::copy_source
//! [`StorageBackend::copy_from_peer`]: crate::StorageBackend::copy_from_peer

use std::path::PathBuf;

use crate::key::ObjectKey;

/// Where an object lives, in the terms a peer backend needs to copy it server-side.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopySource {
    /// An object in a bucket of an S3-compatible service.
    Bucket(BucketObject),
    /// A file of a filesystem backend on this machine.
    File(LocalFile),
}

/// An object of an S3-compatible service, as a `CopyObject` on that service names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketObject {
    /// Which service and which credentials: a copy is server-side only between backends whose
    /// identities are equal (the target's credentials then read the source bucket too).
    pub service: ServiceIdentity,
    /// The source bucket.
    pub bucket: String,
    /// The full key in that bucket (the backend's prefix included).
    pub key: String,
}

/// An S3 service as seen by one set of credentials. Holds no secret: the access key id is an
/// identifier (S3 puts it in every request's `Authorization` header in clear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceIdentity {
    /// The configured endpoint URL; `None` for AWS S3 itself.
    pub endpoint_url: Option<String>,
    /// The configured region; `None` for the AWS chain's default.
    pub region: Option<String>,
    /// The configured access key id; `None` when the AWS credential chain supplies credentials.
    pub access_key_id: Option<String>,
}

/// A file of a filesystem backend: its root (where its sidecars live too) and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    /// The backend's root directory, absolute.
    pub root: PathBuf,
    /// The object's key under that root.
    pub key: ObjectKey,
}

impl CopySource {
    /// Where the object is, for messages (`s3://bucket/key`, `/srv/staging/key`); no secrets.
    pub fn location(&self) -> String {
        match self {
            Self::Bucket(object) => format!("s3://{}/{}", object.bucket, object.key),
            Self::File(file) => file.root.join(file.key.as_str()).display().to_string(),
        }
    }
}
