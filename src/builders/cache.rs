//! A builder's package cache (`<packagesPath>/.cache`) and the visible package set
//! (`<packagesPath>`, what the build tool resolves dependencies from).
//!
//! - Only missing packages are sent, streamed from the spool when the local file is real and straight
//!   from [`StorageBackend::get`] into the SFTP upload when it is a stub — no temporary local copy.
//! - Every upload lands in `<name>.upload`, is checked against the record's size and SHA-256, and is
//!   renamed into place. A cached file whose size disagrees with the record is sent again.
//! - Up to [`FILES_IN_FLIGHT`] packages stream at once, each through its own `.upload` file (a name is
//!   never sent twice at once); the listing records a package only once it is verified in place.
//! - Stale `.upload` files (from a connection lost mid-upload) are removed when the cache is scanned,
//!   which happens at (re)connect before this coordinator — the only writer of this cache — uploads
//!   anything, so an upload in progress is never reaped.
//! - Pruning removes cached packages that left the repository, but never system packages (HaikuPorter
//!   PR #291: pruning them only made every build run upload them again). A remote builder prunes on
//!   every connect, as HaikuPorter's `_removeObsoletePackages` does, with a [`KeepSource`] asked at
//!   that moment (the repository changes while the buildmaster runs).
//! - The visible set is exactly the build's dependencies: symlinks in `<packagesPath>` into the cache.
//!   Verified results of a build move into the cache (see [`PackageCache::adopt`]), as HaikuPorter
//!   does, so later dependents reuse them without an upload; any other real file found there (left by
//!   a failed build, never verified) is removed rather than trusted.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use buildmaster_storage::StorageBackend;
use futures::{stream, StreamExt};

use super::error::BuilderError;
use super::host::BuilderHost;
use super::package::{PackageSource, WantedPackage};
use super::sftp::{Expected, UPLOAD_SUFFIX};
use crate::toolchains::DependencyPlacement;

/// Dependencies [`PackageCache::ensure`] streams at once over the builder's one connection. A single
/// file already keeps [`CONCURRENT_REQUESTS`](super::sftp::CONCURRENT_REQUESTS) writes in flight, but
/// each file also waits for its open, its last write, its close and its rename (four round trips) with
/// nothing else on the wire; with a few files in flight another file's writes fill those gaps. Small
/// because each file in flight holds a read buffer, and one read from storage holds up to the S3
/// backend's `parts_in_flight × part_size`.
pub const FILES_IN_FLIGHT: usize = 4;

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheListing {
    /// Cached package files and their sizes.
    pub packages: BTreeMap<String, u64>,
    /// Leftover `.upload` files that were removed.
    pub removed_uploads: Vec<String>,
}

impl CacheListing {
    /// Total bytes of cached packages.
    pub fn total_bytes(&self) -> u64 {
        self.packages.values().sum()
    }

    /// Whether the cache holds `package` with its recorded size (checked without reading the file;
    /// its SHA-256 was verified when it was sent).
    pub fn holds(&self, package: &WantedPackage) -> bool {
        self.packages.get(&package.file_name) == Some(&package.size)
    }

    /// How many of `deps` the cache holds: the scheduler prefers the builder that holds the most.
    pub fn holds_count(&self, deps: &[WantedPackage]) -> usize {
        deps.iter().filter(|d| self.holds(d)).count()
    }

    /// Cached packages that are neither in `keep` (the repository's packages) nor system packages:
    /// what a prune removes. System packages are never stale.
    pub fn stale(&self, keep: &HashSet<String>, system: &HashSet<String>) -> Vec<String> {
        self.packages
            .keys()
            .filter(|name| !keep.contains(*name) && !system.contains(*name))
            .cloned()
            .collect()
    }
}

/// What a prune keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepSet {
    /// File names of the repository's packages (HaikuPorter: `packageRepository.hasPackage`).
    pub repository: HashSet<String>,
    /// File names of the system packages (HaikuPorter: the `systemPackagesDirectory`).
    pub system: HashSet<String>,
}

/// Asked for the [`KeepSet`] each time a builder connects; an error (e.g. the state database is
/// unreadable) skips that prune rather than failing the connect: pruning only saves disk.
pub type KeepSource = std::sync::Arc<dyn Fn() -> Result<KeepSet, String> + Send + Sync>;

/// What [`PackageCache::ensure`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferReport {
    /// Packages that were sent, in the order they arrived.
    pub sent: Vec<String>,
    /// Bytes sent.
    pub bytes: u64,
    /// Packages already cached.
    pub already_cached: Vec<String>,
}

/// One builder's cache, reached through its [`BuilderHost`] (SSH or the master itself).
pub struct PackageCache<'a> {
    /// Files and commands on the builder.
    host: &'a dyn BuilderHost,
    /// Where the cache and the visible set are, and which files are packages.
    place: DependencyPlacement,
    /// Dependencies whose spool file is a stub are read from here.
    storage: Option<Arc<dyn StorageBackend>>,
    /// How many packages [`Self::ensure`] streams at once ([`FILES_IN_FLIGHT`] unless set).
    files_in_flight: usize,
}

impl<'a> PackageCache<'a> {
    /// The cache `place` describes on `host`; dependencies not in the spool are read from `storage`.
    pub fn new(
        host: &'a dyn BuilderHost,
        place: DependencyPlacement,
        storage: Option<Arc<dyn StorageBackend>>,
    ) -> Self {
        Self {
            host,
            place,
            storage,
            files_in_flight: FILES_IN_FLIGHT,
        }
    }

    /// Streams up to `files` packages at once instead of [`FILES_IN_FLIGHT`] (at least one: `1`
    /// sends one after another). `bench/sftp` measures the bound with it.
    pub fn with_files_in_flight(mut self, files: usize) -> Self {
        self.files_in_flight = files.max(1);
        self
    }

    fn builder(&self) -> &str {
        self.host.builder()
    }

    fn cache_path(&self, name: &str) -> String {
        format!("{}/{name}", self.place.cache_dir)
    }

    fn is_package(&self, name: &str) -> bool {
        name.ends_with(self.place.extension)
    }

    /// Creates the directories, lists the cache and removes stale `.upload` files.
    pub async fn scan(&self) -> Result<CacheListing, BuilderError> {
        self.host.mkdir_p(&self.place.cache_dir).await?;
        self.host.mkdir_p(&self.place.visible_dir).await?;
        let mut listing = CacheListing::default();
        for entry in self.host.list(&self.place.cache_dir).await? {
            if entry.name.ends_with(UPLOAD_SUFFIX) {
                self.host.remove(&self.cache_path(&entry.name)).await?;
                tracing::info!(
                    builder = self.builder(),
                    file = entry.name,
                    "removed a stale upload"
                );
                listing.removed_uploads.push(entry.name);
            } else if entry.is_file && self.is_package(&entry.name) {
                listing.packages.insert(entry.name, entry.size);
            }
        }
        Ok(listing)
    }

    /// Sends every package of `wanted` that `listing` does not hold with the recorded size, up to
    /// [`FILES_IN_FLIGHT`] at once (see [`Self::with_files_in_flight`]); updates `listing` with each package once it is verified in place.
    ///
    /// On the first failure no further package is started; those already in flight finish (each
    /// removes its own `.upload` file if it fails), so nothing is cut off mid-stream while the
    /// connection still works, and the first error is returned.
    pub async fn ensure(
        &self,
        listing: &mut CacheListing,
        wanted: &[WantedPackage],
    ) -> Result<TransferReport, BuilderError> {
        let mut report = TransferReport::default();
        let mut missing = Vec::new();
        let mut queued = HashSet::new();
        for package in wanted {
            // A name listed twice is sent once: two uploads must never share one `.upload` file.
            if listing.holds(package) || !queued.insert(package.file_name.as_str()) {
                report.already_cached.push(package.file_name.clone());
            } else {
                missing.push(package);
            }
        }
        let failed = AtomicBool::new(false);
        // The futures are made up front (they do nothing until polled): a closure mapping the stream
        // would borrow each package for a lifetime the `Send` check of callers cannot name.
        let sends: Vec<_> = missing
            .into_iter()
            .map(|package| self.send_unless_failed(package, &failed))
            .collect();
        let mut sends = stream::iter(sends).buffer_unordered(self.files_in_flight);
        let mut first_error = None;
        while let Some((package, result)) = sends.next().await {
            match result {
                Ok(true) => {
                    listing.packages.insert(package.file_name.clone(), package.size);
                    report.sent.push(package.file_name.clone());
                    report.bytes += package.size;
                }
                Ok(false) => {}
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// Sends `package` into the cache unless an earlier send of the same [`ensure`](Self::ensure)
    /// `failed` (then `Ok(false)`); a failure here sets `failed`.
    async fn send_unless_failed<'p>(
        &self,
        package: &'p WantedPackage,
        failed: &AtomicBool,
    ) -> (&'p WantedPackage, Result<bool, BuilderError>) {
        if failed.load(Ordering::Relaxed) {
            return (package, Ok(false));
        }
        let bytes = Bytes {
            name: &package.file_name,
            source: package.source(),
            expected: package.expected(),
        };
        let dest = self.cache_path(&package.file_name);
        let result = send(self.host, self.storage.as_ref(), bytes, &dest).await;
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        (package, result.map(|()| true))
    }

    /// Removes cached packages that are neither in `keep` (the repository's packages) nor system
    /// packages. Returns what was removed.
    pub async fn prune(
        &self,
        listing: &mut CacheListing,
        keep: &HashSet<String>,
        system: &HashSet<String>,
    ) -> Result<Vec<String>, BuilderError> {
        let stale = listing.stale(keep, system);
        for name in &stale {
            self.host.remove(&self.cache_path(name)).await?;
            listing.packages.remove(name);
            tracing::info!(
                builder = self.builder(),
                file = name,
                "pruned from the builder cache"
            );
        }
        Ok(stale)
    }

    /// Makes exactly `deps` visible: removes every other package from the visible directory and links
    /// each dependency into the cache.
    pub async fn make_visible(&self, deps: &[WantedPackage]) -> Result<(), BuilderError> {
        self.clear_visible().await?;
        for dep in deps {
            let link = format!("{}/{}", self.place.visible_dir, dep.file_name);
            self.host.symlink(&self.cache_path(&dep.file_name), &link).await?;
        }
        Ok(())
    }

    /// Empties the visible directory of packages (links and unverified files alike).
    pub async fn clear_visible(&self) -> Result<(), BuilderError> {
        for entry in self.host.list(&self.place.visible_dir).await? {
            if self.is_package(&entry.name) {
                self.host
                    .remove(&format!("{}/{}", self.place.visible_dir, entry.name))
                    .await?;
            }
        }
        Ok(())
    }

    /// Moves a verified build result from `from_dir` (where the build left it) into the cache.
    pub async fn adopt(
        &self,
        listing: &mut CacheListing,
        from_dir: &str,
        name: &str,
        size: u64,
    ) -> Result<(), BuilderError> {
        let from = format!("{from_dir}/{name}");
        self.host.rename(&from, &self.cache_path(name)).await?;
        listing.packages.insert(name.into(), size);
        Ok(())
    }
}

/// A file to stream to a builder: its name (for errors), where its bytes are, what they must be.
pub struct Bytes<'a> {
    /// The file's name.
    pub name: &'a str,
    /// Where its bytes are (`None`: nowhere the master can read).
    pub source: Option<PackageSource>,
    /// What the bytes must be.
    pub expected: Expected,
}

/// Streams `bytes` to `dest` on `host` — from the spool file, or straight from storage into the
/// upload with no local copy — verified by size and SHA-256 while streaming.
pub async fn send(
    host: &dyn BuilderHost,
    storage: Option<&Arc<dyn StorageBackend>>,
    bytes: Bytes<'_>,
    dest: &str,
) -> Result<(), BuilderError> {
    let builder = host.builder();
    let no_bytes = |reason: &str| BuilderError::Sftp {
        builder: builder.into(),
        op: "find the bytes of",
        path: bytes.name.into(),
        reason: reason.into(),
    };
    let source = bytes
        .source
        .clone()
        .ok_or_else(|| no_bytes("neither a real spool file nor a storage key"))?;
    tracing::info!(builder, file = bytes.name, ?source, "sending");
    match source {
        PackageSource::Spool(path) => {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| BuilderError::Local {
                    op: "open spool file",
                    path: path.clone(),
                    source: e,
                })?;
            host.upload(&mut file, dest, bytes.expected).await?;
        }
        PackageSource::Storage(key) => {
            let storage = storage
                .ok_or_else(|| no_bytes("the spool file is a stub and no storage backend is configured"))?;
            let mut object = storage.get(&key).await.map_err(|source| BuilderError::Storage {
                builder: builder.into(),
                file: bytes.name.into(),
                source,
            })?;
            host.upload(&mut object.body, dest, bytes.expected).await?;
        }
    }
    Ok(())
}
