//! The storage conformance suite: the same cases run against the filesystem backend and against the S3
//! backend talking to a real garage server on 127.0.0.1. A backend that passes this suite fulfils the
//! `StorageBackend` contract the publisher relies on.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use buildmaster_storage::{
    Confirmation, ErrorKind, ObjectKey, PutOptions, Sha256Digest, StorageBackend, StorageError,
};
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

const MIB: usize = 1 << 20;

/// Makes a backend for one test: `prefix` isolates tests from each other (a directory for the
/// filesystem backend, a key prefix in the shared bucket for S3).
trait Factory: Send + Sync {
    fn make(&self, prefix: &str) -> Pin<Box<dyn Future<Output = Arc<dyn StorageBackend>> + Send + '_>>;
    /// Whether nothing of an unfinished upload is left behind under `prefix` (temp files, multipart
    /// uploads).
    fn no_leftovers(&self, prefix: &str) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + '_>>;
    /// Whether a successful `put` of `size` bytes, with the digest given up front or not, vouches for
    /// the stored object ([`Confirmation::StoredAsSent`]) on this backend.
    fn put_confirms(&self, size: usize, digest_given: bool) -> bool;
}

struct Fs(tempfile::TempDir);

impl Factory for Fs {
    fn make(&self, prefix: &str) -> Pin<Box<dyn Future<Output = Arc<dyn StorageBackend>> + Send + '_>> {
        let root = self.0.path().join(prefix);
        Box::pin(async move {
            Arc::new(buildmaster_storage_fs::FsBackend::new(root).unwrap()) as Arc<dyn StorageBackend>
        })
    }
    fn no_leftovers(&self, prefix: &str) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + '_>> {
        let tmp = self
            .0
            .path()
            .join(prefix)
            .join(buildmaster_storage_fs::backend::TMP_DIR);
        Box::pin(async move {
            std::fs::read_dir(tmp)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.path().display().to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
    }
    fn put_confirms(&self, _size: usize, _digest_given: bool) -> bool {
        // Counted, hashed, fsynced and renamed into place, whatever the size.
        true
    }
}

struct S3;

impl Factory for S3 {
    fn make(&self, prefix: &str) -> Pin<Box<dyn Future<Output = Arc<dyn StorageBackend>> + Send + '_>> {
        let mut settings = support::garage::Garage::shared().s3_settings(&format!("conformance/{prefix}"));
        // Small parts so that the size cases straddle the single-PUT/multipart boundary: 5 MiB − 1 is one
        // PutObject, 5 MiB and 64 MiB + 1 are multipart (the last with a 1-byte final part).
        settings.multipart_threshold = 5 * MIB as u64;
        settings.part_size = 5 * MIB as u64;
        settings.parts_in_flight = 4;
        Box::pin(async move {
            Arc::new(buildmaster_storage_s3::S3Backend::new(&settings).await.unwrap())
                as Arc<dyn StorageBackend>
        })
    }
    fn no_leftovers(&self, prefix: &str) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + '_>> {
        let prefix = format!("conformance/{prefix}/");
        Box::pin(async move {
            support::garage::Garage::shared()
                .unfinished_multipart_uploads(&prefix)
                .await
        })
    }
    fn put_confirms(&self, size: usize, digest_given: bool) -> bool {
        // A PutObject, or a multipart upload created with the digest; not the temporary upload and
        // copy a multipart body of unknown digest takes.
        size < 5 * MIB || digest_given
    }
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}

async fn read_all(backend: &dyn StorageBackend, k: &ObjectKey) -> Vec<u8> {
    let mut object = backend.get(k).await.unwrap();
    let mut out = Vec::new();
    object.body.read_to_end(&mut out).await.unwrap();
    assert_eq!(
        out.len() as u64,
        object.meta.size,
        "get announced a different size for {k}"
    );
    out
}

async fn keys_under(backend: &dyn StorageBackend, prefix: &str) -> Vec<String> {
    let prefix = ObjectKey::prefix(prefix).unwrap();
    backend
        .list(&prefix)
        .map_ok(|m| m.key.to_string())
        .try_collect()
        .await
        .unwrap()
}

async fn sizes_round_trip(f: &dyn Factory) {
    let backend = f.make("sizes").await;
    for (i, size) in [0, 1, 5 * MIB - 1, 5 * MIB, 64 * MIB + 1].into_iter().enumerate() {
        let data = random_bytes(size, i as u64);
        let digest = Sha256Digest::of(&data);
        let k = key(&format!("packages/object-{size}.bin"));
        // Alternate between a caller-supplied digest and one the backend computes while streaming.
        let opts = PutOptions {
            sha256: (i % 2 == 0).then_some(digest),
            ..PutOptions::package(None)
        };
        let put = backend.put_bytes(&k, &data, &opts).await.unwrap();
        assert_eq!(
            (put.size, put.sha256),
            (size as u64, Some(digest)),
            "put of {size} bytes"
        );
        let confirms = f.put_confirms(size, opts.sha256.is_some());
        assert_eq!(
            put.confirms(size as u64, &digest),
            confirms,
            "put of {size} bytes"
        );
        let expected = if confirms {
            Confirmation::StoredAsSent
        } else {
            Confirmation::Reported
        };
        assert_eq!(put.confirmation, expected, "put of {size} bytes");
        let head = backend.head(&k).await.unwrap().expect("object exists after put");
        assert_eq!(
            (head.size, head.sha256, head.confirmation),
            (size as u64, Some(digest), Confirmation::Reported),
            "head of {size} bytes"
        );
        let back = read_all(&*backend, &k).await;
        assert!(back == data, "{size} bytes came back different");
    }
    assert!(f.no_leftovers("sizes").await.is_empty());
}

async fn missing_objects(f: &dyn Factory) {
    let backend = f.make("missing").await;
    let k = key("packages/absent.hpkg");
    assert_eq!(backend.head(&k).await.unwrap(), None);
    let err = backend.get(&k).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains("packages/absent.hpkg"),
        "error names the key: {err}"
    );
    assert!(
        keys_under(&*backend, "").await.is_empty(),
        "an empty store lists nothing"
    );
    assert!(keys_under(&*backend, "packages/").await.is_empty());
}

async fn listing_pages(f: &dyn Factory) {
    let backend = f.make("listing").await;
    const COUNT: usize = 1_105;
    futures::stream::iter(0..COUNT)
        .map(|i| {
            let backend = backend.clone();
            async move {
                let k = key(&format!("packages/p{i:05}.hpkg"));
                backend
                    .put_bytes(&k, format!("{i}").as_bytes(), &PutOptions::default())
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    backend
        .put_bytes(
            &key("repo"),
            b"index",
            &PutOptions::index("application/octet-stream"),
        )
        .await
        .unwrap();
    let listed = keys_under(&*backend, "packages/").await;
    let expected: Vec<String> = (0..COUNT).map(|i| format!("packages/p{i:05}.hpkg")).collect();
    assert_eq!(
        listed, expected,
        "listing is complete, in key order, and only under the prefix"
    );
    let all = keys_under(&*backend, "").await;
    assert_eq!(all.len(), COUNT + 1);
    assert_eq!(keys_under(&*backend, "packages/p0100").await.len(), 10);
}

async fn prefixes_are_isolated(f: &dyn Factory) {
    // "tenant" and "tenant-b" share a string prefix; joined with exactly one '/', they must not see each
    // other's objects.
    let a = f.make("tenant").await;
    let b = f.make("tenant-b").await;
    let k = key("repo");
    a.put_bytes(&k, b"from a", &PutOptions::default()).await.unwrap();
    b.put_bytes(&k, b"from b", &PutOptions::default()).await.unwrap();
    assert_eq!(read_all(&*a, &k).await, b"from a");
    assert_eq!(read_all(&*b, &k).await, b"from b");
    assert_eq!(keys_under(&*a, "").await, vec!["repo"]);
    a.delete(&k).await.unwrap();
    assert_eq!(a.head(&k).await.unwrap(), None);
    assert_eq!(read_all(&*b, &k).await, b"from b");
}

async fn copy_keeps_content_and_digest(f: &dyn Factory) {
    let backend = f.make("copy").await;
    let data = random_bytes(300_000, 7);
    let from = key("packages/a-1.0-1-x86_64.hpkg");
    let to = key("packages/.obsolete/a-1.0-1-x86_64.hpkg");
    backend
        .put_bytes(&from, &data, &PutOptions::package(None))
        .await
        .unwrap();
    let copied = backend.copy(&from, &to).await.unwrap();
    assert_eq!(
        (copied.size, copied.sha256),
        (data.len() as u64, Some(Sha256Digest::of(&data)))
    );
    let head = backend.head(&to).await.unwrap().unwrap();
    assert_eq!(
        head.sha256,
        Some(Sha256Digest::of(&data)),
        "the copy carries the recorded digest"
    );
    assert_eq!(read_all(&*backend, &to).await, data);
    assert_eq!(read_all(&*backend, &from).await, data, "the source is untouched");
    let err = backend.copy(&key("packages/absent"), &to).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
}

/// `copy_from` between two backends of one kind (for S3, two prefixes of one bucket: the server-side
/// path) keeps bytes, digest and content headers, and a missing source is `NotFound` naming both.
async fn copy_from_another_backend(f: &dyn Factory) {
    let staging = f.make("copy-from-staging").await;
    let served = f.make("copy-from-served").await;
    let data = random_bytes(300_000, 8);
    let k = key("packages/a-1.0-1-x86_64.hpkg");
    staging
        .put_bytes(&k, &data, &PutOptions::package(None))
        .await
        .unwrap();
    let copied = served.copy_from(&*staging, &k, &k).await.unwrap();
    assert_eq!(
        (copied.size, copied.sha256),
        (data.len() as u64, Some(Sha256Digest::of(&data)))
    );
    let head = served.head(&k).await.unwrap().unwrap();
    assert_eq!(head.sha256, Some(Sha256Digest::of(&data)));
    let mut object = served.get(&k).await.unwrap();
    let package = PutOptions::package(None);
    assert_eq!(object.headers.content_type, package.content_type);
    assert_eq!(object.headers.cache_control, package.cache_control);
    let mut back = Vec::new();
    object.body.read_to_end(&mut back).await.unwrap();
    assert!(back == data);
    assert_eq!(read_all(&*staging, &k).await, data, "the source is untouched");

    // A promotion run again (after a crash, say) and a copy onto itself succeed and leave nothing behind.
    let again = served.copy_from(&*staging, &k, &k).await.unwrap();
    let onto_itself = staging.copy_from(&*staging, &k, &k).await.unwrap();
    assert_eq!(again.sha256, Some(Sha256Digest::of(&data)));
    assert_eq!(onto_itself.sha256, Some(Sha256Digest::of(&data)));
    assert_eq!(read_all(&*served, &k).await, data);
    assert_eq!(read_all(&*staging, &k).await, data);
    for prefix in ["copy-from-staging", "copy-from-served"] {
        assert_eq!(f.no_leftovers(prefix).await, Vec::<String>::new(), "{prefix}");
    }

    let err = served
        .copy_from(&*staging, &key("packages/absent"), &k)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&staging.describe()) && text.contains(&served.describe()),
        "{text}"
    );
}

async fn delete_is_idempotent(f: &dyn Factory) {
    let backend = f.make("delete").await;
    let k = key("packages/gone.hpkg");
    backend
        .put_bytes(&k, b"bytes", &PutOptions::default())
        .await
        .unwrap();
    backend.delete(&k).await.unwrap();
    assert_eq!(backend.head(&k).await.unwrap(), None);
    backend.delete(&k).await.unwrap();
    assert!(keys_under(&*backend, "").await.is_empty());
}

fn assert_bad_body(result: Result<buildmaster_storage::ObjectMeta, StorageError>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.kind, ErrorKind::BadBody, "{what}: {err}");
}

async fn bad_bodies_leave_nothing(f: &dyn Factory) {
    let backend = f.make("badbody").await;
    for size in [100usize, 12 * MIB] {
        let data = random_bytes(size, 3);
        let k = key(&format!("packages/short-{size}"));
        let mut short = &data[..size / 2];
        assert_bad_body(
            backend
                .put(&k, &mut short, size as u64, &PutOptions::default())
                .await,
            "short body",
        );
        let mut long = &data[..];
        let declared = (size - 1) as u64;
        assert_bad_body(
            backend.put(&k, &mut long, declared, &PutOptions::default()).await,
            "long body",
        );
        let wrong = PutOptions {
            sha256: Some(Sha256Digest::of(b"other")),
            ..PutOptions::default()
        };
        assert_bad_body(backend.put_bytes(&k, &data, &wrong).await, "wrong digest");
        assert_eq!(
            backend.head(&k).await.unwrap(),
            None,
            "no object after a failed put of {size} bytes"
        );
    }
    assert!(keys_under(&*backend, "").await.is_empty());
    assert_eq!(f.no_leftovers("badbody").await, Vec::<String>::new());
}

/// A body that yields `ready` bytes and then never completes: the upload is stuck until cancelled.
struct StallingBody {
    data: Vec<u8>,
    pos: usize,
}

impl AsyncRead for StallingBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos >= self.data.len() {
            return Poll::Pending;
        }
        let n = buf.remaining().min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

async fn cancelled_upload_leaves_nothing(f: &dyn Factory) {
    let backend = f.make("cancel").await;
    for (size, ready) in [(1000usize, 10usize), (40 * MIB, 17 * MIB)] {
        let k = key(&format!("packages/cancelled-{size}"));
        let mut body = StallingBody {
            data: random_bytes(ready, 5),
            pos: 0,
        };
        let opts = PutOptions::default();
        let put = backend.put(&k, &mut body, size as u64, &opts);
        assert!(
            tokio::time::timeout(Duration::from_secs(3), put).await.is_err(),
            "the put stalls"
        );
        // Cleanup of a dropped upload may run in the background; give it a moment.
        let mut leftovers = Vec::new();
        for _ in 0..50 {
            leftovers = f.no_leftovers("cancel").await;
            if leftovers.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            leftovers,
            Vec::<String>::new(),
            "a cancelled {size}-byte upload left something behind"
        );
        assert_eq!(backend.head(&k).await.unwrap(), None);
    }
}

macro_rules! conformance {
    ($module:ident, $factory:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sizes() {
                sizes_round_trip(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn missing() {
                missing_objects(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn listing_more_than_a_page() {
                listing_pages(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn isolated_prefixes() {
                prefixes_are_isolated(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn copy() {
                copy_keeps_content_and_digest(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn copy_from() {
                copy_from_another_backend(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn delete_twice() {
                delete_is_idempotent(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_bodies() {
                bad_bodies_leave_nothing(&$factory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cancelled_upload() {
                cancelled_upload_leaves_nothing(&$factory).await;
            }
        }
    };
}

conformance!(fs, Fs(tempfile::tempdir().unwrap()));
conformance!(s3, S3);
