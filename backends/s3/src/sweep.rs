//! Sweeping leftovers of interrupted writes: temporary objects under the reserved uploads directory
//! (a crash between uploading a body and copying it to its final key) and multipart uploads never
//! completed nor aborted (a crash mid-upload; the drop guard cannot run in a killed process). Only
//! what is older than the caller's cutoff goes, so uploads in progress are never touched, and only
//! under this backend's prefix.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::DateTime;
use buildmaster_storage::{Operation, StorageError};

use crate::backend::Shared;
use crate::put::UPLOADS_DIR;

fn older(stamp: Option<&DateTime>, cutoff: SystemTime) -> bool {
    stamp
        .and_then(|t| SystemTime::try_from(*t).ok())
        .is_some_and(|t| t <= cutoff)
}

impl Shared {
    /// `StorageBackend::sweep_leftovers`.
    pub(crate) async fn sweep_leftovers(&self, older_than: Duration) -> Result<u64, StorageError> {
        let cutoff = SystemTime::now() - older_than;
        let mut removed = 0;
        let uploads_dir = format!("{}{UPLOADS_DIR}", self.prefix.as_str());
        let mut token = None;
        loop {
            let page = self
                .retry
                .run(|| async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&uploads_dir)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| self.errors.sdk(Operation::List, None, &e))
                })
                .await?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if older(object.last_modified(), cutoff) {
                    self.retry
                        .run(|| async {
                            self.client
                                .delete_object()
                                .bucket(&self.bucket)
                                .key(key)
                                .send()
                                .await
                                .map_err(|e| self.errors.sdk(Operation::Delete, None, &e))
                        })
                        .await?;
                    tracing::info!(key, "removed a temporary upload left by an interrupted write");
                    removed += 1;
                }
            }
            match page.next_continuation_token() {
                Some(next) => token = Some(next.to_string()),
                None => break,
            }
        }

        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let page = self
                .retry
                .run(|| async {
                    self.client
                        .list_multipart_uploads()
                        .bucket(&self.bucket)
                        .prefix(self.prefix.as_str())
                        .set_key_marker(key_marker.clone())
                        .set_upload_id_marker(id_marker.clone())
                        .send()
                        .await
                        .map_err(|e| self.errors.sdk(Operation::List, None, &e))
                })
                .await?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                if older(upload.initiated(), cutoff) {
                    self.retry
                        .run(|| async {
                            self.client
                                .abort_multipart_upload()
                                .bucket(&self.bucket)
                                .key(key)
                                .upload_id(id)
                                .send()
                                .await
                                .map_err(|e| self.errors.sdk(Operation::Delete, None, &e))
                        })
                        .await?;
                    tracing::info!(key, "aborted a multipart upload left by an interrupted write");
                    removed += 1;
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
        }
        Ok(removed)
    }
}
