//! Copies from another S3 backend on the same service (a staging bucket promoted into the served one):
//! one `CopyObject` naming the source bucket in `x-amz-copy-source`, or the multipart copy above its
//! 5 GiB limit, so the bytes never leave the server.
//!
//! "The same service" means the same endpoint, region and access key id: the target's credentials are
//! then the source's, which can read the source bucket. A source elsewhere is streamed by the caller.

use std::sync::Arc;

use buildmaster_storage::{
    BucketObject, CopySource, ErrorKind, ObjectKey, ObjectMeta, Operation, ServiceIdentity, StorageError,
};

use crate::backend::Shared;
use crate::copy::CopyFrom;
use crate::errors::ErrorContext;
use crate::settings::S3Settings;

/// The service and credentials `settings` talk to (never the secret).
pub(crate) fn service_identity(settings: &S3Settings) -> ServiceIdentity {
    ServiceIdentity {
        // `http://host:3900/` and `http://host:3900` are one endpoint.
        endpoint_url: settings
            .endpoint_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned()),
        region: settings.region_name.clone(),
        access_key_id: settings.access_key_id.clone(),
    }
}

impl Shared {
    /// `StorageBackend::copy_source`: this bucket and the full key.
    pub(crate) fn copy_source(&self, key: &ObjectKey) -> CopySource {
        CopySource::Bucket(BucketObject {
            service: self.service.clone(),
            bucket: self.bucket.clone(),
            key: self.full_key(key),
        })
    }

    /// `StorageBackend::copy_from_peer`: a server-side copy when `source` is on this service, else
    /// `None`.
    pub(crate) async fn copy_from_peer(
        self: &Arc<Self>,
        source: &CopySource,
        to: &ObjectKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        let CopySource::Bucket(object) = source else {
            return Ok(None);
        };
        if object.service != self.service {
            return Ok(None);
        }
        let from = CopyFrom {
            bucket: &object.bucket,
            key: &object.key,
        };
        let size = self.source_size(from, to).await?;
        let target = self.full_key(to);
        // S3 refuses to copy an object onto itself without changing its metadata; it is there already.
        if object.bucket != self.bucket || object.key != target {
            self.copy_full(from, &target, size, None, to).await?;
        }
        let copied = self.head(to).await?.ok_or_else(|| {
            self.errors.other(
                Operation::Copy,
                Some(to),
                ErrorKind::Transient,
                "copied object vanished right after the copy (deleted concurrently?)",
            )
        })?;
        Ok(Some(copied))
    }

    /// The size of `source` (which decides between CopyObject and a multipart copy); a missing source
    /// is a `NotFound` error naming it.
    async fn source_size(&self, source: CopyFrom<'_>, to: &ObjectKey) -> Result<u64, StorageError> {
        let location = format!("s3://{}/{}", source.bucket, source.key);
        let errors = ErrorContext {
            location: location.clone(),
            bucket: source.bucket.to_owned(),
            secret: self.errors.secret.clone(),
        };
        let result = self
            .retry
            .run(|| async {
                self.client
                    .head_object()
                    .bucket(source.bucket)
                    .key(source.key)
                    .send()
                    .await
                    .map_err(|e| errors.sdk(Operation::Copy, Some(to), &e))
            })
            .await;
        match result {
            Ok(out) => Ok(out.content_length.unwrap_or(0).max(0) as u64),
            Err(err) if err.kind == ErrorKind::NotFound => Err(errors.other(
                Operation::Copy,
                Some(to),
                ErrorKind::NotFound,
                "copy source does not exist",
            )),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;
    use crate::S3Backend;
    use buildmaster_storage::StorageBackend;

    fn settings(bucket: &str, endpoint: &str, key_id: &str) -> S3Settings {
        let mut settings = S3Settings::new(bucket);
        settings.endpoint_url = Some(endpoint.into());
        settings.region_name = Some("garage".into());
        settings.access_key_id = Some(key_id.into());
        settings.secret_access_key = Some(Secret::new("very-secret-value"));
        settings.prefix = "staging/x86_64".into();
        settings
    }

    #[tokio::test]
    async fn the_copy_source_names_bucket_and_full_key_but_no_secret() {
        let backend = S3Backend::new(&settings("stage", "http://127.0.0.1:3900/", "GK1"))
            .await
            .unwrap();
        let source = backend
            .copy_source(&ObjectKey::new("packages/a.hpkg").unwrap())
            .unwrap();
        assert_eq!(source.location(), "s3://stage/staging/x86_64/packages/a.hpkg");
        let CopySource::Bucket(object) = &source else {
            panic!("an S3 backend's objects are bucket objects: {source:?}");
        };
        assert_eq!(
            object.service,
            service_identity(&settings("served", "http://127.0.0.1:3900", "GK1")),
            "another bucket on the same endpoint with the same key is a peer"
        );
        assert_ne!(
            object.service,
            service_identity(&settings("served", "http://127.0.0.1:3900", "GK2")),
            "other credentials are not"
        );
        assert!(!format!("{source:?}").contains("very-secret-value"));
    }
}
