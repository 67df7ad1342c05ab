//! Debian repositories (apt): `.deb` inspection, `Packages`, `Release`, `InRelease`, by-hash.
//!
//! [`DebianFormat`] is the [`RepositoryFormat`] for one apt repository root holding many
//! distributions (`dists/<codename>/`), each a [`RepositoryTarget`] with [`DebianSettings`]. What it
//! writes and why is in docs/formats-debian.md.
//!
//! # Layout
//! - [`inspect`]: a `.deb` in one streaming pass → [`InspectedPackage`] whose `entry` is the control
//!   stanza plus `Size`, `MD5sum`, `SHA256` (no `Filename`: where a file is published is the
//!   publisher's, added at render time).
//! - [`control`]: deb822 stanzas. [`version`]: dpkg version ordering. [`relation`]: `Depends`-style
//!   fields.
//! - [`packages`], [`release`], [`render`]: the index set of a distribution.
//! - [`check`]: dependency resolvability.

pub mod check;
pub mod control;
pub mod inspect;
pub mod packages;
pub mod relation;
pub mod release;
pub mod render;
pub mod version;

#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod test_support;

use std::path::Path;
use std::time::SystemTime;

use super::chunks::ChunkCache;
use super::{
    DebianSettings, FormatError, FormatKind, FormatSettings, IndexFile, IndexedPackage, InspectedPackage,
    RepositoryFormat, RepositoryTarget, Sign, Unresolved,
};

/// The Debian repository format. Everything a repository needs is in its target; the format holds
/// only the cache of compressed index chunks, which saves time and nothing else.
#[derive(Clone, Debug, Default)]
pub struct DebianFormat {
    /// Compressed `Packages` chunks of earlier publishes.
    cache: ChunkCache,
}

impl DebianFormat {
    /// The format, caching compressed index chunks under `cache_dir` (the instance's state).
    pub fn with_cache(cache_dir: std::path::PathBuf) -> Self {
        Self {
            cache: ChunkCache::in_dir(cache_dir),
        }
    }
}

impl DebianFormat {
    /// The Debian settings of `target`, or why it is not a Debian repository.
    fn settings(target: &RepositoryTarget) -> Result<&DebianSettings, FormatError> {
        match &target.settings {
            FormatSettings::Debian(settings) => Ok(settings),
            _ => Err(FormatError::Settings {
                id: target.id.clone(),
                reason: "not a Debian repository".into(),
            }),
        }
    }
}

impl RepositoryFormat for DebianFormat {
    fn kind(&self) -> FormatKind {
        FormatKind::Debian
    }

    fn inspect(&self, path: &Path) -> Result<InspectedPackage, FormatError> {
        inspect::inspect(path)
    }

    fn is_arch_independent(&self, architecture: &str) -> bool {
        architecture == packages::ARCH_ALL
    }

    fn accepts(&self, target: &RepositoryTarget, architecture: &str) -> bool {
        Self::settings(target).is_ok_and(|s| {
            self.is_arch_independent(architecture) || s.architectures.iter().any(|a| a == architecture)
        })
    }

    fn render(
        &self,
        target: &RepositoryTarget,
        packages: &[IndexedPackage],
        signer: Option<&dyn Sign>,
        now: SystemTime,
    ) -> Result<Vec<IndexFile>, FormatError> {
        render::render(
            target,
            Self::settings(target)?,
            packages,
            signer,
            now,
            &self.cache,
        )
    }

    fn check(
        &self,
        packages: &[IndexedPackage],
        base: &[IndexedPackage],
    ) -> Result<Vec<Unresolved>, FormatError> {
        check::check(packages, base)
    }
}
