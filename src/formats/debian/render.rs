//! Rendering a distribution's index set: `Packages` per component and architecture in the forms the
//! repository's `compressions` name (`.gz` by default, assembled from cached chunks), their by-hash
//! copies, and the root — `Release`, and when a key is configured
//! `Release.gpg` and the clear-signed `InRelease` — in upload order.
//!
//! Order is the publisher's contract ([`IndexRole`]): the by-hash copies first (new names, nothing
//! reads them yet), then the plain-named indexes (read only by clients that ignore
//! `Acquire-By-Hash`), then the root last. `InRelease` is the very last file: apt reads it first and
//! only falls back to `Release` + `Release.gpg` without it, so it is the one switch that makes a new
//! generation live, and everything it names is already there.

use std::io::Write;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::packages::{index_architectures, packages_indexes, PackagesIndex};
use super::release::{check_settings, release_text, ReleaseEntry};
use crate::formats::chunks::{digest_of, ChunkCache};
use crate::formats::{
    DebianCompression, DebianSettings, FormatError, IndexFile, IndexRole, IndexedPackage, RepositoryTarget,
    Sign,
};

/// xz preset for `Packages.xz`, when a repository asks for it (`compressions`; not the default). On
/// the first 10,000 stanzas of Debian 12's main/amd64 `Packages` (7.8 MB) preset 6 (xz's default,
/// dak's choice) takes 2.84 s for 1.48 MB, preset 1 0.45 s for 1.83 MB (xz 5.4 CLI, same liblzma).
/// Unlike gzip, xz cannot be chunked for apt (see [`crate::formats::chunks`]): every publish
/// compresses the whole index again, so the fast preset.
const XZ_PRESET: u32 = 1;

/// Renders the distribution `target` describes (see the module documentation); `cache` holds the
/// compressed chunks of earlier publishes.
pub fn render(
    target: &RepositoryTarget,
    settings: &DebianSettings,
    packages: &[IndexedPackage],
    signer: Option<&dyn Sign>,
    now: SystemTime,
    cache: &ChunkCache,
) -> Result<Vec<IndexFile>, FormatError> {
    check_settings(&target.id, settings)?;
    let dists = format!("dists/{}", settings.codename);
    let mut content_addressed = Vec::new();
    let mut data = Vec::new();
    let mut entries = Vec::new();
    let started = Instant::now();
    let indexes = packages_indexes(settings, packages)?;
    tracing::debug!(
        repository = %target.id,
        packages = packages.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "Packages text rendered"
    );
    let started = Instant::now();
    let mut compressed_chunks = 0;
    for index in &indexes {
        let (sha256, size) = digest_of(&index.chunks);
        entries.push(ReleaseEntry {
            path: format!("{}/Packages", index.dir),
            sha256,
            size,
        });
        for &compression in &settings.compressions {
            let (name, bytes) = compress(target, &dists, index, compression, cache, &mut compressed_chunks)?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let path = format!("{}/{name}", index.dir);
            content_addressed.push(IndexFile {
                path: format!("{dists}/{}/by-hash/SHA256/{sha256}", index.dir),
                bytes: bytes.clone(),
                role: IndexRole::ContentAddressed,
            });
            if compression != DebianCompression::None {
                entries.push(ReleaseEntry {
                    path: path.clone(),
                    sha256,
                    size: bytes.len(),
                });
            }
            data.push(IndexFile {
                path: format!("{dists}/{path}"),
                bytes,
                role: IndexRole::Data,
            });
        }
    }
    tracing::debug!(
        repository = %target.id,
        compressed_chunks,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "Packages compressed and hashed"
    );
    // Identical indexes in one directory (never, today) would give one by-hash name twice.
    content_addressed.dedup_by(|a, b| a.path == b.path);

    let release = release_text(settings, &index_architectures(settings), &entries, now);
    let mut files = content_addressed;
    files.append(&mut data);
    files.push(IndexFile {
        path: format!("{dists}/Release"),
        bytes: Bytes::from(release.clone().into_bytes()),
        role: IndexRole::Root,
    });
    if let Some(signer) = signer {
        files.push(IndexFile {
            path: format!("{dists}/Release.gpg"),
            bytes: Bytes::from(signer.detached_sign(release.as_bytes())?.into_bytes()),
            role: IndexRole::Root,
        });
        files.push(IndexFile {
            path: format!("{dists}/InRelease"),
            bytes: Bytes::from(signer.clear_sign(&release)?.into_bytes()),
            role: IndexRole::Root,
        });
    }
    Ok(files)
}

/// One form of `index`: its file name and bytes. `compressed_chunks` counts the gzip chunks that
/// were not in the cache.
fn compress(
    target: &RepositoryTarget,
    dists: &str,
    index: &PackagesIndex,
    compression: DebianCompression,
    cache: &ChunkCache,
    compressed_chunks: &mut usize,
) -> Result<(&'static str, Bytes), FormatError> {
    let failed = |name: &str, source| FormatError::Io {
        path: format!("{dists}/{}/{name}", index.dir).into(),
        source,
    };
    Ok(match compression {
        DebianCompression::None => ("Packages", Bytes::from(index.chunks.concat())),
        DebianCompression::Gz => {
            // One cache directory per repository and index: the repository id keeps two suites of
            // one root apart, the path two indexes of one suite.
            let scope = format!("debian/{}/{dists}/{}/Packages.gz", target.id, index.dir);
            let gz = cache
                .gzip(&scope, &index.chunks)
                .map_err(|e| failed("Packages.gz", e))?;
            *compressed_chunks += gz.compressed;
            ("Packages.gz", Bytes::from(gz.bytes))
        }
        DebianCompression::Xz => (
            "Packages.xz",
            xz(index.chunks.concat().as_bytes()).map_err(|e| failed("Packages.xz", e))?,
        ),
    })
}

/// `Packages.xz` (CRC64 check, as xz(1) writes by default and apt's liblzma reads).
fn xz(data: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), XZ_PRESET);
    encoder.write_all(data)?;
    Ok(Bytes::from(encoder.finish()?))
}
