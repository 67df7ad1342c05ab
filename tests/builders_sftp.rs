//! Verified, pipelined SFTP against a real OpenSSH sshd on 127.0.0.1.

mod support;

use std::time::Duration;

use buildmaster::builders::config::Timeouts;
use buildmaster::builders::connection::Connection;
use buildmaster::builders::error::{BuilderError, ErrorClass};
use buildmaster::builders::sftp::{Expected, Sftp, CHUNK_BYTES};
use buildmaster_storage::Sha256Digest;
use support::sshd::Sshd;

async fn open(sshd: &Sshd) -> (Connection, Sftp) {
    let target = sshd.target();
    let conn = Connection::open("b1", &target, &Timeouts::default())
        .await
        .unwrap();
    let sftp = Sftp::open(&conn, Duration::from_secs(30)).await.unwrap();
    (conn, sftp)
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(len as u64);
    (0..len).map(|_| rng.u8(..)).collect()
}

#[tokio::test]
async fn upload_verifies_renames_and_download_round_trips() {
    let sshd = Sshd::start();
    let (_conn, sftp) = open(&sshd).await;
    let dir = sshd.work.join("cache/nested");
    sftp.mkdir_p(dir.to_str().unwrap()).await.unwrap();
    // Not a multiple of the chunk size, so the last request is short.
    let data = random_bytes(3 * CHUNK_BYTES + 12345);
    let expected = Expected {
        size: data.len() as u64,
        sha256: Sha256Digest::of(&data),
    };
    let dest = dir.join("p-1-1-x86_64.hpkg");
    let got = sftp
        .upload(&mut data.as_slice(), dest.to_str().unwrap(), expected)
        .await
        .unwrap();
    assert_eq!((got.size, got.sha256), (expected.size, expected.sha256));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(!dir.join("p-1-1-x86_64.hpkg.upload").exists());

    // Replacing an existing file works: posix-rename replaces the target atomically.
    sftp.upload(&mut data.as_slice(), dest.to_str().unwrap(), expected)
        .await
        .unwrap();

    let local = tempfile::tempdir().unwrap();
    let back = local.path().join("back.hpkg");
    let got = sftp
        .download(dest.to_str().unwrap(), &back, Some(expected))
        .await
        .unwrap();
    assert_eq!(got.sha256, expected.sha256);
    assert_eq!(std::fs::read(&back).unwrap(), data);

    let listed = sftp.list(dir.to_str().unwrap()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].size, listed[0].is_file),
        ("p-1-1-x86_64.hpkg", data.len() as u64, true)
    );

    let link = sshd.work.join("link.hpkg");
    sftp.symlink(dest.to_str().unwrap(), link.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), dest);
    assert!(
        sftp.free_bytes(sshd.work.to_str().unwrap())
            .await
            .unwrap()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn wrong_size_or_digest_is_refused_and_leaves_nothing() {
    let sshd = Sshd::start();
    let (_conn, sftp) = open(&sshd).await;
    let data = random_bytes(CHUNK_BYTES + 1);
    let dest = sshd.work.join("x.hpkg");
    let wrong_digest = Expected {
        size: data.len() as u64,
        sha256: Sha256Digest::of(b"other"),
    };
    let short = Expected {
        size: data.len() as u64 + 1,
        sha256: Sha256Digest::of(&data),
    };
    let long = Expected {
        size: data.len() as u64 - 1,
        sha256: Sha256Digest::of(&data[1..]),
    };
    for expected in [wrong_digest, short, long] {
        let err = sftp
            .upload(&mut data.as_slice(), dest.to_str().unwrap(), expected)
            .await
            .unwrap_err();
        assert!(matches!(err, BuilderError::Verify { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Infrastructure);
        assert!(!dest.exists());
        assert!(
            std::fs::read_dir(&sshd.work).unwrap().next().is_none(),
            "a temp file was left behind"
        );
    }
    let missing = tempfile::tempdir().unwrap();
    let err = sftp
        .download("/nonexistent/x.hpkg", &missing.path().join("x"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, BuilderError::Sftp { .. }), "{err}");
}

/// The test builders refuse the plain SFTP RENAME as a Haiku builder does (OpenSSH implements it with
/// `link()`, BFS has no hard links), so every rename we do must go through `posix-rename@openssh.com`.
#[tokio::test]
async fn plain_rename_is_refused_like_on_haiku_and_every_rename_of_ours_works() {
    let sshd = Sshd::start();
    let (conn, sftp) = open(&sshd).await;
    let from = sshd.work.join("a.hpkg.upload");
    let to = sshd.work.join("a.hpkg");
    std::fs::write(&from, b"new").unwrap();

    // The plain request, as russh-sftp's own `rename` sends it: refused.
    let channel = conn.session_channel("plain sftp").await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    let plain = russh_sftp::client::SftpSession::new(channel.into_stream())
        .await
        .unwrap();
    let refused = plain.rename(from.to_str().unwrap(), to.to_str().unwrap()).await;
    assert!(refused.is_err(), "the test sshd accepted a plain SFTP RENAME");
    assert!(from.exists() && !to.exists());

    // Ours: into a free name, then over an existing file (replaced atomically).
    sftp.rename(from.to_str().unwrap(), to.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&to).unwrap(), b"new");
    std::fs::write(&from, b"newer").unwrap();
    sftp.rename(from.to_str().unwrap(), to.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&to).unwrap(), b"newer");
    assert!(!from.exists());

    // The small-file writer (builder.conf) and uploads rename too.
    let conf = sshd.work.join("builder.conf");
    sftp.write_small(conf.to_str().unwrap(), b"A=1\n").await.unwrap();
    sftp.write_small(conf.to_str().unwrap(), b"A=2\n").await.unwrap();
    assert_eq!(std::fs::read(&conf).unwrap(), b"A=2\n");

    // A failed rename names the builder and both paths.
    let err = sftp
        .rename("/nonexistent/x", to.to_str().unwrap())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("b1") && text.contains("posix-rename") && text.contains("/nonexistent/x"),
        "{text}"
    );
}

/// An SFTP server that offers no extensions at all: SSH_FXP_VERSION 3 with an empty list, and
/// SSH_FXP_STATUS "operation unsupported" to every request.
const SFTP_WITHOUT_EXTENSIONS: &str = r#"import struct, sys
r, w = sys.stdin.buffer, sys.stdout.buffer
def read(n):
    b = r.read(n)
    if len(b) < n:
        sys.exit(0)
    return b
while True:
    (length,) = struct.unpack(">I", read(4))
    body = read(length)
    if body[0] == 1:
        out = struct.pack(">BI", 2, 3)
    else:
        (rid,) = struct.unpack(">I", body[1:5])
        out = struct.pack(">BIIII", 101, rid, 8, 0, 0)
    w.write(struct.pack(">I", len(out)) + out)
    w.flush()
"#;

/// Without `posix-rename@openssh.com` a builder is refused when its SFTP session opens — before
/// anything is uploaded — with an error naming the builder and what to run instead.
#[tokio::test]
async fn a_server_without_posix_rename_is_refused_at_connect_saying_what_to_do() {
    let scripts = tempfile::tempdir().unwrap();
    let fake = scripts.path().join("sftp-without-extensions.py");
    std::fs::write(&fake, SFTP_WITHOUT_EXTENSIONS).unwrap();
    let sshd = Sshd::start_with_subsystem(
        support::sshd::KeyType::Ed25519,
        &format!("/usr/bin/python3 {}", fake.display()),
    );
    let target = sshd.target();
    let conn = Connection::open("b1", &target, &Timeouts::default())
        .await
        .unwrap();
    let err = match Sftp::open(&conn, Duration::from_secs(30)).await {
        Ok(_) => panic!("a server without posix-rename was accepted"),
        Err(err) => err,
    };
    assert!(matches!(err, BuilderError::MissingSftpExtension { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Infrastructure);
    let text = err.to_string();
    assert!(
        text.contains("builder b1")
            && text.contains("posix-rename@openssh.com")
            && text.contains("sftp-server"),
        "{text}"
    );
}
