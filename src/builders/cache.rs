//! A builder's package cache (`<packagesPath>/.cache`) and the visible package set
//! (`<packagesPath>`, what the build tool resolves dependencies from).
//!
//! - Only missing packages are sent, streamed from the spool when the local file is real and straight
//!   from [`StorageBackend::get`] into the SFTP upload when it is a stub — no temporary local copy.
//! - Every upload lands in `<name>.upload`, is checked against the record's size and SHA-256, and is
//!   renamed into place. A cached file whose size disagrees with the record is sent again.
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
use std::sync::Arc;

use buildmaster_storage::StorageBackend;

use super::error::BuilderError;
use super::package::{PackageSource, WantedPackage};
use super::sftp::{Sftp, UPLOAD_SUFFIX};

/// Extension of Haiku package files.
pub const PACKAGE_EXTENSION: &str = ".hpkg";

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
    /// Packages that were sent, in order.
    pub sent: Vec<String>,
    /// Bytes sent.
    pub bytes: u64,
    /// Packages already cached.
    pub already_cached: Vec<String>,
}

/// One builder's cache, reached through its SFTP session.
pub struct PackageCache<'a> {
    builder: &'a str,
    sftp: &'a Sftp,
    cache_dir: &'a str,
    visible_dir: &'a str,
    storage: Option<Arc<dyn StorageBackend>>,
}

impl<'a> PackageCache<'a> {
    /// A cache in `cache_dir`, visible packages in `visible_dir`, dependencies not in the spool read
    /// from `storage`.
    pub fn new(
        builder: &'a str,
        sftp: &'a Sftp,
        cache_dir: &'a str,
        visible_dir: &'a str,
        storage: Option<Arc<dyn StorageBackend>>,
    ) -> Self {
        Self {
            builder,
            sftp,
            cache_dir,
            visible_dir,
            storage,
        }
    }

    fn cache_path(&self, name: &str) -> String {
        format!("{}/{name}", self.cache_dir)
    }

    /// Creates the directories, lists the cache and removes stale `.upload` files.
    pub async fn scan(&self) -> Result<CacheListing, BuilderError> {
        self.sftp.mkdir_p(self.cache_dir).await?;
        self.sftp.mkdir_p(self.visible_dir).await?;
        let mut listing = CacheListing::default();
        for entry in self.sftp.list(self.cache_dir).await? {
            if entry.name.ends_with(UPLOAD_SUFFIX) {
                self.sftp.remove(&self.cache_path(&entry.name)).await?;
                tracing::info!(
                    builder = self.builder,
                    file = entry.name,
                    "removed a stale upload"
                );
                listing.removed_uploads.push(entry.name);
            } else if entry.is_file && entry.name.ends_with(PACKAGE_EXTENSION) {
                listing.packages.insert(entry.name, entry.size);
            }
        }
        Ok(listing)
    }

    /// Sends every package of `wanted` that `listing` does not hold with the recorded size; updates
    /// `listing`.
    pub async fn ensure(
        &self,
        listing: &mut CacheListing,
        wanted: &[WantedPackage],
    ) -> Result<TransferReport, BuilderError> {
        let mut report = TransferReport::default();
        for package in wanted {
            if listing.holds(package) {
                report.already_cached.push(package.file_name.clone());
                continue;
            }
            self.send(package).await?;
            listing.packages.insert(package.file_name.clone(), package.size);
            report.sent.push(package.file_name.clone());
            report.bytes += package.size;
        }
        Ok(report)
    }

    /// Streams one package into the cache, verified.
    async fn send(&self, package: &WantedPackage) -> Result<(), BuilderError> {
        let dest = self.cache_path(&package.file_name);
        let source = package.source().ok_or_else(|| BuilderError::Sftp {
            builder: self.builder.into(),
            op: "find the bytes of",
            path: package.file_name.clone(),
            reason: "neither a real spool file nor a storage key".into(),
        })?;
        tracing::info!(
            builder = self.builder,
            file = package.file_name,
            ?source,
            "sending package"
        );
        match source {
            PackageSource::Spool(path) => {
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| BuilderError::Local {
                        op: "open spool file",
                        path: path.clone(),
                        source: e,
                    })?;
                self.sftp.upload(&mut file, &dest, package.expected()).await?;
            }
            PackageSource::Storage(key) => {
                let storage = self.storage.as_ref().ok_or_else(|| BuilderError::Sftp {
                    builder: self.builder.into(),
                    op: "find the bytes of",
                    path: package.file_name.clone(),
                    reason: "the spool file is a stub and no storage backend is configured".into(),
                })?;
                let storage_err = |source| BuilderError::Storage {
                    builder: self.builder.into(),
                    file: package.file_name.clone(),
                    source,
                };
                let mut object = storage.get(&key).await.map_err(storage_err)?;
                self.sftp
                    .upload(&mut object.body, &dest, package.expected())
                    .await?;
            }
        }
        Ok(())
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
            self.sftp.remove(&self.cache_path(name)).await?;
            listing.packages.remove(name);
            tracing::info!(
                builder = self.builder,
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
            let link = format!("{}/{}", self.visible_dir, dep.file_name);
            self.sftp.symlink(&self.cache_path(&dep.file_name), &link).await?;
        }
        Ok(())
    }

    /// Empties the visible directory of packages (links and unverified files alike).
    pub async fn clear_visible(&self) -> Result<(), BuilderError> {
        for entry in self.sftp.list(self.visible_dir).await? {
            if entry.name.ends_with(PACKAGE_EXTENSION) {
                self.sftp
                    .remove(&format!("{}/{}", self.visible_dir, entry.name))
                    .await?;
            }
        }
        Ok(())
    }

    /// Moves a verified build result from the visible directory into the cache.
    pub async fn adopt(&self, listing: &mut CacheListing, name: &str, size: u64) -> Result<(), BuilderError> {
        let from = format!("{}/{name}", self.visible_dir);
        self.sftp.rename(&from, &self.cache_path(name)).await?;
        listing.packages.insert(name.into(), size);
        Ok(())
    }
}
