//! Undoing remote side effects on error *and* on cancellation.
//!
//! A multipart upload that is neither completed nor aborted keeps its parts (and their cost) in the
//! bucket forever, and a temporary object left behind is litter. [`Cleanup`] holds the pending undo
//! action. The happy path disarms it; the error path runs it and waits ([`Cleanup::run_now`]); if the
//! future owning it is dropped (the caller cancelled, a timeout fired) its `Drop` spawns the action as
//! a named background task, since `Drop` cannot await.

use std::future::Future;
use std::sync::Arc;

use buildmaster_storage::{ErrorKind, Operation, StorageError};
use tracing::Instrument;

use crate::backend::Shared;

/// A remote side effect to undo.
#[derive(Debug)]
pub(crate) enum Undo {
    /// Abort the multipart upload `upload_id` of the full key `key`.
    AbortUpload {
        /// Full S3 key (prefix included).
        key: String,
        /// The upload to abort.
        upload_id: String,
    },
    /// Delete the temporary object at the full key `key`.
    DeleteObject {
        /// Full S3 key (prefix included).
        key: String,
    },
}

/// Runs its [`Undo`] unless disarmed: awaited on error paths, spawned from `Drop` on cancellation.
pub(crate) struct Cleanup {
    shared: Arc<Shared>,
    undo: Option<Undo>,
}

impl Cleanup {
    /// Arms a cleanup for `undo`.
    pub(crate) fn new(shared: Arc<Shared>, undo: Undo) -> Self {
        Self {
            shared,
            undo: Some(undo),
        }
    }

    /// Replaces the pending action (an upload that completed into a temporary object now needs that
    /// object deleted instead of the upload aborted).
    pub(crate) fn set(&mut self, undo: Undo) {
        self.undo = Some(undo);
    }

    /// The work succeeded: nothing to undo.
    pub(crate) fn disarm(mut self) {
        self.undo = None;
    }

    /// Undoes now and waits for it (error path). Failures are logged: the caller is already returning
    /// the error that made the cleanup necessary.
    pub(crate) async fn run_now(mut self) {
        if let Some(undo) = self.undo.take() {
            run(&self.shared, undo).await;
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(undo) = self.undo.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                let shared = self.shared.clone();
                spawn_named("s3-cleanup", async move { run(&shared, undo).await });
            }
            // Dropped outside a runtime (the runtime itself is shutting down): nothing can be sent.
            Err(_) => tracing::warn!(?undo, "S3 upload cancelled outside a runtime; cleanup skipped"),
        }
    }
}

/// Spawns a background task with a name and a tracing span, so that it shows up in logs and in
/// tokio-console under a meaningful name; the only place this crate spawns detached tasks.
pub(crate) fn spawn_named<F>(name: &'static str, future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(future.instrument(tracing::info_span!("task", name)));
}

/// Performs `undo` with retries. "Already gone" counts as done.
async fn run(shared: &Shared, undo: Undo) {
    let result = match &undo {
        Undo::AbortUpload { key, upload_id } => shared
            .retry
            .run(|| async {
                shared
                    .client
                    .abort_multipart_upload()
                    .bucket(&shared.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
                    .map_err(|e| shared.errors.sdk(Operation::Put, None, &e))
            })
            .await
            .map(drop),
        Undo::DeleteObject { key } => shared.delete_full(key, Operation::Put, None).await,
    };
    match result {
        Ok(()) => tracing::debug!(?undo, "S3 cleanup done"),
        Err(StorageError {
            kind: ErrorKind::NotFound,
            ..
        }) => tracing::debug!(?undo, "S3 cleanup: already gone"),
        Err(err) => tracing::warn!(?undo, %err, "S3 cleanup failed; the leftover needs manual removal"),
    }
}
