//! S3-specific behaviour of the S3 backend against a real garage server on 127.0.0.1: what the shared
//! conformance suite (`tests/storage_conformance.rs`) cannot see through the trait — multipart uploads
//! left on the server, the raw headers and metadata stored, ListObjectsV2 paging, errors for a wrong
//! bucket or key, an outage in the middle of an upload, and ranged downloads of a replaced object.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster_storage::{ErrorKind, ObjectKey, PutOptions, Sha256Digest, StorageBackend, StorageError};
use buildmaster_storage_s3::{S3Backend, S3Settings, Secret, UPLOADS_DIR};
use futures::{stream, StreamExt, TryStreamExt};
use support::garage::Garage;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;
/// How long a spawned abort may take to reach the server after a cancellation.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}

/// A unique prefix per test run, so reruns against a reused server never see old objects.
fn unique(name: &str) -> String {
    format!("s3-backend/{name}-{:016x}", fastrand::u64(..))
}

async fn backend(garage: &Garage, prefix: &str) -> S3Backend {
    S3Backend::new(&garage.s3_settings(prefix)).await.unwrap()
}

async fn wait_until_no_uploads(garage: &Garage, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + CLEANUP_TIMEOUT;
    loop {
        let left = garage.unfinished_multipart_uploads(prefix).await;
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn multipart_upload_is_aborted_when_the_body_fails() {
    let garage = Garage::shared();
    let prefix = unique("abort-error");
    let backend = backend(garage, &prefix).await;
    let data = random_bytes(12 * MIB, 1);

    // Body shorter than declared: two parts go up, then the reader fails.
    let mut body: &[u8] = &data;
    let err = backend
        .put(&key("short"), &mut body, 20 * MIB as u64, &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadBody, "{err}");

    // Declared digest wrong: everything is uploaded, then the upload must not be completed.
    let mut body: &[u8] = &data;
    let wrong = PutOptions::package(Some(Sha256Digest::of(b"something else")));
    let err = backend
        .put(&key("wrong-digest"), &mut body, data.len() as u64, &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadBody, "{err}");

    // The error path awaits its cleanup: nothing is left, immediately.
    assert_eq!(
        garage.unfinished_multipart_uploads(&prefix).await,
        Vec::<String>::new()
    );
    assert_eq!(garage.raw_keys(&prefix).await, Vec::<String>::new());
    assert!(backend.head(&key("short")).await.unwrap().is_none());
    assert!(backend.head(&key("wrong-digest")).await.unwrap().is_none());
}

/// Yields `ready` bytes, then never completes: an upload stuck mid-body until it is cancelled.
fn stalled_body(ready: usize) -> impl AsyncRead + Send + Unpin {
    let (mut writer, reader) = tokio::io::duplex(MIB);
    tokio::spawn(async move {
        // The upload may be cancelled before it read everything; a closed pipe then is expected.
        if writer.write_all(&random_bytes(ready, 2)).await.is_err() {
            return;
        }
        // Keep the writer open forever: the reader waits for more.
        std::future::pending::<()>().await;
    });
    reader
}

#[tokio::test]
async fn cancelled_multipart_upload_is_aborted_on_the_server() {
    let garage = Garage::shared();
    let prefix = unique("abort-cancel");
    let backend = Arc::new(backend(garage, &prefix).await);
    for (name, opts) in [
        ("with-digest", PutOptions::package(Some(Sha256Digest::of(b"x")))),
        ("without-digest", PutOptions::default()),
    ] {
        let task = {
            let backend = backend.clone();
            tokio::spawn(async move {
                let mut body = stalled_body(11 * MIB);
                backend.put(&key(name), &mut body, 30 * MIB as u64, &opts).await
            })
        };
        // The upload really is under way on the server before we cancel it.
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        while garage.unfinished_multipart_uploads(&prefix).await.is_empty() {
            assert!(Instant::now() < deadline, "{name}: no multipart upload appeared");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert_eq!(
            wait_until_no_uploads(garage, &prefix).await,
            Vec::<String>::new(),
            "{name}"
        );
    }
    assert_eq!(garage.raw_keys(&prefix).await, Vec::<String>::new());
}

#[tokio::test]
async fn digest_content_type_and_cache_control_are_stored_as_headers() {
    let garage = Garage::shared();
    let prefix = unique("headers");
    let backend = backend(garage, &prefix).await;
    let big = random_bytes(17 * MIB + 3, 3);
    let digest = Sha256Digest::of(&big);
    // Multipart with the digest known up front, multipart without (temporary + copy), single PUT.
    let cases = [
        ("packages/known.hpkg", PutOptions::package(Some(digest)), &big[..]),
        ("packages/unknown.hpkg", PutOptions::package(None), &big[..]),
        ("repo.info", PutOptions::index("text/plain"), &b"name Haiku\n"[..]),
        ("plain", PutOptions::default(), &b"x"[..]),
    ];
    for (k, opts, data) in &cases {
        let mut body: &[u8] = data;
        let meta = backend
            .put(&key(k), &mut body, data.len() as u64, opts)
            .await
            .unwrap();
        assert_eq!(meta.sha256, Some(Sha256Digest::of(data)), "{k}");

        let raw = garage
            .sdk_client()
            .head_object()
            .bucket(garage.bucket())
            .key(format!("{prefix}/{k}"))
            .send()
            .await
            .unwrap();
        let stored = raw.metadata().and_then(|m| m.get("sha256")).cloned();
        assert_eq!(
            stored,
            Some(Sha256Digest::of(data).to_hex()),
            "{k}: x-amz-meta-sha256"
        );
        assert_eq!(raw.content_length(), Some(data.len() as i64), "{k}");
        let content_type = opts.content_type.as_deref().unwrap_or("application/octet-stream");
        assert_eq!(raw.content_type(), Some(content_type), "{k}");
        assert_eq!(raw.cache_control(), opts.cache_control.header(), "{k}");

        let head = backend.head(&key(k)).await.unwrap().unwrap();
        assert_eq!(
            (head.size, head.sha256),
            (data.len() as u64, Some(Sha256Digest::of(data)))
        );
    }
    // The temporary of the digest-less multipart upload is gone.
    let temporaries = garage.raw_keys(&format!("{prefix}/{UPLOADS_DIR}")).await;
    assert_eq!(temporaries, Vec::<String>::new());
    assert_eq!(
        garage.unfinished_multipart_uploads(&prefix).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn listing_follows_continuation_tokens_past_1000_keys() {
    let garage = Garage::shared();
    let prefix = unique("paging");
    let backend = backend(garage, &prefix).await;
    const COUNT: usize = 1_234;
    let names: Vec<String> = (0..COUNT).map(|i| format!("packages/p{i:05}.hpkg")).collect();
    stream::iter(names.iter())
        .map(|name| {
            let backend = &backend;
            async move {
                backend
                    .put_bytes(&key(name), name.as_bytes(), &PutOptions::default())
                    .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    backend
        .put_bytes(&key("repo"), b"r", &PutOptions::default())
        .await
        .unwrap();

    let listed: Vec<_> = backend
        .list(&ObjectKey::prefix("packages/").unwrap())
        .try_collect()
        .await
        .unwrap();
    let listed_names: Vec<&str> = listed.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(listed_names, names, "all keys, relative to the prefix, in order");
    assert!(listed.iter().all(|m| m.size > 0 && m.modified.is_some()));

    let everything: Vec<_> = backend.list(&ObjectKey::root()).try_collect().await.unwrap();
    assert_eq!(everything.len(), COUNT + 1);
    assert_eq!(everything.last().unwrap().key.as_str(), "repo");
}

#[tokio::test]
async fn listing_an_empty_prefix_is_an_empty_answer() {
    let garage = Garage::shared();
    let backend = backend(garage, &unique("empty")).await;
    let listed: Vec<_> = backend.list(&ObjectKey::root()).try_collect().await.unwrap();
    assert!(listed.is_empty());
    let listed: Vec<_> = backend
        .list(&ObjectKey::prefix("packages/").unwrap())
        .try_collect()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

fn assert_clear_permanent(err: &StorageError, bucket: &str, secret: &str) {
    let text = err.to_string();
    assert_eq!(err.kind, ErrorKind::Permanent, "{text}");
    assert!(text.contains(bucket), "the error should name the bucket: {text}");
    assert!(!text.contains(secret), "the error leaks the secret: {text}");
    assert!(
        !format!("{err:?}").contains(secret),
        "the error's Debug leaks the secret"
    );
}

#[tokio::test]
async fn wrong_bucket_or_credentials_are_clear_permanent_errors() {
    let garage = Garage::shared();
    let prefix = unique("misconfigured");

    let mut settings = garage.s3_settings(&prefix);
    settings.bucket_name = "no-such-bucket-here".into();
    let backend = S3Backend::new(&settings).await.unwrap();
    let err = backend
        .put_bytes(&key("a"), b"a", &PutOptions::default())
        .await
        .unwrap_err();
    assert_clear_permanent(&err, "no-such-bucket-here", garage.secret_key());
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = backend
        .list(&ObjectKey::root())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_clear_permanent(&err, "no-such-bucket-here", garage.secret_key());
    let err = backend.check_access().await.unwrap_err();
    assert_clear_permanent(&err, "no-such-bucket-here", garage.secret_key());

    const WRONG_SECRET: &str = "ffffeeeeddddccccbbbbaaaa99998888777766665555444433332222111100ff";
    let mut settings = garage.s3_settings(&prefix);
    settings.secret_access_key = Some(Secret::new(WRONG_SECRET));
    let backend = S3Backend::new(&settings).await.unwrap();
    let err = backend
        .put_bytes(&key("a"), b"a", &PutOptions::default())
        .await
        .unwrap_err();
    assert_clear_permanent(&err, garage.bucket(), WRONG_SECRET);
    assert!(err.to_string().contains("denied"), "{err}");
    let err = backend.get(&key("a")).await.unwrap_err();
    assert_clear_permanent(&err, garage.bucket(), WRONG_SECRET);

    let mut settings = garage.s3_settings(&prefix);
    settings.access_key_id = Some("GK000000000000000000000000".into());
    let backend = S3Backend::new(&settings).await.unwrap();
    let err = backend.check_access().await.unwrap_err();
    assert_clear_permanent(&err, garage.bucket(), garage.secret_key());
    eprintln!("unknown access key: {err}");
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    let garage = Garage::shared();
    let mut settings: S3Settings = garage.s3_settings(&unique("unreachable"));
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    settings.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
    settings.max_attempts = 1;
    let backend = S3Backend::new(&settings).await.unwrap();
    let err = backend.head(&key("a")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_outage_mid_upload_never_leaves_a_corrupt_object() {
    let garage = Arc::new(Garage::start());
    let prefix = unique("outage");
    let backend = backend(&garage, &prefix).await;
    let data = random_bytes(40 * MIB + 5, 4);
    let digest = Sha256Digest::of(&data);

    for (name, opts) in [
        ("with-digest", PutOptions::package(Some(digest))),
        ("without-digest", PutOptions::package(None)),
    ] {
        // The body trickles in (1 MiB every 25 ms, ~1 s in all) so the outage lands mid-upload.
        let (mut writer, mut reader) = tokio::io::duplex(MIB);
        let feeder = {
            let data = data.clone();
            tokio::spawn(async move {
                for chunk in data.chunks(MIB) {
                    if writer.write_all(chunk).await.is_err() {
                        return; // the upload gave up
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            })
        };
        let outage = {
            let garage = garage.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                tokio::task::spawn_blocking(move || {
                    garage.stop();
                    let stopped = Instant::now();
                    std::thread::sleep(Duration::from_millis(500));
                    garage.restart();
                    stopped
                })
                .await
                .unwrap()
            })
        };
        let result = backend
            .put(&key(name), &mut reader, data.len() as u64, &opts)
            .await;
        let returned = Instant::now();
        let stopped = outage.await.unwrap();
        feeder.abort();
        assert!(
            stopped < returned,
            "{name}: the outage must hit the upload while it runs"
        );

        match &result {
            Ok(meta) => assert_eq!(meta.sha256, Some(digest), "{name}"),
            Err(err) => {
                let text = err.to_string();
                assert!(
                    text.contains(garage.bucket()) && text.contains("put"),
                    "{name}: unclear: {text}"
                );
                eprintln!("{name}: upload failed during the outage (allowed): {text}");
            }
        }
        // Whatever happened, the key holds either nothing or exactly the data.
        match backend.head(&key(name)).await.unwrap() {
            None => assert!(result.is_err(), "{name}: put succeeded but the object is missing"),
            Some(meta) => {
                assert_eq!(
                    (meta.size, meta.sha256),
                    (data.len() as u64, Some(digest)),
                    "{name}"
                );
                let mut got = Vec::new();
                backend
                    .get(&key(name))
                    .await
                    .unwrap()
                    .body
                    .read_to_end(&mut got)
                    .await
                    .unwrap();
                assert!(got == data, "{name}: stored bytes differ from the upload");
            }
        }
        assert_eq!(
            wait_until_no_uploads(&garage, &prefix).await,
            Vec::<String>::new(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn ranged_download_fails_rather_than_splicing_a_replaced_object() {
    let garage = Garage::shared();
    let prefix = unique("ranged");
    let backend = backend(garage, &prefix).await;
    let first = random_bytes(23 * MIB + 7, 5);
    backend
        .put_bytes(&key("obj"), &first, &PutOptions::default())
        .await
        .unwrap();

    // An untouched ranged download (5 MiB ranges, 2 in flight) returns exactly the object.
    let mut reader = backend.get(&key("obj")).await.unwrap();
    assert_eq!(reader.meta.size, first.len() as u64);
    assert_eq!(reader.meta.sha256, Some(Sha256Digest::of(&first)));
    let mut got = Vec::new();
    reader.body.read_to_end(&mut got).await.unwrap();
    assert!(got == first, "ranged download differs from the object");

    // Replace the object after the download started: the later ranges must fail, not mix versions.
    let mut reader = backend.get(&key("obj")).await.unwrap();
    let second = random_bytes(first.len(), 6);
    backend
        .put_bytes(&key("obj"), &second, &PutOptions::default())
        .await
        .unwrap();
    let mut got = Vec::new();
    let err = reader.body.read_to_end(&mut got).await.unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
}

#[tokio::test]
async fn objects_over_the_copy_object_limit_are_copied_part_by_part() {
    let garage = Garage::shared();
    let prefix = unique("multipart-copy");
    // Pretend CopyObject stops at 6 MiB (it stops at 5 GiB): a 13 MiB object then takes the
    // UploadPartCopy path, in three parts, both when `put` moves its temporary into place and in `copy`.
    let backend = backend(garage, &prefix)
        .await
        .with_max_copy_object_size_for_tests(6 * MIB as u64);
    let data = random_bytes(13 * MIB + 1, 7);
    let digest = Sha256Digest::of(&data);
    let meta = backend
        .put_bytes(&key("packages/big.hpkg"), &data, &PutOptions::package(None))
        .await
        .unwrap();
    assert_eq!(meta.sha256, Some(digest));
    let copied = backend
        .copy(&key("packages/big.hpkg"), &key("other/big.hpkg"))
        .await
        .unwrap();
    assert_eq!((copied.size, copied.sha256), (data.len() as u64, Some(digest)));

    for k in ["packages/big.hpkg", "other/big.hpkg"] {
        let raw = garage
            .sdk_client()
            .head_object()
            .bucket(garage.bucket())
            .key(format!("{prefix}/{k}"))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.content_type(), Some("application/x-vnd.haiku-package"), "{k}");
        assert_eq!(
            raw.cache_control(),
            PutOptions::package(None).cache_control.header(),
            "{k}"
        );
        assert_eq!(
            raw.metadata().and_then(|m| m.get("sha256")),
            Some(&digest.to_hex()),
            "{k}"
        );
        let mut got = Vec::new();
        backend
            .get(&key(k))
            .await
            .unwrap()
            .body
            .read_to_end(&mut got)
            .await
            .unwrap();
        assert!(got == data, "{k}: copied bytes differ");
    }
    assert_eq!(
        garage.unfinished_multipart_uploads(&prefix).await,
        Vec::<String>::new()
    );
    assert_eq!(
        garage.raw_keys(&format!("{prefix}/{UPLOADS_DIR}")).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_server_verifies_the_crc32c_that_replaces_payload_signing() {
    // The backend sends uploads as UNSIGNED-PAYLOAD with an `x-amz-checksum-crc32c` header: that only
    // protects the bytes if the server checks it. A wrong checksum must be refused.
    let garage = Garage::shared();
    let target = format!("{}/bad-crc", unique("crc32c"));
    let result = garage
        .sdk_client()
        .put_object()
        .bucket(garage.bucket())
        .key(&target)
        .checksum_crc32_c("AAAAAA==")
        .body(b"these bytes do not have CRC32C 0"[..].to_vec().into())
        .customize()
        .disable_payload_signing()
        .send()
        .await;
    assert!(
        result.is_err(),
        "garage accepted a body whose CRC32C does not match"
    );
    assert_eq!(garage.raw_keys(&target).await, Vec::<String>::new());
}

/// CRC32C (Castagnoli, reflected), bit by bit: an oracle independent of the backend's implementation.
fn crc32c_base64(data: &[u8]) -> String {
    use base64::Engine as _;
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    base64::engine::general_purpose::STANDARD.encode((!crc).to_be_bytes())
}

#[tokio::test]
async fn a_part_checksum_is_verified_even_when_the_upload_keeps_no_checksum() {
    // The temporary upload of a digest-less put is created without a checksum algorithm (so that its
    // copy to the final key stays a reference copy) but sends each part with a CRC32C header: that
    // protects the bytes only if the server checks the header on such an upload too, and the object
    // must come out without a checksum of its own.
    use buildmaster_storage_s3::aws_sdk_s3::types::{ChecksumMode, CompletedMultipartUpload, CompletedPart};
    let garage = Garage::shared();
    let client = garage.sdk_client();
    let target = format!("{}/unlisted", unique("crc32c"));
    let upload_id = client
        .create_multipart_upload()
        .bucket(garage.bucket())
        .key(&target)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let body = b"a part whose checksum is checked but not kept".to_vec();
    let part = |crc: String| {
        client
            .upload_part()
            .bucket(garage.bucket())
            .key(&target)
            .upload_id(&upload_id)
            .part_number(1)
            .checksum_crc32_c(crc)
            .body(body.clone().into())
            .customize()
            .disable_payload_signing()
            .send()
    };
    let wrong = part("AAAAAA==".into()).await;
    assert!(
        wrong.is_err(),
        "garage accepted a part whose CRC32C does not match"
    );
    let right = part(crc32c_base64(&body))
        .await
        .expect("the right CRC32C is accepted");
    client
        .complete_multipart_upload()
        .bucket(garage.bucket())
        .key(&target)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(right.e_tag)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = client
        .head_object()
        .bucket(garage.bucket())
        .key(&target)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length, Some(body.len() as i64));
    assert_eq!(head.checksum_crc32_c, None, "the object must keep no checksum");
}

#[tokio::test]
async fn the_web_endpoint_serves_objects_anonymously() {
    // What package clients do: a plain HTTP GET with no credentials, bucket chosen by the Host header.
    let garage = Garage::shared();
    let prefix = unique("web");
    let backend = backend(garage, &prefix).await;
    backend
        .put_bytes(
            &key("repo.info"),
            b"name Haiku\n",
            &PutOptions::index("text/plain"),
        )
        .await
        .unwrap();
    let authority = garage.web_endpoint().trim_start_matches("http://").to_owned();
    let port = authority.rsplit(':').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let request = format!("GET /{prefix}/repo.info HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    assert!(
        response.to_ascii_lowercase().contains("cache-control: no-cache"),
        "{response}"
    );
    assert!(response.ends_with("name Haiku\n"), "{response}");
}

/// What a killed process leaves (a temporary body under the uploads directory, an unfinished multipart
/// upload) is swept once older than the cutoff, and left alone while younger: an upload in progress is
/// never touched.
#[tokio::test]
async fn leftovers_of_killed_writes_are_swept_only_once_old_enough() {
    let garage = Garage::shared();
    let prefix = unique("sweep");
    let store = backend(garage, &prefix).await;
    let client = garage.sdk_client();
    let temp_key = format!("{prefix}/{UPLOADS_DIR}killed-upload");
    client
        .put_object()
        .bucket(garage.bucket())
        .key(&temp_key)
        .body(b"half a package".to_vec().into())
        .send()
        .await
        .unwrap();
    client
        .create_multipart_upload()
        .bucket(garage.bucket())
        .key(format!("{prefix}/packages/killed.hpkg"))
        .send()
        .await
        .unwrap();
    store
        .put_bytes(&key("packages/kept.hpkg"), b"kept", &PutOptions::default())
        .await
        .unwrap();

    assert_eq!(store.sweep_leftovers(Duration::from_secs(3600)).await.unwrap(), 0);
    assert!(garage.raw_keys(&prefix).await.contains(&temp_key));
    assert_eq!(garage.unfinished_multipart_uploads(&prefix).await.len(), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.sweep_leftovers(Duration::from_secs(1)).await.unwrap(), 2);
    assert_eq!(
        garage.raw_keys(&prefix).await,
        [format!("{prefix}/packages/kept.hpkg")]
    );
    assert!(garage.unfinished_multipart_uploads(&prefix).await.is_empty());
}
