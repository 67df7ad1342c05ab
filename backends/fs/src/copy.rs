//! Copies between files on this machine: `copy` within one root, and `copy_from_peer` from another
//! filesystem backend's root (a staging directory promoted into the served one). The bytes never pass
//! through this process when both roots are on one filesystem: the copy is a hard link.

use std::path::Path;

use buildmaster_storage::{Confirmation, ObjectKey, ObjectMeta, Operation, StorageError};

use crate::backend::{hash_file, FsBackend, TempFile};
use crate::sidecar::{self, Sidecar};

impl FsBackend {
    /// Copies `from` under `source_root` (this backend's root or another's) to `to` under this root,
    /// with the source's recorded SHA-256 and content headers.
    pub(crate) async fn copy_file(
        &self,
        source_root: &Path,
        from: &ObjectKey,
        to: &ObjectKey,
    ) -> Result<ObjectMeta, StorageError> {
        self.refuse_reserved(Operation::Copy, from)?;
        self.refuse_reserved(Operation::Copy, to)?;
        let src = source_root.join(from.as_str());
        let err = |e| {
            StorageError::io(Operation::Copy, Some(from), e).context(format!("reading {}", src.display()))
        };
        let fs_meta = tokio::fs::metadata(&src).await.map_err(err)?;
        // Objects are never modified in place (every put renames a new inode over the key), so a hard
        // link is a faithful, instant copy that keeps the inode the sidecar was written for. Across
        // filesystems (EXDEV) the file is copied locally instead.
        let tmp = TempFile(self.new_tmp_path());
        if tokio::fs::hard_link(&src, &tmp.0).await.is_err() {
            tokio::fs::copy(&src, &tmp.0).await.map_err(err)?;
        }
        let tmp_meta = tokio::fs::metadata(&tmp.0).await.map_err(err)?;
        let source_sidecar = sidecar::read(source_root, from);
        let sha256 = match source_sidecar.as_ref().and_then(|s| s.digest_for(&fs_meta)) {
            Some(digest) => digest,
            None => hash_file(&tmp.0).await.map_err(err)?,
        };
        let sidecar = Sidecar {
            sha256: sha256.to_hex(),
            size: tmp_meta.len(),
            ino: std::os::unix::fs::MetadataExt::ino(&tmp_meta),
            content_type: source_sidecar.as_ref().and_then(|s| s.content_type.clone()),
            cache_control: source_sidecar.as_ref().and_then(|s| s.cache_control.clone()),
        };
        self.commit(to, &tmp.0, &sidecar)
            .await
            .map_err(|e| StorageError::io(Operation::Copy, Some(to), e))?;
        // Not disarmed: when the target already was this very file (a promotion run again, a copy onto
        // itself), the rename was a no-op that left the temporary link in place, and dropping the guard
        // removes it; otherwise the temporary path no longer exists and the removal is a no-op.
        drop(tmp);
        Ok(ObjectMeta {
            key: to.clone(),
            size: tmp_meta.len(),
            sha256: Some(sha256),
            modified: tmp_meta.modified().ok(),
            confirmation: Confirmation::Reported,
        })
    }
}
