//! [`SourceCache`]: fetch a recipe's sources into storage once, add one by hand, say what is there.
//!
//! Fetching one source ([`SourceCache::fetch`]):
//! 1. The digest it must have: the recipe's `CHECKSUM_SHA256`, else — for a source an RPM
//!    `sources` file names by SHA-512 — the SHA-256 recorded beside that SHA-512 when it was first
//!    stored, else the digest recorded the first time the same URI was fetched (a pin), else none.
//! 2. With a digest, and `sources/sha256/<digest>` already in storage: done — no request is made.
//! 3. Otherwise its URIs are tried in order (then the configured mirror, as HaikuPorter's
//!    `DOWNLOAD_MIRROR`): the first that delivers is spooled to a local file, hashed as it streams.
//!    A digest other than the required one is refused with both digests and the URI, and nothing is
//!    stored (as HaikuPorter, a mismatch ends the fetch rather than trying the next mirror: it is a
//!    finding for a person). A source named by SHA-512 is hashed both ways while it streams and
//!    refused, with both SHA-512s, unless its SHA-512 is the one listed. A source with no checksum is
//!    accepted only when it cannot move: a git commit id, or a file in the port's own directory; its
//!    digest is then recorded as its pin.
//! 4. The spooled file is uploaded under its content key with the digest declared (the backend checks
//!    it again), and the recipe source's row is recorded in the state database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use buildmaster_storage::{CacheControl, PutOptions, Sha256Digest, StorageBackend};
use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncReadExt;

use super::debian_orig::ORIG_CHECKSUMS;
use super::error::{Mismatch, SourceError};
use super::git;
use super::http::{self, DownloadError};
use super::index::{SourceIndex, SourceRow};
use super::key::source_key;
use super::recipe::{file_name_of, Origin, RecipeSource};
use super::spool::SpoolFile;

/// Largest source the cache accepts unless told otherwise: 8 GiB (the largest HaikuPorts sources,
/// toolchains and Qt, are under 1 GiB; this only stops a runaway or hostile server).
pub const DEFAULT_MAX_SOURCE_BYTES: u64 = 8 << 30;

/// `verified_by` of a source vouched for by the recipe's `CHECKSUM_SHA256`.
pub const BY_CHECKSUM: &str = "checksum";
/// `verified_by` of a source without checksum, pinned to the digest of its first fetch or upload.
pub const BY_PIN: &str = "pinned";
/// `verified_by` of a source vouched for by the SHA-512 of an RPM dist-git `sources` file.
pub const BY_SHA512: &str = "sha512";

/// The algorithm name `source_aliases` records SHA-512s under.
const SHA512: &str = "sha512";

/// How sources are fetched.
#[derive(Clone, Debug)]
pub struct FetchSettings {
    /// Most bytes one source may have. Default [`DEFAULT_MAX_SOURCE_BYTES`].
    pub max_size: u64,
    /// A mirror tried after a source's own URIs, as `<mirror>/<port directory>/<file name>`
    /// (HaikuPorter's `DOWNLOAD_MIRROR`, e.g. `https://ports-mirror.haiku-os.org`). Default: none.
    pub mirror: Option<String>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            max_size: DEFAULT_MAX_SOURCE_BYTES,
            mirror: None,
        }
    }
}

/// What [`SourceCache::fetch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The content was already in storage: nothing was downloaded.
    AlreadyStored,
    /// Downloaded (or archived) from this URI and stored.
    Stored {
        /// The URI that delivered.
        from: String,
    },
}

/// Whether a recipe source is in the cache (`sources check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// Stored with the digest required.
    Present(SourceRow),
    /// Not in storage (never fetched, or the digest required changed): `expected` is the digest
    /// required, if one is known before fetching.
    Missing {
        /// The digest required, lowercase hex.
        expected: Option<String>,
    },
}

/// The source cache of one instance.
#[derive(Debug)]
pub struct SourceCache {
    storage: Arc<dyn StorageBackend>,
    index: Mutex<SourceIndex>,
    spool_dir: PathBuf,
    settings: FetchSettings,
}

impl SourceCache {
    /// The cache in `storage`, indexed in the state database at `database`, spooling downloads in
    /// `spool_dir`.
    pub fn new(
        storage: Arc<dyn StorageBackend>,
        database: &Path,
        spool_dir: PathBuf,
        settings: FetchSettings,
    ) -> Result<SourceCache, SourceError> {
        Ok(SourceCache {
            storage,
            index: Mutex::new(SourceIndex::open(database)?),
            spool_dir,
            settings,
        })
    }

    fn index(&self) -> MutexGuard<'_, SourceIndex> {
        // A panic while holding the lock cannot leave SQLite inconsistent (each call is one statement).
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The digest `source` must have and what says so, if known before fetching.
    fn required(&self, source: &RecipeSource) -> Result<Option<(Sha256Digest, &'static str)>, SourceError> {
        if let Some(digest) = source.checksum {
            return Ok(Some((digest, checksum_origin(source))));
        }
        if let Some(sha512) = &source.sha512 {
            let known = self.index().alias(SHA512, sha512)?;
            return Ok(known.and_then(|hex| Sha256Digest::from_hex(&hex)).map(|digest| {
                (
                    digest,
                    "matched to the `sources` file's SHA-512 when first stored",
                )
            }));
        }
        let row = self.index().get(&source.recipe, &source.index)?;
        Ok(row
            .filter(|row| source.uris.contains(&row.uri) || is_upload_of(row, source))
            .and_then(|row| Sha256Digest::from_hex(&row.sha256))
            .map(|digest| (digest, "pinned when it was first stored")))
    }

    /// Whether `source` is stored with the digest it requires.
    pub async fn status(&self, source: &RecipeSource) -> Result<SourceStatus, SourceError> {
        let Some((digest, _)) = self.required(source)? else {
            return Ok(SourceStatus::Missing { expected: None });
        };
        match self.stored_size(source, &digest).await? {
            Some(size) => Ok(SourceStatus::Present(self.row_for(source, &digest, size)?)),
            None => Ok(SourceStatus::Missing {
                expected: Some(digest.to_hex()),
            }),
        }
    }

    /// Makes sure `source` is stored: see the module documentation.
    pub async fn fetch(&self, source: &RecipeSource) -> Result<(Fetched, SourceRow), SourceError> {
        let required = self.required(source)?;
        if let Some((digest, _)) = &required {
            if let Some(size) = self.stored_size(source, digest).await? {
                let row = self.row_for(source, digest, size)?;
                self.index().put(&row)?;
                return Ok((Fetched::AlreadyStored, row));
            }
        }
        let uris = self.candidates(source);
        let first = uris.first().cloned().unwrap_or_default();
        if required.is_none() && source.sha512.is_none() && !cannot_move(&Origin::of(&first)) {
            return Err(SourceError::Unpinned {
                port: source.port.clone(),
                source_index: source.index.clone(),
                uri: first,
            });
        }
        let mut attempts = Vec::new();
        let mut unsupported = None;
        for uri in &uris {
            let origin = Origin::of(uri);
            if let Origin::Unsupported { why } = &origin {
                unsupported.get_or_insert_with(|| (uri.clone(), why.clone()));
                attempts.push(format!("{uri}: {why}"));
                continue;
            }
            let mut spool = SpoolFile::create(&self.spool_dir, self.settings.max_size)
                .await
                .map_err(|e| local(&self.spool_dir, e))?;
            if source.sha512.is_some() {
                spool = spool.with_sha512();
            }
            let result = match &origin {
                Origin::Http { url } => http::download(url, &mut spool).await,
                Origin::Git { repository, revision } => {
                    git::archive(repository, revision.as_deref(), &self.spool_dir, &mut spool).await
                }
                Origin::PortFile { relative } => copy_port_file(source, relative, &mut spool).await,
                Origin::Unsupported { .. } => unreachable!("skipped above"),
            };
            if let Err(error) = result {
                tracing::warn!(port = %source.port, source = %source.index, %uri, %error, "fetching a source failed");
                attempts.push(format!("{uri}: {error}"));
                continue;
            }
            let (digest, size) = spool.finish().await.map_err(|e| local(spool.path(), e))?;
            let verified_by = self.verify(source, uri, required, &digest, spool.sha512_hex().as_deref())?;
            self.store(source, spool.path(), &digest, size).await?;
            self.record_alias(source, &digest)?;
            let row = SourceRow {
                verified_by: verified_by.to_owned(),
                uri: uri.clone(),
                ..self.row_for(source, &digest, size)?
            };
            self.index().put(&row)?;
            return Ok((Fetched::Stored { from: uri.clone() }, row));
        }
        match unsupported {
            Some((uri, why)) if attempts.len() == 1 => Err(SourceError::Unsupported {
                port: source.port.clone(),
                source_index: source.index.clone(),
                uri,
                why,
            }),
            _ => Err(SourceError::Download {
                port: source.port.clone(),
                source_index: source.index.clone(),
                attempts: attempts.join("; "),
            }),
        }
    }

    /// Stores `file` (an operator's upload) as `source`: verified against the recipe's checksum
    /// when it has one; without one, the upload becomes the source's pin (replacing any earlier).
    pub async fn add(&self, source: &RecipeSource, file: &Path) -> Result<SourceRow, SourceError> {
        let (digest, size, sha512) = hash_file(file, source.sha512.is_some()).await?;
        let origin = format!("upload:{}", file.display());
        let required = source.checksum.map(|d| (d, checksum_origin(source)));
        let verified_by = self.verify(source, &origin, required, &digest, sha512.as_deref())?;
        if self.stored_size(source, &digest).await?.is_none() {
            self.store(source, file, &digest, size).await?;
        }
        self.record_alias(source, &digest)?;
        let row = SourceRow {
            verified_by: verified_by.to_owned(),
            uri: origin,
            ..self.row_for(source, &digest, size)?
        };
        self.index().put(&row)?;
        Ok(row)
    }

    /// Every recorded source.
    pub fn list(&self) -> Result<Vec<SourceRow>, SourceError> {
        self.index().all()
    }

    /// `verified_by` for bytes with `digest` (and `sha512`, when computed), or the refusal when
    /// either is not the digest required.
    fn verify(
        &self,
        source: &RecipeSource,
        uri: &str,
        required: Option<(Sha256Digest, &'static str)>,
        digest: &Sha256Digest,
        sha512: Option<&str>,
    ) -> Result<&'static str, SourceError> {
        let refuse = |algorithm, expected: String, expected_from, actual: String| {
            Err(SourceError::Mismatch(Box::new(Mismatch {
                port: source.port.clone(),
                source_index: source.index.clone(),
                uri: uri.to_owned(),
                algorithm,
                expected,
                expected_from,
                actual,
            })))
        };
        if let Some(listed) = &source.sha512 {
            let actual = sha512.unwrap_or_default();
            if actual != listed {
                return refuse(SHA512, listed.clone(), "the `sources` file", actual.to_owned());
            }
        }
        match required {
            Some((expected, from)) if expected != *digest => {
                refuse("sha256", expected.to_hex(), from, digest.to_hex())
            }
            _ => Ok(vouched_by(source)),
        }
    }

    /// Records the SHA-512 a `sources` file names `source` by as another name of `digest` (after
    /// [`Self::verify`] checked it against the same bytes).
    fn record_alias(&self, source: &RecipeSource, digest: &Sha256Digest) -> Result<(), SourceError> {
        match &source.sha512 {
            Some(sha512) => self.index().put_alias(SHA512, sha512, &digest.to_hex()),
            None => Ok(()),
        }
    }

    /// The size of the stored object for `digest`, if it is stored.
    async fn stored_size(
        &self,
        source: &RecipeSource,
        digest: &Sha256Digest,
    ) -> Result<Option<u64>, SourceError> {
        let key = source_key(digest).map_err(|e| self.key_error(source, e))?;
        let meta = self
            .storage
            .head(&key)
            .await
            .map_err(|error| self.storage_error(source, error))?;
        // An object whose recorded digest differs is not this source (a foreign object at our key).
        Ok(meta
            .filter(|m| m.sha256.is_none_or(|recorded| recorded == *digest))
            .map(|m| m.size))
    }

    /// Uploads `path` under the content key of `digest`, declaring the digest.
    async fn store(
        &self,
        source: &RecipeSource,
        path: &Path,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<(), SourceError> {
        let key = source_key(digest).map_err(|e| self.key_error(source, e))?;
        let mut file = tokio::fs::File::open(path).await.map_err(|e| local(path, e))?;
        let options = PutOptions {
            content_type: Some("application/octet-stream".into()),
            cache_control: CacheControl::Immutable,
            sha256: Some(*digest),
        };
        self.storage
            .put(&key, &mut file, size, &options)
            .await
            .map_err(|error| self.storage_error(source, error))?;
        Ok(())
    }

    /// The row `source` has with `digest` (keeping an existing row's URI and provenance).
    fn row_for(
        &self,
        source: &RecipeSource,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<SourceRow, SourceError> {
        let existing = self
            .index()
            .get(&source.recipe, &source.index)?
            .filter(|row| row.sha256 == digest.to_hex());
        Ok(existing.unwrap_or_else(|| SourceRow {
            recipe: source.recipe.clone(),
            source_index: source.index.clone(),
            port: source.port.clone(),
            file_name: source.file_name.clone(),
            uri: source.uris.first().cloned().unwrap_or_default(),
            sha256: digest.to_hex(),
            size,
            verified_by: vouched_by(source).to_owned(),
            stored_at: now(),
        }))
    }

    /// The source's URIs, then the mirror's copy (HaikuPorter's `Source.__init__`).
    fn candidates(&self, source: &RecipeSource) -> Vec<String> {
        let mut uris = source.uris.clone();
        if let (Some(mirror), Some(first)) = (&self.settings.mirror, source.uris.first()) {
            let port_dir = source
                .port_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let fragment = first.find('#').map(|at| &first[at..]).unwrap_or("");
            if let Some(port_dir) = port_dir {
                uris.push(format!(
                    "{}/{port_dir}/{}{fragment}",
                    mirror.trim_end_matches('/'),
                    file_name_of(first)
                ));
            }
        }
        uris
    }

    fn storage_error(&self, source: &RecipeSource, error: buildmaster_storage::StorageError) -> SourceError {
        SourceError::Storage {
            port: source.port.clone(),
            source_index: source.index.clone(),
            error: Box::new(error),
        }
    }

    fn key_error(&self, source: &RecipeSource, error: buildmaster_storage::KeyError) -> SourceError {
        SourceError::Recipe {
            port: source.port.clone(),
            message: format!("no storage key for source {}: {error}", source.index),
        }
    }
}

/// Where `source`'s checksum is written: a Debian tree's pin file, else the recipe's
/// `CHECKSUM_SHA256` (said in a refusal, so the operator knows which file to look at).
fn checksum_origin(source: &RecipeSource) -> &'static str {
    if source.recipe.ends_with(ORIG_CHECKSUMS) {
        ORIG_CHECKSUMS
    } else {
        "CHECKSUM_SHA256"
    }
}

/// What vouches for `source`'s bytes: its recipe's checksum, its `sources` file's SHA-512, or a pin.
fn vouched_by(source: &RecipeSource) -> &'static str {
    if source.checksum.is_some() {
        BY_CHECKSUM
    } else if source.sha512.is_some() {
        BY_SHA512
    } else {
        BY_PIN
    }
}

/// Whether a source without checksum can still be pinned: it names content that cannot change.
fn cannot_move(origin: &Origin) -> bool {
    origin.is_pinned_commit() || matches!(origin, Origin::PortFile { .. })
}

/// Whether `row` records an operator's upload of `source`.
fn is_upload_of(row: &SourceRow, source: &RecipeSource) -> bool {
    row.uri.starts_with("upload:") && row.file_name == source.file_name
}

/// Copies a file of the port's directory into the spool (HaikuPorter's `SourceFetcherForLocalFile`).
async fn copy_port_file(
    source: &RecipeSource,
    relative: &str,
    spool: &mut SpoolFile,
) -> Result<(), DownloadError> {
    if relative.split('/').any(|part| part == "..") || relative.starts_with('/') {
        return Err(DownloadError::Permanent(format!(
            "{relative}: a port file must be inside the port's directory"
        )));
    }
    let path = source.port_dir.join(relative);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| DownloadError::Permanent(format!("{}: {e}", path.display())))?;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| DownloadError::Permanent(format!("{}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        spool.write(&buffer[..n]).await?;
    }
}

/// SHA-256 and size of a local file, and its SHA-512 (lowercase hex) when `with_sha512`, in one read.
async fn hash_file(
    path: &Path,
    with_sha512: bool,
) -> Result<(Sha256Digest, u64, Option<String>), SourceError> {
    let mut file = tokio::fs::File::open(path).await.map_err(|e| local(path, e))?;
    let mut hasher = Sha256::new();
    let mut sha512 = with_sha512.then(Sha512::new);
    let mut size = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).await.map_err(|e| local(path, e))?;
        if n == 0 {
            let sha512 = sha512.map(|h| hex::encode(h.finalize()));
            return Ok((Sha256Digest(hasher.finalize().into()), size, sha512));
        }
        hasher.update(&buffer[..n]);
        if let Some(h) = sha512.as_mut() {
            h.update(&buffer[..n]);
        }
        size += n as u64;
    }
}

fn local(path: &Path, error: impl std::fmt::Display) -> SourceError {
    SourceError::Local {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
