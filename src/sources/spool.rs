//! [`SpoolFile`]: a temporary file in the instance's spool directory that hashes every byte written
//! to it (SHA-256, and SHA-512 too when a lookaside `sources` file names the source by it) and
//! refuses to grow past a bound. A fetched source is written here once — hashed on the way
//! in — and uploaded from here only when its digest is the one required; the file is removed when the
//! value is dropped, on success, error or cancellation alike.

use std::path::{Path, PathBuf};

use buildmaster_storage::Sha256Digest;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncWriteExt;

/// A spooled download in progress.
pub struct SpoolFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    /// Also SHA-512, for sources whose recipe names them by it (RPM `sources` files).
    sha512: Option<Sha512>,
    size: u64,
    limit: u64,
}

/// Writing more than the bound allows.
#[derive(Debug, thiserror::Error)]
#[error("larger than {limit} bytes (raise --max-size if the source really is this large)")]
pub struct TooLarge {
    /// The bound.
    pub limit: u64,
}

/// What went wrong writing to the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Past the bound.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The local file system.
    #[error("spool file {path}: {source}")]
    Io {
        /// The spool file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl SpoolFile {
    /// A new, empty spool file in `dir` (created if missing) that may grow to `limit` bytes.
    pub async fn create(dir: &Path, limit: u64) -> Result<SpoolFile, SpoolError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SpoolError::Io { path, source }
        };
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        let path = dir.join(format!(
            "source-{}-{:016x}.part",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(io(&path))?;
        Ok(SpoolFile {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            sha512: None,
            size: 0,
            limit,
        })
    }

    /// Also computes the SHA-512 of what is written (call before the first write).
    pub fn with_sha512(mut self) -> SpoolFile {
        self.sha512 = Some(Sha512::new());
        self
    }

    /// The SHA-512 (lowercase hex) of what was written, if asked for with [`Self::with_sha512`].
    pub fn sha512_hex(&self) -> Option<String> {
        self.sha512.as_ref().map(|h| hex::encode(h.clone().finalize()))
    }

    /// Appends `bytes`, hashing them; fails once the total would pass the bound.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), SpoolError> {
        let size = self.size + bytes.len() as u64;
        if size > self.limit {
            return Err(TooLarge { limit: self.limit }.into());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(self.io(std::io::Error::other("already finished")));
        };
        if let Err(e) = file.write_all(bytes).await {
            return Err(self.io(e));
        }
        self.hasher.update(bytes);
        if let Some(sha512) = self.sha512.as_mut() {
            sha512.update(bytes);
        }
        self.size = size;
        Ok(())
    }

    /// Flushes the file to disk and returns its digest and size; the file stays until drop.
    pub async fn finish(&mut self) -> Result<(Sha256Digest, u64), SpoolError> {
        if let Some(mut file) = self.file.take() {
            if let Err(e) = file.flush().await {
                return Err(self.io(e));
            }
        }
        let digest = Sha256Digest(self.hasher.clone().finalize().into());
        Ok((digest, self.size))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn io(&self, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_bounds_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = SpoolFile::create(dir.path(), 5).await.unwrap();
        spool.write(b"abc").await.unwrap();
        let path = spool.path().to_owned();
        assert!(matches!(spool.write(b"def").await, Err(SpoolError::TooLarge(_))));
        let (digest, size) = spool.finish().await.unwrap();
        assert_eq!((digest, size), (Sha256Digest::of(b"abc"), 3));
        assert_eq!(spool.sha512_hex(), None);
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        drop(spool);
        assert!(!path.exists());
        let mut both = SpoolFile::create(dir.path(), 5).await.unwrap().with_sha512();
        both.write(b"abc").await.unwrap();
        // FIPS 180-2's "abc" example.
        assert!(both.sha512_hex().unwrap().starts_with("ddaf35a193617aba"));
    }
}
