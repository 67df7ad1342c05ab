//! Expiry of scratch builds: once `expires_at` has passed, their staging objects are deleted (those
//! recorded and anything else under `scratch/<N>/`, e.g. left by a killed upload), then the directory.
//! The directory goes last, so a prune interrupted half-way is finished by the next one.

use buildmaster_storage::{ObjectKey, StorageBackend};
use futures::TryStreamExt as _;

use super::gate_check::staging_prefix;
use super::workspace::{all, Workspace};
use super::ScratchError;
use crate::state::StateDir;

/// What a prune did.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    /// Scratch builds deleted.
    pub removed: Vec<u64>,
    /// Staging objects deleted.
    pub objects: usize,
    /// Scratch builds kept because a deletion failed, with the reason (retried next time).
    pub failed: Vec<String>,
}

async fn delete_staged(staging: &dyn StorageBackend, ws: &Workspace) -> Result<usize, ScratchError> {
    let staging_err = |e: &dyn std::fmt::Display| ScratchError::Staging(e.to_string());
    let prefix = ObjectKey::prefix(staging_prefix(ws.record.id)).map_err(|e| staging_err(&e))?;
    let mut keys: Vec<ObjectKey> = staging
        .list(&prefix)
        .map_ok(|meta| meta.key)
        .try_collect()
        .await
        .map_err(|e| staging_err(&e))?;
    for key in &ws.record.staged {
        let key = ObjectKey::new(key.clone()).map_err(|e| staging_err(&e))?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in &keys {
        // Deleting an absent object succeeds: a rerun after a partial prune is harmless.
        staging.delete(key).await.map_err(|e| staging_err(&e))?;
    }
    Ok(keys.len())
}

/// Deletes every scratch build whose TTL has passed at `now` (unix seconds).
pub async fn prune_expired(state: &StateDir, staging: Option<&dyn StorageBackend>, now: i64) -> PruneReport {
    let mut report = PruneReport::default();
    for ws in all(state) {
        let ws = match ws {
            Ok(ws) => ws,
            Err(err) => {
                report.failed.push(err.to_string());
                continue;
            }
        };
        if ws.record.expires_at > now {
            continue;
        }
        if let Some(staging) = staging {
            match delete_staged(staging, &ws).await {
                Ok(n) => report.objects += n,
                Err(err) => {
                    report.failed.push(format!("scratch {}: {err}", ws.record.id));
                    continue;
                }
            }
        }
        match std::fs::remove_dir_all(&ws.root) {
            Ok(()) => report.removed.push(ws.record.id),
            Err(err) => report
                .failed
                .push(format!("scratch {}: {}: {err}", ws.record.id, ws.root.display())),
        }
    }
    report
}
