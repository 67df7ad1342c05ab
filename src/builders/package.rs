//! What a builder needs to know about a file it must have — a dependency package ([`WantedPackage`])
//! or another input of the job such as a source archive ([`PlacedInput`]): its name, size and SHA-256
//! (from the package record or the job manifest), and where its bytes are. The publishing pipeline
//! and the source cache fill these; the builders only read them.

use std::path::{Path, PathBuf};

use buildmaster_storage::{ObjectKey, Sha256Digest};

use super::sftp::Expected;

/// A package a build needs (a dependency) or the cache must keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedPackage {
    /// Canonical file name, `name-version-arch.hpkg`.
    pub file_name: String,
    /// Size in bytes, from the package record.
    pub size: u64,
    /// SHA-256, from the package record.
    pub sha256: Sha256Digest,
    /// The file in the master's spool: either the real bytes, or a zero-byte stub once the package
    /// was uploaded to storage and verified.
    pub local: Option<PathBuf>,
    /// The object in storage holding the bytes, when the package has been uploaded.
    pub key: Option<ObjectKey>,
    /// A system package (from the system-packages directory): never pruned from a builder's cache.
    pub system: bool,
}

/// Where to read a package's bytes from, decided at transfer time (the publisher may stub a spool
/// file between scheduling and transfer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageSource {
    /// A real local file of the right size.
    Spool(PathBuf),
    /// Storage; the local file is a stub or absent.
    Storage(ObjectKey),
}

impl WantedPackage {
    /// What the transferred bytes must be.
    pub fn expected(&self) -> Expected {
        Expected {
            size: self.size,
            sha256: self.sha256,
        }
    }

    /// Where the bytes are now: the spool when the local file is real (its size matches the record),
    /// storage when it is a zero-byte stub or missing. `None` if neither holds them.
    pub fn source(&self) -> Option<PackageSource> {
        bytes_source(self.local.as_deref(), self.key.as_ref(), self.size)
    }
}

/// A file the job needs at a given place on the builder besides its dependencies — a source archive
/// from the source cache, HaikuPorter's `.uri` beside it — streamed and verified like a dependency,
/// and checked again on the builder before the build starts (see [`super::build`]). The job manifest
/// lists these; the toolchain says where they go
/// ([`Toolchain::input_path`](crate::toolchains::Toolchain::input_path)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedInput {
    /// The input's name as the job manifest lists it (for errors).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: Sha256Digest,
    /// Absolute path on the builder.
    pub dest: String,
    /// A local file holding the bytes, if any.
    pub local: Option<PathBuf>,
    /// The storage object holding the bytes, if any.
    pub key: Option<ObjectKey>,
}

impl PlacedInput {
    /// What the bytes must be.
    pub fn expected(&self) -> Expected {
        Expected {
            size: self.size,
            sha256: self.sha256,
        }
    }

    /// Where the bytes are now (see [`WantedPackage::source`]).
    pub fn source(&self) -> Option<PackageSource> {
        bytes_source(self.local.as_deref(), self.key.as_ref(), self.size)
    }
}

/// The local file when it is real (its size is `size`), else the storage object.
fn bytes_source(local: Option<&Path>, key: Option<&ObjectKey>, size: u64) -> Option<PackageSource> {
    if let Some(local) = local {
        if local_size(local) == Some(size) {
            return Some(PackageSource::Spool(local.to_path_buf()));
        }
    }
    key.cloned().map(PackageSource::Storage)
}

fn local_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_spool_file_wins_and_a_stub_falls_back_to_storage() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("a-1-1-x86_64.hpkg");
        std::fs::write(&real, b"0123").unwrap();
        let key = ObjectKey::new("packages/a-1-1-x86_64.hpkg").unwrap();
        let mut p = WantedPackage {
            file_name: "a-1-1-x86_64.hpkg".into(),
            size: 4,
            sha256: Sha256Digest::of(b"0123"),
            local: Some(real.clone()),
            key: Some(key.clone()),
            system: false,
        };
        assert_eq!(p.source(), Some(PackageSource::Spool(real.clone())));
        std::fs::write(&real, b"").unwrap();
        assert_eq!(p.source(), Some(PackageSource::Storage(key)));
        p.key = None;
        assert_eq!(p.source(), None);
    }
}
