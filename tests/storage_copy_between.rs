//! `StorageBackend::copy_from`: promoting an object from a staging store into the served one.
//!
//! - Two buckets of one garage: a 20 MB object in a staging bucket without website access is copied into
//!   the served bucket with one CopyObject (or UploadPartCopy parts above the copy limit), zero
//!   PutObject/UploadPart (garage's own request counters), the same SHA-256 by `head` and by a GET of the
//!   served copy; the web endpoint refuses the staging key until website access is given to that bucket.
//! - Backends that cannot reach each other (another endpoint, fs and S3) stream, keep the digest and the
//!   content headers, and refuse a source whose bytes no longer match its recorded SHA-256.
//! - Two directories: a hard link, also through the daemon's metering wrapper.

mod support;

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use buildmaster::server::metered_storage::MeteredStorage;
use buildmaster::server::metrics::Metrics;
use buildmaster_storage::{CacheControl, ErrorKind, ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use buildmaster_storage_fs::FsBackend;
use buildmaster_storage_s3::S3Backend;
use support::garage::Garage;
use tokio::io::AsyncReadExt;

/// Size of the promoted object: above the test settings' multipart threshold (8 MiB), so the staging
/// upload is multipart and a streamed copy would show UploadPart requests.
const OBJECT_BYTES: usize = 20_000_000;
/// The staging bucket's name (its global alias, which is what the web endpoint's Host header selects).
const STAGING_BUCKET: &str = "staging";

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text).unwrap()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}

/// The object's bytes and content headers, read back through `get`.
async fn read_back(backend: &dyn StorageBackend, k: &ObjectKey) -> (Vec<u8>, Option<String>, CacheControl) {
    let mut object = backend.get(k).await.unwrap();
    let mut bytes = Vec::new();
    object.body.read_to_end(&mut bytes).await.unwrap();
    (bytes, object.headers.content_type, object.headers.cache_control)
}

/// S3 requests that write object bytes or copy them, as garage counts them.
#[derive(Debug, PartialEq, Eq)]
struct Writes {
    put_object: u64,
    upload_part: u64,
    copy_object: u64,
    upload_part_copy: u64,
}

impl Writes {
    fn now(garage: &Garage) -> Self {
        Self {
            put_object: garage.s3_requests("PutObject"),
            upload_part: garage.s3_requests("UploadPart"),
            copy_object: garage.s3_requests("CopyObject"),
            upload_part_copy: garage.s3_requests("UploadPartCopy"),
        }
    }

    fn since(garage: &Garage, before: &Self) -> Self {
        let now = Self::now(garage);
        Self {
            put_object: now.put_object - before.put_object,
            upload_part: now.upload_part - before.upload_part,
            copy_object: now.copy_object - before.copy_object,
            upload_part_copy: now.upload_part_copy - before.upload_part_copy,
        }
    }
}

/// A staging bucket and the served `packages` bucket on a garage of the test's own (its request counters
/// must see only this test's requests), with a 20 MB package staged under `promote/`.
struct TwoBuckets {
    garage: Garage,
    staging: Arc<dyn StorageBackend>,
    data: Vec<u8>,
    key: ObjectKey,
}

impl TwoBuckets {
    async fn new(seed: u64) -> Self {
        let garage = Garage::start();
        garage.create_private_bucket(STAGING_BUCKET);
        let staging = S3Backend::new(&garage.s3_settings_in(STAGING_BUCKET, "promote"))
            .await
            .unwrap();
        let data = random_bytes(OBJECT_BYTES, seed);
        let key = key("packages/big-1.0-1-x86_64.hpkg");
        staging
            .put_bytes(&key, &data, &PutOptions::package(None))
            .await
            .unwrap();
        Self {
            garage,
            staging: Arc::new(staging),
            data,
            key,
        }
    }

    /// Checks the served copy: digest by `head` equal to the staged one's and to the bytes', the same
    /// bytes and content headers by `get`, and by an anonymous GET of the web endpoint.
    async fn check_served_copy(&self, served: &dyn StorageBackend) {
        let digest = Sha256Digest::of(&self.data);
        let staged = self.staging.head(&self.key).await.unwrap().unwrap();
        let copied = served.head(&self.key).await.unwrap().expect("the copy exists");
        assert_eq!(staged.sha256, Some(digest));
        assert_eq!(
            (copied.size, copied.sha256),
            (OBJECT_BYTES as u64, Some(digest)),
            "head of the copy returns the staged object's SHA-256"
        );
        let (bytes, content_type, cache_control) = read_back(served, &self.key).await;
        assert!(
            Sha256Digest::of(&bytes) == digest,
            "GET of the copy hashes differently"
        );
        assert_eq!(content_type.as_deref(), Some("application/x-vnd.haiku-package"));
        assert_eq!(cache_control, CacheControl::Immutable);
        let (status, body) = self
            .garage
            .web_get("localhost", &format!("/promote/{}", self.key));
        assert_eq!(status, 200, "the served bucket serves the copy");
        assert!(
            Sha256Digest::of(&body) == digest,
            "the web endpoint serves other bytes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_bucket_is_promoted_with_one_copy_object_and_is_never_served() {
    let two = TwoBuckets::new(1).await;
    let served = S3Backend::new(&two.garage.s3_settings("promote")).await.unwrap();
    let path = format!("/promote/{}", two.key);
    let (status, _) = two.garage.web_get(STAGING_BUCKET, &path);
    assert!(
        status == 404 || status == 403,
        "a staging bucket without website access must not be served (HTTP {status})"
    );

    let before = Writes::now(&two.garage);
    let meta = served.copy_from(&*two.staging, &two.key, &two.key).await.unwrap();
    let writes = Writes::since(&two.garage, &before);
    assert_eq!(
        writes,
        Writes {
            put_object: 0,
            upload_part: 0,
            copy_object: 1,
            upload_part_copy: 0
        },
        "promotion is one server-side CopyObject, no upload"
    );
    assert_eq!(meta.sha256, Some(Sha256Digest::of(&two.data)));
    two.check_served_copy(&served).await;

    // The control: the same request reaches the staging bucket once it is given website access, so
    // the refusal above came from the bucket's setting, not from a wrong request.
    two.garage.allow_website(STAGING_BUCKET);
    let (status, body) = two.garage.web_get(STAGING_BUCKET, &path);
    assert_eq!(status, 200, "with website access the staging key is served");
    assert!(body == two.data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_above_the_copy_limit_are_promoted_part_by_part() {
    let two = TwoBuckets::new(2).await;
    // An 8 MiB CopyObject limit stands in for S3's 5 GiB: the 20 MB object takes 3 UploadPartCopy parts.
    let served = S3Backend::new(&two.garage.s3_settings("promote"))
        .await
        .unwrap()
        .with_max_copy_object_size_for_tests(8 << 20);
    let before = Writes::now(&two.garage);
    served.copy_from(&*two.staging, &two.key, &two.key).await.unwrap();
    assert_eq!(
        Writes::since(&two.garage, &before),
        Writes {
            put_object: 0,
            upload_part: 0,
            copy_object: 0,
            upload_part_copy: 3
        },
        "a multipart copy reads the staging bucket server-side"
    );
    two.check_served_copy(&served).await;
    assert!(
        two.garage
            .unfinished_multipart_uploads("promote/")
            .await
            .is_empty(),
        "the multipart copy was completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_service_identity_streams_and_keeps_the_digest() {
    let two = TwoBuckets::new(3).await;
    // The same server under another endpoint name is, as far as the backend can tell, another service:
    // it must not send a CopyObject its credentials might not be able to serve, and streams instead.
    let mut settings = two.garage.s3_settings("promote");
    settings.endpoint_url = Some(two.garage.s3_endpoint().replace("127.0.0.1", "localhost"));
    let served = S3Backend::new(&settings).await.unwrap();
    let before = Writes::now(&two.garage);
    served.copy_from(&*two.staging, &two.key, &two.key).await.unwrap();
    let writes = Writes::since(&two.garage, &before);
    assert_eq!(
        (writes.copy_object, writes.upload_part_copy, writes.put_object),
        (0, 0, 0)
    );
    assert_eq!(
        writes.upload_part, 4,
        "20 MB streamed as a multipart upload of 5 MiB parts (its digest known up front)"
    );
    two.check_served_copy(&served).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_to_fs_is_a_hard_link_also_behind_the_metering_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let staging_root = dir.path().join("staging");
    let served_root = dir.path().join("served");
    let metrics = Metrics::new();
    let staging = MeteredStorage::new(Arc::new(FsBackend::new(&staging_root).unwrap()), metrics.clone());
    let served = MeteredStorage::new(Arc::new(FsBackend::new(&served_root).unwrap()), metrics.clone());
    let data = random_bytes(3_000_000, 4);
    let k = key("packages/a-1.0-1-x86_64.hpkg");
    staging
        .put_bytes(&k, &data, &PutOptions::package(None))
        .await
        .unwrap();
    let uploaded = metrics.encode();

    let meta = served.copy_from(&staging, &k, &k).await.unwrap();
    assert_eq!(meta.sha256, Some(Sha256Digest::of(&data)));
    let inode = |root: &std::path::Path| std::fs::metadata(root.join(k.as_str())).unwrap().ino();
    assert_eq!(
        inode(&staging_root),
        inode(&served_root),
        "the promoted file is the staged file, linked"
    );
    assert_eq!(
        metrics.encode(),
        uploaded,
        "nothing crossed the metering wrapper: the copy did not stream"
    );
    let head = served.head(&k).await.unwrap().unwrap();
    assert_eq!(head.sha256, Some(Sha256Digest::of(&data)));
    let (bytes, content_type, cache_control) = read_back(&served, &k).await;
    assert!(bytes == data);
    assert_eq!(content_type.as_deref(), Some("application/x-vnd.haiku-package"));
    assert_eq!(cache_control, CacheControl::Immutable);

    // Deleting the staged file leaves the promoted one whole.
    staging.delete(&k).await.unwrap();
    assert!(read_back(&served, &k).await.0 == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_and_s3_stream_both_ways_keeping_digest_and_headers() {
    let garage = Garage::shared();
    let prefix = format!("copy-between-{:016x}", fastrand::u64(..));
    let s3: Arc<dyn StorageBackend> = Arc::new(S3Backend::new(&garage.s3_settings(&prefix)).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn StorageBackend> = Arc::new(FsBackend::new(dir.path().join("fs")).unwrap());
    let data = random_bytes(OBJECT_BYTES, 5);
    let digest = Sha256Digest::of(&data);
    let staged = key("packages/b-1.0-1-x86_64.hpkg");
    fs.put_bytes(&staged, &data, &PutOptions::package(None))
        .await
        .unwrap();

    let promoted = key("packages/b-promoted.hpkg");
    let meta = s3.copy_from(&*fs, &staged, &promoted).await.unwrap();
    assert_eq!(meta.sha256, Some(digest));
    assert_eq!(s3.head(&promoted).await.unwrap().unwrap().sha256, Some(digest));
    let (bytes, content_type, cache_control) = read_back(&*s3, &promoted).await;
    assert!(bytes == data, "fs → S3 copied other bytes");
    assert_eq!(content_type.as_deref(), Some("application/x-vnd.haiku-package"));
    assert_eq!(cache_control, CacheControl::Immutable);

    let back = key("packages/b-back.hpkg");
    fs.copy_from(&*s3, &promoted, &back).await.unwrap();
    assert_eq!(fs.head(&back).await.unwrap().unwrap().sha256, Some(digest));
    let (bytes, content_type, cache_control) = read_back(&*fs, &back).await;
    assert!(bytes == data, "S3 → fs copied other bytes");
    assert_eq!(content_type.as_deref(), Some("application/x-vnd.haiku-package"));
    assert_eq!(cache_control, CacheControl::Immutable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_no_longer_matches_its_digest_is_not_promoted() {
    let garage = Garage::shared();
    let prefix = format!("copy-between-{:016x}", fastrand::u64(..));
    let s3 = S3Backend::new(&garage.s3_settings(&prefix)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fs = FsBackend::new(dir.path()).unwrap();
    let k = key("packages/c-1.0-1-x86_64.hpkg");
    let data = random_bytes(1_000_000, 6);
    fs.put_bytes(&k, &data, &PutOptions::package(None)).await.unwrap();
    // Bit rot: same file (inode), same size, other bytes; the recorded SHA-256 still claims the old ones.
    let path = dir.path().join(k.as_str());
    let mut rotten = std::fs::read(&path).unwrap();
    rotten[500_000] ^= 0xff;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &rotten))
        .unwrap();
    assert_eq!(
        fs.head(&k).await.unwrap().unwrap().sha256,
        Some(Sha256Digest::of(&data))
    );

    let err = s3.copy_from(&fs, &k, &k).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadBody, "{err}");
    assert_eq!(s3.head(&k).await.unwrap(), None, "nothing is stored");

    let err = s3.copy_from(&fs, &key("packages/absent"), &k).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&fs.describe()) && text.contains(&s3.describe()),
        "the error names both locations: {text}"
    );
    assert!(!text.contains(garage.secret_key()), "{text}");
}
