//! A [`StorageBackend`] wrapper that counts the bytes moved to and from object storage into the
//! `buildmaster_transferred_bytes_total` metric (`direction="upload"` and `"download"`), so the daemon's
//! publishing and the builders' dependency downloads show up on `/metrics` whatever the backend.
//!
//! Bytes are counted as the body is read on the way up and as the reader yields them on the way down:
//! a transfer that fails halfway counts what crossed before it failed, which is what went over the wire.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buildmaster_storage::{
    CopySource, ObjectKey, ObjectMeta, ObjectReader, ObjectStream, PutOptions, StorageBackend, StorageError,
};
use tokio::io::AsyncRead;

use super::metrics::{Direction, Metrics};
use crate::publish::progress::CountingReader;

/// `inner`, with every byte of `put` and `get` counted in `metrics`.
#[derive(Debug)]
pub struct MeteredStorage {
    inner: Arc<dyn StorageBackend>,
    metrics: Metrics,
}

impl MeteredStorage {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StorageBackend>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl StorageBackend for MeteredStorage {
    async fn put(
        &self,
        key: &ObjectKey,
        body: &mut (dyn AsyncRead + Send + Unpin),
        size: u64,
        opts: &PutOptions,
    ) -> Result<ObjectMeta, StorageError> {
        let metrics = &self.metrics;
        let mut counted = CountingReader::new(body, |n| metrics.add_transferred(Direction::Upload, n));
        self.inner.put(key, &mut counted, size, opts).await
    }

    async fn get(&self, key: &ObjectKey) -> Result<ObjectReader, StorageError> {
        let reader = self.inner.get(key).await?;
        let metrics = self.metrics.clone();
        Ok(ObjectReader {
            meta: reader.meta,
            headers: reader.headers,
            body: Box::pin(CountingReader::new(reader.body, move |n| {
                metrics.add_transferred(Direction::Download, n)
            })),
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.head(key).await
    }

    fn list<'a>(&'a self, prefix: &'a ObjectKey) -> ObjectStream<'a> {
        self.inner.list(prefix)
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        self.inner.copy(from, to).await
    }

    /// Forwarded so that a copy from a peer on the same service stays server-side behind this wrapper
    /// (moving no bytes through this process, it counts none); `copy_from` keeps its default, so a
    /// streamed copy goes through this wrapper's `get` and `put` and is counted.
    fn copy_source(&self, key: &ObjectKey) -> Option<CopySource> {
        self.inner.copy_source(key)
    }

    async fn copy_from_peer(
        &self,
        source: &CopySource,
        to: &ObjectKey,
    ) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.copy_from_peer(source, to).await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn sweep_leftovers(&self, older_than: Duration) -> Result<u64, StorageError> {
        self.inner.sweep_leftovers(older_than).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildmaster_storage_fs::FsBackend;

    #[tokio::test]
    async fn puts_and_gets_are_counted_by_direction() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let inner: Arc<dyn StorageBackend> = Arc::new(FsBackend::new(dir.path()).unwrap());
        let storage = MeteredStorage::new(inner, metrics.clone());
        let key = ObjectKey::new("packages/a.hpkg").unwrap();
        let body = vec![7u8; 1000];
        storage
            .put_bytes(&key, &body, &PutOptions::default())
            .await
            .unwrap();
        assert_eq!(storage.get_bytes(&key, 10_000).await.unwrap(), body);
        assert!(storage.head(&key).await.unwrap().is_some());
        let text = metrics.encode();
        assert!(
            text.contains("buildmaster_transferred_bytes_total{direction=\"upload\"} 1000"),
            "{text}"
        );
        assert!(
            text.contains("buildmaster_transferred_bytes_total{direction=\"download\"} 1000"),
            "{text}"
        );
    }
}
