//! A digest-less multipart upload sends CRC32C part checksums on a temporary upload that keeps no
//! checksum of its own (`backends/s3/src/integrity.rs`). garage takes that; AWS S3 refuses it
//! ("Checksum Type mismatch occurred, expected checksum Type: null"). This test puts a loopback HTTP
//! proxy it owns in front of a real garage that answers such parts the way AWS does and forwards every
//! other request, and checks that the backend falls back to signed payloads: the object lands whole
//! with its digest, nothing is left behind, and only the first part is ever refused.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use buildmaster_storage::{ObjectKey, PutOptions, StorageBackend};
use buildmaster_storage_s3::{S3Backend, UPLOADS_DIR};
use support::garage::Garage;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What AWS S3 answers an UploadPart with a checksum on an upload created without one.
const REFUSAL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRequest</Code>\
<Message>Checksum Type mismatch occurred, expected checksum Type: null, actual checksum Type: crc32c\
</Message></Error>";

/// One HTTP/1.1 request as read off the wire.
struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    /// Reads the next request; `None` when the client closed the connection.
    async fn read(reader: &mut BufReader<TcpStream>) -> Option<Request> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let end = line == "\r\n";
            head.push_str(&line);
            if end {
                break;
            }
        }
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.ok()?;
        Some(Request { head, body })
    }

    /// An UploadPart that carries a CRC32C header.
    fn is_part_with_checksum(&self) -> bool {
        let lower = self.head.to_ascii_lowercase();
        lower.starts_with("put ")
            && lower.contains("partnumber=")
            && lower.contains("\r\nx-amz-checksum-crc32c:")
    }
}

/// Serves one client connection: refuses checksummed parts itself (the connection stays open, as a
/// server's would), forwards anything else to garage on a fresh connection marked `Connection: close`
/// and relays the answer, after which both connections close.
async fn serve(client: TcpStream, upstream: String, refusals: Arc<AtomicUsize>) {
    let mut client = BufReader::new(client);
    while let Some(request) = Request::read(&mut client).await {
        if request.is_part_with_checksum() {
            refusals.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{REFUSAL}",
                REFUSAL.len()
            );
            if client.get_mut().write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let Ok(mut server) = TcpStream::connect(&upstream).await else {
            return;
        };
        let head = request.head.trim_end_matches("\r\n").to_owned() + "\r\nConnection: close\r\n\r\n";
        if server.write_all(head.as_bytes()).await.is_err() || server.write_all(&request.body).await.is_err()
        {
            return;
        }
        let mut answer = Vec::new();
        if server.read_to_end(&mut answer).await.is_err() {
            return;
        }
        // Tell the client this connection ends with the answer, so it does not reuse it.
        let answer = match answer.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end)
                if !String::from_utf8_lossy(&answer[..end])
                    .to_ascii_lowercase()
                    .contains("connection: close") =>
            {
                [&answer[..end], b"\r\nConnection: close", &answer[end..]].concat()
            }
            _ => answer,
        };
        let _ = client.get_mut().write_all(&answer).await;
        return;
    }
}

/// Starts the proxy in front of `upstream` (host:port); returns its endpoint URL and the refusal count.
async fn refusing_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let refusals = Arc::new(AtomicUsize::new(0));
    let counted = refusals.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(serve(client, upstream.clone(), counted.clone()));
        }
    });
    (endpoint, refusals)
}

#[tokio::test]
async fn a_server_that_refuses_unlisted_part_checksums_gets_signed_parts_instead() {
    let garage = Garage::shared();
    let upstream = garage.s3_endpoint().trim_start_matches("http://").to_owned();
    let (endpoint, refusals) = refusing_proxy(upstream).await;
    let prefix = format!("checksum-fallback/{:016x}", fastrand::u64(..));
    let mut settings = garage.s3_settings(&prefix);
    settings.endpoint_url = Some(endpoint);
    // One part at a time, so exactly one part meets the refusal before the backend switches.
    settings.parts_in_flight = 1;
    let backend = S3Backend::new(&settings).await.unwrap();

    let part = settings.part_size as usize;
    for (name, len) in [("first.hpkg", 2 * part + 17), ("second.hpkg", part + 1)] {
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let key = ObjectKey::new(name).unwrap();
        let meta = backend
            .put(&key, &mut &body[..], len as u64, &PutOptions::package(None))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = buildmaster_storage::Sha256Digest::of(&body);
        assert_eq!(meta.sha256, Some(expected), "{name}");
        let stored = backend.head(&key).await.unwrap().expect("stored");
        assert_eq!(
            (stored.size, stored.sha256),
            (len as u64, Some(expected)),
            "{name}"
        );
        let mut read = Vec::new();
        backend
            .get(&key)
            .await
            .unwrap()
            .body
            .read_to_end(&mut read)
            .await
            .unwrap();
        assert!(
            read == body,
            "{name}: the object read back differs from what was put"
        );
    }
    assert_eq!(
        refusals.load(Ordering::SeqCst),
        1,
        "only the first part is refused; later parts and uploads are signed"
    );
    let leftovers = garage.unfinished_multipart_uploads(&prefix).await;
    assert!(leftovers.is_empty(), "unfinished uploads left: {leftovers:?}");
    let temporaries = garage.raw_keys(&format!("{prefix}/{UPLOADS_DIR}")).await;
    assert!(temporaries.is_empty(), "temporary objects left: {temporaries:?}");
}
