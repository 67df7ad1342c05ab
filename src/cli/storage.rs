//! `buildmaster storage put|get|ls|rm`: operator access to the configured backend, the same one the
//! publisher uses, so what these commands show is what clients see.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use buildmaster_storage::{ObjectKey, PutOptions, StorageBackend, StorageError};
use clap::{Args, Subcommand};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{progress, GlobalArgs};
use crate::publish::progress::CountingReader;

/// `buildmaster storage …`
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Which storage operation.
    #[command(subcommand)]
    pub command: StorageCommand,
}

/// Storage operations. Keys are relative to the configured prefix.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Upload a file. Packages (`*.hpkg`) get immutable cache headers, index files (`repo`,
    /// `repo.info`, `repo.sha256`, `package.list`) get `no-cache`.
    Put {
        /// The local file.
        file: PathBuf,
        /// The object key, e.g. `packages/foo-1.0-1-x86_64.hpkg`.
        key: String,
    },
    /// Download an object to a file (`-` for standard output), verifying its recorded SHA-256.
    Get {
        /// The object key.
        key: String,
        /// The local file to write.
        file: PathBuf,
    },
    /// List objects in key order: size, SHA-256 (`-` for an object stored without one) and key, one
    /// per line. S3 listings carry no digests, so on S3 each object's is asked with a HEAD request
    /// (16 at a time).
    Ls {
        /// Only keys starting with this.
        #[arg(default_value = "")]
        prefix: String,
        /// Print size and key only, without the SHA-256 column and the HEAD requests it costs on S3.
        #[arg(long)]
        no_sha256: bool,
        /// No effect: SHA-256s are always listed now. Accepted so that commands written for the
        /// versions where `-l` asked for them keep working.
        #[arg(short = 'l', long, hide = true)]
        long: bool,
    },
    /// Delete objects (succeeds for keys that are already absent).
    Rm {
        /// The object keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

/// Runs `buildmaster storage …`.
pub fn run(args: StorageArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let backend =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        let show = progress::enabled(global);
        match args.command {
            StorageCommand::Put { file, key } => put(&*backend, &file, &key, show).await,
            StorageCommand::Get { key, file } => get(&*backend, &key, &file, show).await,
            StorageCommand::Ls {
                prefix, no_sha256, ..
            } => ls(&*backend, &prefix, !no_sha256).await,
            StorageCommand::Rm { keys } => rm(&*backend, &keys).await,
        }?;
        Ok(ExitCode::SUCCESS)
    })
}

fn object_key(key: &str) -> anyhow::Result<ObjectKey> {
    Ok(ObjectKey::new(key)?)
}

/// Content headers by what the key holds.
fn options_for(key: &ObjectKey) -> PutOptions {
    match key.file_name() {
        name if name.ends_with(".hpkg") => PutOptions::package(None),
        "repo" | "repo.sha256" | "repo.minisig" => PutOptions::index("application/octet-stream"),
        "repo.info" | "package.list" => PutOptions::index("text/plain; charset=utf-8"),
        _ => PutOptions::default(),
    }
}

/// Uploads `file`; `show`: with a byte bar on stderr.
async fn put(backend: &dyn StorageBackend, file: &Path, key: &str, show: bool) -> anyhow::Result<()> {
    let key = object_key(key)?;
    let body = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let size = body.metadata().await?.len();
    let bar = progress::bytes_bar(show, size, &format!("put {}", key.file_name()));
    let mut body = CountingReader::new(body, |n| bar.inc(n));
    let meta = backend.put(&key, &mut body, size, &options_for(&key)).await;
    bar.finish_and_clear();
    let meta = meta?;
    let sha = meta.sha256.map(|d| d.to_hex()).unwrap_or_default();
    println!(
        "uploaded {} ({} bytes, sha256 {sha}) to {}",
        file.display(),
        meta.size,
        backend.describe()
    );
    Ok(())
}

/// Downloads `key` to `file` (`-`: stdout); `show`: with a byte bar on stderr.
async fn get(backend: &dyn StorageBackend, key: &str, file: &Path, show: bool) -> anyhow::Result<()> {
    let key = object_key(key)?;
    let mut object = backend.get(&key).await?;
    let to_stdout = file.as_os_str() == "-";
    // The object itself going to the terminal leaves no line for a bar.
    let show = show && !(to_stdout && std::io::stdout().is_terminal());
    let bar = progress::bytes_bar(show, object.meta.size, &format!("get {}", key.file_name()));
    // Write to a temporary sibling and rename, so a failed or corrupt download never leaves a file that
    // looks complete.
    let tmp = file.with_file_name(format!(
        ".{}.download",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if to_stdout {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(
            tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("cannot create {}", tmp.display()))?,
        )
    };
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let copied: anyhow::Result<()> = async {
        loop {
            let n = object
                .body
                .read(&mut buf)
                .await
                .with_context(|| format!("reading {key}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            bar.inc(n as u64);
            out.write_all(&buf[..n]).await?;
        }
        out.flush().await?;
        if total != object.meta.size {
            bail!(
                "{key}: received {total} bytes, the store announced {}",
                object.meta.size
            );
        }
        if let Some(expected) = object.meta.sha256 {
            let actual = hex::encode(hasher.finalize());
            if actual != expected.to_hex() {
                bail!("{key}: downloaded data has SHA-256 {actual}, the store recorded {expected}");
            }
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    drop(out);
    if to_stdout {
        return copied;
    }
    if let Err(err) = copied {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(err);
    }
    tokio::fs::rename(&tmp, file)
        .await
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

/// HEAD requests in flight while `ls` asks for the digests a listing left out: enough to hide the
/// round trips, few enough not to flood the server (one listing page is 1,000 keys).
const DIGEST_LOOKUPS_IN_FLIGHT: usize = 16;

/// Prints every object under `prefix`, in the listing's (key) order; `with_sha256`: with its digest,
/// asked with a HEAD where the listing has none.
async fn ls(backend: &dyn StorageBackend, prefix: &str, with_sha256: bool) -> anyhow::Result<()> {
    let prefix = ObjectKey::prefix(prefix)?;
    // `buffered`, not `buffer_unordered`: lookups overlap but lines come out in listing order.
    let mut objects = backend
        .list(&prefix)
        .map(|meta| async move {
            let meta = meta?;
            if !with_sha256 || meta.sha256.is_some() {
                return Ok::<_, StorageError>(meta);
            }
            // Deleted since it was listed: still print what the listing said.
            Ok(backend.head(&meta.key).await?.unwrap_or(meta))
        })
        .buffered(DIGEST_LOOKUPS_IN_FLIGHT);
    while let Some(meta) = objects.next().await {
        let meta = meta?;
        if with_sha256 {
            let sha = meta.sha256.map(|d| d.to_hex()).unwrap_or_else(|| "-".into());
            println!("{:>12}  {sha}  {}", meta.size, meta.key);
        } else {
            println!("{:>12}  {}", meta.size, meta.key);
        }
    }
    Ok(())
}

async fn rm(backend: &dyn StorageBackend, keys: &[String]) -> anyhow::Result<()> {
    for key in keys {
        backend.delete(&object_key(key)?).await?;
    }
    Ok(())
}
