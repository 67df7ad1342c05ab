//! [`S3Backend`]: construction, the state every operation shares, and the [`StorageBackend`] impl that
//! dispatches to one module per operation.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use buildmaster_storage::{
    CopySource, KeyPrefix, ObjectKey, ObjectMeta, ObjectReader, ObjectStream, Operation, PutOptions,
    RetryPolicy, ServiceIdentity, StorageBackend, StorageError,
};
use tokio::io::AsyncRead;

use crate::client::build_client;
use crate::copy::MAX_COPY_OBJECT_SIZE;
use crate::errors::ErrorContext;
use crate::integrity::PartProtection;
use crate::peer_copy::service_identity;
use crate::settings::S3Settings;

/// An S3 bucket (AWS or any S3-compatible server) as a [`StorageBackend`].
///
/// Cheap to clone: clones share one SDK client and its connection pool.
#[derive(Clone)]
pub struct S3Backend {
    pub(crate) shared: Arc<Shared>,
}

/// What every operation needs; behind an `Arc` so that cleanup tasks spawned on cancellation can outlive
/// the call that started them.
pub(crate) struct Shared {
    /// The SDK client (retries off: see `client.rs`).
    pub(crate) client: Client,
    /// Bucket name.
    pub(crate) bucket: String,
    /// The service and credentials this backend talks to: a peer with the same identity can be copied
    /// from server-side (see `peer_copy.rs`).
    pub(crate) service: ServiceIdentity,
    /// Normalised key prefix.
    pub(crate) prefix: KeyPrefix,
    /// Bodies at least this large go multipart, in bytes.
    pub(crate) multipart_threshold: u64,
    /// Part size for multipart uploads and ranged downloads, in bytes.
    pub(crate) part_size: u64,
    /// Parts (or ranges) in flight per transfer.
    pub(crate) parts_in_flight: usize,
    /// CRC32C checksum headers and unsigned payloads (see `integrity.rs`) instead of signed payloads.
    pub(crate) upload_checksums: bool,
    /// Whether the server takes CRC32C part checksums on an upload created without a checksum
    /// algorithm ([`PartProtection::VerifiedOnly`]); cleared at the first refusal.
    pub(crate) unlisted_part_checksums: AtomicBool,
    /// Objects above this size are copied with UploadPartCopy instead of CopyObject, in bytes;
    /// [`MAX_COPY_OBJECT_SIZE`] except in tests.
    pub(crate) max_copy_object_size: u64,
    /// The one retry policy for every replayable request.
    pub(crate) retry: RetryPolicy,
    /// Names the bucket in errors and scrubs the secret from them.
    pub(crate) errors: ErrorContext,
}

impl Shared {
    /// The full S3 key of `key`.
    pub(crate) fn full_key(&self, key: &ObjectKey) -> String {
        self.prefix.join(key)
    }

    /// How a multipart upload protects its parts: a `temporary` upload (one that will be copied) must
    /// leave an object without a checksum (see `integrity.rs`).
    pub(crate) fn part_protection(&self, temporary: bool) -> PartProtection {
        if !self.upload_checksums {
            PartProtection::Signed
        } else if !temporary {
            PartProtection::Listed
        } else if self.unlisted_part_checksums.load(Ordering::Relaxed) {
            PartProtection::VerifiedOnly
        } else {
            PartProtection::Signed
        }
    }
}

impl S3Backend {
    /// Validates `settings` and builds the client. Does no network I/O: a wrong endpoint, bucket or key
    /// shows up at the first request (or at [`S3Backend::check_access`]) as a clear `Permanent` error.
    pub async fn new(settings: &S3Settings) -> Result<Self, StorageError> {
        let prefix = settings.validate()?;
        let client = build_client(settings).await;
        let location = location(settings, &prefix);
        let errors = ErrorContext {
            location,
            bucket: settings.bucket_name.clone(),
            secret: settings.secret_access_key.clone(),
        };
        let retry = RetryPolicy {
            attempts: settings.max_attempts,
            ..RetryPolicy::default()
        };
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                bucket: settings.bucket_name.clone(),
                service: service_identity(settings),
                prefix,
                multipart_threshold: settings.multipart_threshold,
                part_size: settings.part_size,
                parts_in_flight: settings.parts_in_flight,
                max_copy_object_size: MAX_COPY_OBJECT_SIZE,
                upload_checksums: settings.upload_checksums,
                unlisted_part_checksums: AtomicBool::new(settings.upload_checksums),
                retry,
                errors,
            }),
        })
    }

    /// One cheap request (a one-key listing under the prefix, which needs exactly the permission
    /// `list` needs) to find a wrong endpoint, bucket or credentials at startup rather than at the
    /// first upload.
    pub async fn check_access(&self) -> Result<(), StorageError> {
        let shared = &self.shared;
        shared
            .retry
            .run(|| async {
                shared
                    .client
                    .list_objects_v2()
                    .bucket(&shared.bucket)
                    .prefix(shared.prefix.as_str())
                    .max_keys(1)
                    .send()
                    .await
                    .map_err(|e| shared.errors.sdk(Operation::Connect, None, &e))
            })
            .await
            .map(drop)
    }

    /// Lowers the size above which copies go part by part, so tests can exercise the multipart copy of
    /// objects over 5 GiB with small ones. Not for production use.
    #[doc(hidden)]
    pub fn with_max_copy_object_size_for_tests(mut self, bytes: u64) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("called right after S3Backend::new, before any clone")
            .max_copy_object_size = bytes;
        self
    }

    /// The underlying SDK client, for tests and tools that need a raw S3 call (it carries the
    /// configured credentials; never log it).
    pub fn sdk_client(&self) -> &Client {
        &self.shared.client
    }
}

/// `s3://bucket/prefix at endpoint`: where the data lives, without secrets.
fn location(settings: &S3Settings, prefix: &KeyPrefix) -> String {
    let endpoint = match (&settings.endpoint_url, &settings.region_name) {
        (Some(url), _) => url.clone(),
        (None, Some(region)) => format!("AWS S3 ({region})"),
        (None, None) => "AWS S3 (default region)".to_owned(),
    };
    format!("s3://{}/{} at {endpoint}", settings.bucket_name, prefix.as_str())
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Backend")
            .field("location", &self.shared.errors.location)
            .field("part_size", &self.shared.part_size)
            .field("parts_in_flight", &self.shared.parts_in_flight)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl StorageBackend for S3Backend {
    async fn put(
        &self,
        key: &ObjectKey,
        body: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        self.shared.put(key, body, size, opts).await
    }

    async fn get(&self, key: &ObjectKey) -> Result<ObjectReader, StorageError> {
        self.shared.get(key).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.shared.head(key).await
    }

    fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a> {
        self.shared.list(prefix)
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        self.shared.copy(from, to).await
    }

    fn copy_source(&self, key: &ObjectKey) -> Option<CopySource> {
        Some(self.shared.copy_source(key))
    }

    async fn copy_from_peer(
        &self,
        source: &CopySource,
        to: &ObjectKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        self.shared.copy_from_peer(source, to).await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.shared.delete(key).await
    }

    fn describe(&self) -> String {
        self.shared.errors.location.clone()
    }

    async fn sweep_leftovers(&self, older_than: std::time::Duration) -> Result<u64, StorageError> {
        self.shared.sweep_leftovers(older_than).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    #[tokio::test]
    async fn describe_and_debug_name_the_bucket_but_not_the_secret() {
        let mut settings = S3Settings::new("packages");
        settings.endpoint_url = Some("http://127.0.0.1:3900".into());
        settings.region_name = Some("garage".into());
        settings.access_key_id = Some("GK0123".into());
        settings.secret_access_key = Some(Secret::new("very-secret-value"));
        settings.prefix = "/master//x86_64/".into();
        let backend = S3Backend::new(&settings).await.unwrap();
        assert_eq!(
            backend.describe(),
            "s3://packages/master/x86_64/ at http://127.0.0.1:3900"
        );
        let debug = format!("{backend:?}");
        assert!(
            debug.contains("packages") && !debug.contains("very-secret-value"),
            "{debug}"
        );
    }
}
