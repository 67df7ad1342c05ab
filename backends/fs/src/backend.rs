//! [`FsBackend`]: objects as files under a root directory.
//!
//! Writes go to a temporary file in `<root>/.buildmaster-tmp/` (same filesystem, so the final rename is
//! atomic), are fsynced, then renamed into place and the directory fsynced: after `put` returns, the
//! object survives a crash; before, it does not exist. A guard removes the temporary file when a `put`
//! fails or its future is dropped (cancelled).

use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use buildmaster_storage::{
    Confirmation, CopySource, ErrorKind, ExactReader, LocalFile, ObjectKey, ObjectMeta, ObjectReader,
    ObjectStream, Operation, PutOptions, StorageBackend, StorageError,
};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::sidecar::{self, Sidecar};

/// Directory (under the root) for writes in progress.
pub const TMP_DIR: &str = ".buildmaster-tmp";

/// Write buffer size: large enough that the per-call overhead of `tokio::fs` (a blocking-pool hop per
/// operation) is negligible next to the copy itself.
pub(crate) const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// A store that keeps each object as a file `<root>/<key>`.
#[derive(Debug, Clone)]
pub struct FsBackend {
    root: PathBuf,
}

impl FsBackend {
    /// A backend rooted at `root`, created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(root.join(TMP_DIR)).map_err(|e| {
            StorageError::io(Operation::Connect, None, e).context(format!("creating {}", root.display()))
        })?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn path_of(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    pub(crate) fn refuse_reserved(&self, op: Operation, key: &ObjectKey) -> Result<(), StorageError> {
        if sidecar::is_reserved(key.as_str()) {
            return Err(StorageError::new(
                op,
                Some(key),
                ErrorKind::Permanent,
                format!(
                    "keys starting with '{}' are reserved by the filesystem backend",
                    crate::RESERVED_PREFIX
                ),
            ));
        }
        Ok(())
    }

    fn meta_from(&self, key: &ObjectKey, fs_meta: &std::fs::Metadata) -> ObjectMeta {
        let sidecar = sidecar::read(&self.root, key);
        self.meta_with(key, fs_meta, sidecar.as_ref())
    }

    /// The metadata of `key` given its sidecar (if any).
    fn meta_with(
        &self,
        key: &ObjectKey,
        fs_meta: &std::fs::Metadata,
        sidecar: Option<&Sidecar>,
    ) -> ObjectMeta {
        let sha256 = sidecar.and_then(|s| s.digest_for(fs_meta));
        ObjectMeta {
            key: key.clone(),
            size: fs_meta.len(),
            sha256,
            modified: fs_meta.modified().ok(),
            confirmation: Confirmation::Reported,
        }
    }

    /// Moves a finished temporary file (and its sidecar) into place durably.
    pub(crate) async fn commit(&self, key: &ObjectKey, tmp: &Path, sidecar: &Sidecar) -> std::io::Result<()> {
        let dest = self.path_of(key);
        let side = sidecar::path(&self.root, key);
        for dir in [dest.parent(), side.parent()].into_iter().flatten() {
            tokio::fs::create_dir_all(dir).await?;
        }
        write_durably(
            &side,
            &serde_json::to_vec(sidecar).map_err(std::io::Error::other)?,
        )
        .await?;
        tokio::fs::rename(tmp, &dest).await?;
        if let Some(dir) = dest.parent() {
            sync_dir(dir).await?;
        }
        Ok(())
    }

    pub(crate) fn new_tmp_path(&self) -> PathBuf {
        self.root
            .join(TMP_DIR)
            .join(format!("{:016x}.part", fastrand::u64(..)))
    }
}

#[async_trait]
impl StorageBackend for FsBackend {
    async fn put(
        &self,
        key: &ObjectKey,
        body: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        self.refuse_reserved(Operation::Put, key)?;
        let err = |e| StorageError::io(Operation::Put, Some(key), e);
        let tmp = TempFile(self.new_tmp_path());
        let mut file = tokio::fs::File::create(&tmp.0).await.map_err(err)?;
        let mut reader = ExactReader::new(body, size);
        let mut buf = vec![0u8; WRITE_CHUNK_BYTES];
        loop {
            let n = reader.read_full(&mut buf).await.map_err(err)?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).await.map_err(err)?;
        }
        let digest = reader.finish(opts.sha256.as_ref()).await.map_err(err)?;
        file.sync_all().await.map_err(err)?;
        let fs_meta = file.metadata().await.map_err(err)?;
        drop(file);
        let sidecar = Sidecar {
            sha256: digest.to_hex(),
            size,
            ino: std::os::unix::fs::MetadataExt::ino(&fs_meta),
            content_type: opts.content_type.clone(),
            cache_control: opts.cache_control.header().map(str::to_owned),
        };
        self.commit(key, &tmp.0, &sidecar).await.map_err(err)?;
        tmp.disarm();
        Ok(ObjectMeta {
            key: key.clone(),
            size,
            sha256: Some(digest),
            modified: fs_meta.modified().ok(),
            // Counted and hashed above, fsynced, and renamed into place with its sidecar by `commit`.
            confirmation: Confirmation::StoredAsSent,
        })
    }

    async fn get(&self, key: &ObjectKey) -> Result<ObjectReader, StorageError> {
        self.refuse_reserved(Operation::Get, key)?;
        let err = |e| StorageError::io(Operation::Get, Some(key), e);
        let file = tokio::fs::File::open(self.path_of(key)).await.map_err(err)?;
        let fs_meta = file.metadata().await.map_err(err)?;
        if !fs_meta.is_file() {
            return Err(StorageError::new(
                Operation::Get,
                Some(key),
                ErrorKind::NotFound,
                "not a file",
            ));
        }
        let sidecar = sidecar::read(&self.root, key);
        let meta = self.meta_with(key, &fs_meta, sidecar.as_ref());
        let body = tokio::io::BufReader::with_capacity(WRITE_CHUNK_BYTES, file);
        Ok(ObjectReader {
            meta,
            headers: sidecar.map(|s| s.headers()).unwrap_or_default(),
            body: Box::pin(body),
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        if sidecar::is_reserved(key.as_str()) {
            return Ok(None);
        }
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(m) if m.is_file() => Ok(Some(self.meta_from(key, &m))),
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), IoKind::NotFound | IoKind::NotADirectory) => Ok(None),
            Err(e) => Err(StorageError::io(Operation::Head, Some(key), e)),
        }
    }

    fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a> {
        let root = self.root.clone();
        let wanted = prefix.as_str().to_owned();
        futures::stream::once(async move {
            tokio::task::spawn_blocking(move || crate::walk::files_with_prefix(&root, &wanted))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
                .map_err(|e| StorageError::io(Operation::List, Some(prefix), e))
        })
        .map(move |page| match page {
            Ok(found) => futures::stream::iter(
                found
                    .into_iter()
                    .filter_map(|f| {
                        ObjectKey::new(f.key)
                            .ok()
                            .map(|k| Ok(self.meta_from(&k, &f.meta)))
                    })
                    .collect::<Vec<_>>(),
            )
            .boxed(),
            Err(e) => futures::stream::iter(vec![Err(e)]).boxed(),
        })
        .flatten()
        .boxed()
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        self.copy_file(&self.root, from, to).await
    }

    fn copy_source(&self, key: &ObjectKey) -> Option<CopySource> {
        // Relative roots are relative to this process's working directory; the peer is in this process
        // too, but an absolute path keeps the location meaningful in messages.
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        Some(CopySource::File(LocalFile {
            root,
            key: key.clone(),
        }))
    }

    /// A file of another filesystem backend on this machine is linked (or copied locally); anything
    /// else is streamed by the caller.
    async fn copy_from_peer(
        &self,
        source: &CopySource,
        to: &ObjectKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        match source {
            CopySource::File(file) => self.copy_file(&file.root, &file.key, to).await.map(Some),
            _ => Ok(None),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.refuse_reserved(Operation::Delete, key)?;
        for path in [self.path_of(key), sidecar::path(&self.root, key)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), IoKind::NotFound | IoKind::NotADirectory) => {}
                Err(e) => return Err(StorageError::io(Operation::Delete, Some(key), e)),
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("filesystem storage at {}", self.root.display())
    }

    /// Temporary files of writes a crash interrupted (the guard removes them on every other path).
    async fn sweep_leftovers(&self, older_than: std::time::Duration) -> Result<u64, StorageError> {
        let dir = self.root.join(TMP_DIR);
        let err = |e| StorageError::io(Operation::Delete, None, e);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(err(e)),
        };
        let cutoff = std::time::SystemTime::now() - older_than;
        let mut removed = 0;
        while let Some(entry) = entries.next_entry().await.map_err(err)? {
            let modified = entry.metadata().await.map_err(err)?.modified().map_err(err)?;
            if modified <= cutoff {
                tokio::fs::remove_file(entry.path()).await.map_err(err)?;
                tracing::info!(file = %entry.path().display(), "removed a temporary file left by an interrupted write");
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A temporary file removed on drop unless disarmed: the cleanup path for failed and cancelled puts.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl TempFile {
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{:08x}", fastrand::u32(..)));
    let mut file = tokio::fs::File::create(&tmp).await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&tmp, path).await
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

pub(crate) async fn hash_file(path: &Path) -> std::io::Result<buildmaster_storage::Sha256Digest> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let mut reader = ExactReader::new(&mut file, size);
    let mut buf = vec![0u8; WRITE_CHUNK_BYTES];
    while reader.read_full(&mut buf).await? != 0 {}
    reader.finish(None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_old_temporary_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let backend = FsBackend::new(root).unwrap();
        std::fs::create_dir_all(root.join(TMP_DIR)).unwrap();
        std::fs::write(root.join(TMP_DIR).join("killed.part"), b"half").unwrap();
        let kept = ObjectKey::new("packages/kept.hpkg").unwrap();
        backend
            .put_bytes(&kept, b"kept", &PutOptions::default())
            .await
            .unwrap();
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(backend.sweep_leftovers(hour).await.unwrap(), 0);
        assert_eq!(
            backend.sweep_leftovers(std::time::Duration::ZERO).await.unwrap(),
            1
        );
        assert!(!root.join(TMP_DIR).join("killed.part").exists());
        assert!(backend.head(&kept).await.unwrap().is_some());
    }
}
