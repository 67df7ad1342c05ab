//! `store_and_verify` against the filesystem backend behind a wrapper that can forget what it
//! stored and say how much its `put` vouches for: a `put` that confirms the recorded size and digest
//! is not read back, and anything less is verified with a `head` that finds a lost object.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use buildmaster_storage::{
    Confirmation, ObjectKey, ObjectMeta, ObjectReader, ObjectStream, PutOptions, StorageBackend, StorageError,
};
use buildmaster_storage_fs::FsBackend;
use tokio::io::AsyncRead;

use super::{store_and_verify, Stored};
use crate::formats::InspectedPackage;
use crate::publish::progress::NoProgress;
use crate::publish::spool::SpoolEntry;
use crate::publish::PublishError;
use crate::state::{PackageState, Record};

/// What the wrapper's `put` does after the real one stored the object.
#[derive(Clone, Copy, Debug)]
enum PutAnswer {
    /// Passes the real answer on.
    AsStored,
    /// Deletes the object again (a store that acknowledges and loses it) and says it cannot confirm.
    LostUnconfirmed,
    /// Keeps the object but claims to confirm one byte more than it stored (a backend bug).
    ConfirmsAnotherSize,
}

/// The filesystem backend, with `put` answered as `answer` says and every `head` counted.
#[derive(Debug)]
struct Wrapped {
    inner: FsBackend,
    answer: PutAnswer,
    heads: AtomicUsize,
}

#[async_trait]
impl StorageBackend for Wrapped {
    async fn put(
        &self,
        key: &ObjectKey,
        body: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        let mut meta = self.inner.put(key, body, size, opts).await?;
        match self.answer {
            PutAnswer::AsStored => {}
            PutAnswer::LostUnconfirmed => {
                self.inner.delete(key).await?;
                meta.confirmation = Confirmation::Reported;
            }
            PutAnswer::ConfirmsAnotherSize => meta.size += 1,
        }
        Ok(meta)
    }

    async fn get(&self, key: &ObjectKey) -> Result<ObjectReader, StorageError> {
        self.inner.get(key).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.heads.fetch_add(1, Ordering::Relaxed);
        self.inner.head(key).await
    }

    fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a> {
        self.inner.list(prefix)
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        self.inner.copy(from, to).await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    fn describe(&self) -> String {
        format!("wrapped {}", self.inner.describe())
    }
}

/// A spooled package file of a few bytes, its record, and storage answering `put` as `answer` says.
fn fixture(dir: &std::path::Path, answer: PutAnswer) -> (Arc<Wrapped>, SpoolEntry, Record) {
    let bytes = b"not really a package, but bytes with a digest".to_vec();
    let file_name = "demo-1.0-1-x86_64.hpkg".to_owned();
    let path = dir.join(&file_name);
    std::fs::write(&path, &bytes).unwrap();
    let storage = Arc::new(Wrapped {
        inner: FsBackend::new(dir.join("storage")).unwrap(),
        answer,
        heads: AtomicUsize::new(0),
    });
    let entry = SpoolEntry {
        path,
        file_name: file_name.clone(),
        size: bytes.len() as u64,
    };
    let record = Record {
        package: InspectedPackage {
            name: "demo".into(),
            version: "1.0-1".into(),
            architecture: "x86_64".into(),
            size: bytes.len() as u64,
            sha256: buildmaster_storage::Sha256Digest::of(&bytes).to_hex(),
            file_name,
            entry: String::new(),
        },
        state: PackageState::Spooled,
        added_at: 0,
        last_indexed_at: None,
    };
    (storage, entry, record)
}

async fn store(storage: &Wrapped, entry: SpoolEntry, record: Record) -> Result<Stored, PublishError> {
    // `unlisted`: a listing showed no such object, so the only `head` is the verifying one.
    store_and_verify(storage, entry, record, true, &NoProgress)
        .await
        .map(|(_, _, stored)| stored)
}

#[tokio::test]
async fn an_upload_its_put_confirms_is_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, entry, record) = fixture(dir.path(), PutAnswer::AsStored);
    let key = super::keys::package(&record.package.file_name).unwrap();
    assert_eq!(store(&storage, entry, record).await.unwrap(), Stored::Uploaded);
    assert_eq!(storage.heads.load(Ordering::Relaxed), 0);
    assert!(storage.inner.head(&key).await.unwrap().is_some());
}

#[tokio::test]
async fn an_unconfirmed_upload_that_storage_lost_is_refused_after_a_head() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, entry, record) = fixture(dir.path(), PutAnswer::LostUnconfirmed);
    let err = store(&storage, entry, record).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("missing from storage right after its upload"),
        "{err}"
    );
    assert_eq!(storage.heads.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_put_confirming_other_than_the_record_is_verified_with_a_head() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, entry, record) = fixture(dir.path(), PutAnswer::ConfirmsAnotherSize);
    // The object itself is right, so the `head` passes; what matters is that it was made.
    assert_eq!(store(&storage, entry, record).await.unwrap(), Stored::Uploaded);
    assert_eq!(storage.heads.load(Ordering::Relaxed), 1);
}
