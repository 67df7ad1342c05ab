//! RPM repositories (dnf): `.rpm` header inspection and `repodata/`.
//!
//! - [`inspect`]: one streaming pass over a package → identity, SHA-256 and its [`entry::RpmEntry`].
//! - [`header`]: reading and bounds-checking the lead and headers before the `rpm` crate parses them.
//! - [`entry`]: the stored index entry (everything the three metadata files say about a package).
//! - [`xml`]: one package's primary/filelists/other XML.
//! - [`repodata`]: the repository's `repodata/` files in upload order.
//! - [`chunk_cache`]: rendered repodata chunks kept between publishes, keyed by their inputs.
//! - [`check`]: installability (Requires against Provides and files).
//! - [`vercmp`]: rpm's version ordering and dependency-range matching.
//!
//! What dnf needs and the decisions behind this module: docs/formats-rpm.md.

pub mod check;
pub mod chunk_cache;
pub mod entry;
pub mod header;
pub mod inspect;
pub mod repodata;
pub mod vercmp;
pub mod xml;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cached;

use std::path::Path;
use std::time::SystemTime;

use super::{
    FormatError, FormatKind, FormatSettings, IndexFile, IndexedPackage, InspectedPackage, PackageSource,
    RepositoryFormat, RepositoryTarget, Sign, Unresolved,
};

/// Architecture of packages that install on every architecture.
pub const NOARCH: &str = "noarch";

/// The RPM format. Everything it needs arrives with each call; it holds only the cache of rendered
/// metadata chunks, which saves time and nothing else.
#[derive(Clone, Debug, Default)]
pub struct RpmFormat {
    /// Rendered metadata chunks of earlier publishes.
    cache: chunk_cache::ChunkCache,
}

impl RpmFormat {
    /// The format, caching rendered metadata chunks under `cache_dir` (the instance's state).
    pub fn with_cache(cache_dir: std::path::PathBuf) -> Self {
        Self {
            cache: chunk_cache::ChunkCache::in_dir(cache_dir),
        }
    }
}

impl RpmFormat {
    fn settings<'a>(&self, target: &'a RepositoryTarget) -> Result<&'a super::RpmSettings, FormatError> {
        match &target.settings {
            FormatSettings::Rpm(s) => Ok(s),
            _ => Err(FormatError::Settings {
                id: target.id.clone(),
                reason: format!(
                    "is a {} repository, not an RPM one",
                    target.settings.kind().as_str()
                ),
            }),
        }
    }
}

impl RepositoryFormat for RpmFormat {
    fn kind(&self) -> FormatKind {
        FormatKind::Rpm
    }

    fn inspect(&self, path: &Path) -> Result<InspectedPackage, FormatError> {
        inspect::inspect(path)
    }

    fn is_arch_independent(&self, architecture: &str) -> bool {
        architecture == NOARCH
    }

    fn accepts(&self, target: &RepositoryTarget, architecture: &str) -> bool {
        match self.settings(target) {
            Ok(s) => architecture == NOARCH || architecture == s.arch,
            Err(_) => false,
        }
    }

    fn render(
        &self,
        target: &RepositoryTarget,
        packages: &[IndexedPackage],
        signer: Option<&dyn Sign>,
        now: SystemTime,
    ) -> Result<Vec<IndexFile>, FormatError> {
        self.settings(target)?;
        repodata::render(target, packages, signer, now, &self.cache)
    }

    fn render_from(
        &self,
        target: &RepositoryTarget,
        source: &mut dyn PackageSource,
        signer: Option<&dyn Sign>,
        now: SystemTime,
    ) -> Result<Vec<IndexFile>, FormatError> {
        self.settings(target)?;
        repodata::render_from(target, source, signer, now, &self.cache)
    }

    fn check(
        &self,
        packages: &[IndexedPackage],
        base: &[IndexedPackage],
    ) -> Result<Vec<Unresolved>, FormatError> {
        check::check(packages, base)
    }
}
