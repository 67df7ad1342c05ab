//! The "ours" side of the storage benchmark (`bench/storage/run.sh`): one upload or one download of a
//! file through [`S3Backend`], the same code path `buildmaster storage put|get` and the publisher use.
//! `run.sh` times it from outside with `/usr/bin/time -v`, exactly like `aws s3 cp`, so both sides pay
//! process start-up and are measured the same way.
//!
//! Usage:
//!   storage-bench put <settings.json> <file> <key> [--digest <sha256 hex>]
//!   storage-bench get <settings.json> <key> <file>
//!
//! `settings.json` is the S3 section of a storage config (without `backend_type`). Without `--digest`
//! the put is `buildmaster storage put`'s: the digest is learnt on the way, so the body goes to a
//! temporary key and is copied to its own. With `--digest` it is the publisher's: packages were hashed
//! when they were staged, the digest is passed in `PutOptions`, the upload goes straight to the key,
//! and every byte is still hashed on the way to check it.

use std::path::Path;
use std::time::Instant;

use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use buildmaster_storage_s3::{S3Backend, S3Settings};
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Buffer between the network and the file on download, in bytes (written in [`WRITE_PIECE`]s).
const IO_BUFFER: usize = 1 << 20;

/// Downloaded buffers waiting for the writer thread.
const WRITE_QUEUE: usize = 4;

/// Largest single `write(2)` of a download, in bytes: 32 KiB, an order-3 allocation
/// (`PAGE_ALLOC_COSTLY_ORDER`). On this kernel (Linux 6.18, ext4 with large folios) the page cache
/// sizes a new folio after the write, so a 1 MiB write asks for an order-8 folio; when free memory has
/// no such block, the allocation compacts memory right there, charged to the writer — 37 % of a slow
/// download's CPU in a `perf` profile (`__alloc_pages_direct_compact` under `ext4_da_write_begin`).
/// Orders up to 3 are never compacted for; the extra system calls cost nothing measurable (`dd` of
/// 1 GiB: the same system time with 32 KiB and 1 MiB blocks).
const WRITE_PIECE: usize = 32 << 10;

type Error = Box<dyn std::error::Error + Send + Sync>;

// By default one thread does everything: on a 2-core machine the S3 server needs the other core, and a
// single thread spends no CPU on handing buffers and wake-ups between threads. `STORAGE_BENCH_THREADS=N`
// runs on a multi-threaded runtime of N workers instead, like the daemon's (the publisher's uploads).
fn main() -> Result<(), Error> {
    let threads: usize = match std::env::var("STORAGE_BENCH_THREADS") {
        Ok(n) => n
            .parse()
            .map_err(|_| "STORAGE_BENCH_THREADS takes a number of threads")?,
        Err(_) => 1,
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run())
}

async fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, config) = match args.as_slice() {
        [mode, config, ..] => (mode.as_str(), config),
        _ => return Err(usage()),
    };
    let settings: S3Settings = serde_json::from_str(&std::fs::read_to_string(config)?)?;
    let backend = S3Backend::new(&settings).await?;
    let started = Instant::now();
    let bytes = match (mode, &args[2..]) {
        ("put", [file, key, rest @ ..]) => {
            let digest = match rest {
                [] => None,
                [flag, hex] if flag == "--digest" => {
                    Some(Sha256Digest::from_hex(hex).ok_or("--digest takes 64 hex digits")?)
                }
                _ => return Err(usage()),
            };
            put(&backend, Path::new(file), &ObjectKey::new(key.as_str())?, digest).await?
        }
        ("get", [key, file]) => get(&backend, &ObjectKey::new(key.as_str())?, Path::new(file)).await?,
        _ => return Err(usage()),
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{mode}: {bytes} bytes in {seconds:.3} s = {:.1} MB/s",
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}

fn usage() -> Error {
    "usage: storage-bench put <settings.json> <file> <key> [--digest <sha256 hex>] | get <settings.json> <key> <file>"
        .into()
}

async fn put(
    backend: &S3Backend,
    path: &Path,
    key: &ObjectKey,
    digest: Option<Sha256Digest>,
) -> Result<u64, Error> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut body = BlockingFile(file);
    let meta = backend
        .put(key, &mut body, size, &PutOptions::package(digest))
        .await?;
    Ok(meta.size)
}

async fn get(backend: &S3Backend, key: &ObjectKey, path: &Path) -> Result<u64, Error> {
    let mut reader = backend.get(key).await?;
    // The file is written by a thread of its own, as aws-cli's downloads are: a page-cache write can
    // take a while on a busy machine. The queue to it is async, so while the writer is behind, the
    // runtime thread waits without blocking and keeps receiving the ranges in flight (a blocking
    // `std::sync::mpsc::SyncSender::send` here stalled every socket whenever the writer fell
    // WRITE_QUEUE buffers behind). Buffers go back and forth, so only WRITE_QUEUE + 2 of them exist.
    let mut file = std::fs::File::create(path)?;
    let (to_writer, mut written) = tokio::sync::mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let (to_reader, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        while let Some(buf) = written.blocking_recv() {
            for piece in buf.chunks(WRITE_PIECE) {
                file.write_all(piece)?;
            }
            let _ = to_reader.send(buf);
        }
        Ok(())
    });
    let mut copied = 0u64;
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        buf.resize(IO_BUFFER, 0);
        let n = read_full(&mut reader.body, &mut buf).await?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        copied += n as u64;
        if to_writer.send(buf).await.is_err() {
            break; // the writer failed: its error is reported below
        }
    }
    drop(to_writer);
    writer.join().map_err(|_| "the writer thread panicked")??;
    if copied != reader.meta.size {
        return Err(format!("got {copied} bytes, expected {}", reader.meta.size).into());
    }
    Ok(copied)
}

/// Reads until `buf` is full or the body ends, so every write the writer thread makes is a whole
/// IO_BUFFER (a read ends at a range's boundary, which would otherwise cost an extra short write).
async fn read_full(body: &mut (impl AsyncRead + Unpin + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = body.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// A file read inline on the (single) runtime thread, straight into the caller's buffer: no copy through
/// `tokio::fs::File`'s internal buffer and no hop to the blocking pool per read. Page-cache reads are
/// short; this is what a one-shot CLI that owns its runtime can afford (a server would not do this).
struct BlockingFile(std::fs::File);

impl AsyncRead for BlockingFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let file = &mut self.get_mut().0;
        let n = file.read(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}
