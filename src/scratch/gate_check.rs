//! The gate of a scratch build: its packages are inspected through their format
//! ([`inspect_built`]), uploaded to the gate's staging storage under `scratch/<N>/` (never promoted,
//! never linked: nothing reads that prefix but prune), and checked for installability — the result
//! in format-neutral terms ([`Installability`], [`Unmet`]).
//!
//! A HaikuPorts tree's packages ([`haikuports`]) are checked with Haiku's solver rules
//! ([`crate::formats::haiku::check`]) against the instance's published HaikuPorts repository
//! (`<state>/repository/repo`), the other packages of the same scratch build and the system
//! packages. That is HaikuPorts-build code, with Haiku types on purpose: the HaikuPorts repository
//! a buildrun publishes is the publisher's own `repo` file and system-packages directory, not a
//! `[[repositories]]` entry behind the format seam (issue 14 names moving it there). A Debian or RPM
//! tree's packages are checked in their `[ports] repository` through the formats' resolvers
//! ([`super::repository_check`]).

use std::path::{Path, PathBuf};

use buildmaster_storage::{ObjectKey, PutOptions, StorageBackend};
use serde::Serialize;

use super::ScratchError;
use crate::formats::haiku::check::{check, system_packages, Unresolved};
use crate::formats::FormatKind;
use crate::gate::store::StagedPackage;
use crate::haiku::hpkg_reader::read_package;
use crate::haiku::hpkr_reader::read_repository;
use crate::haiku::package_info::PackageInfo;
use crate::publish::keys;

/// The staging key prefix of scratch build `id`.
pub fn staging_prefix(id: u64) -> String {
    format!("scratch/{id}/")
}

/// Uploads `files` to `staging` under the scratch prefix; the keys written.
pub async fn stage(
    staging: &dyn StorageBackend,
    id: u64,
    files: &[PathBuf],
) -> Result<Vec<String>, ScratchError> {
    let mut keys = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = ObjectKey::new(format!("{}{name}", staging_prefix(id)))
            .map_err(|e| ScratchError::Staging(format!("{name}: {e}")))?;
        let mut body = tokio::fs::File::open(file)
            .await
            .map_err(|e| ScratchError::Staging(format!("{}: {e}", file.display())))?;
        let size = body
            .metadata()
            .await
            .map_err(|e| ScratchError::Staging(format!("{}: {e}", file.display())))?
            .len();
        staging
            .put(&key, &mut body, size, &PutOptions::package(None))
            .await
            .map_err(|e| ScratchError::Staging(e.to_string()))?;
        keys.push(key.as_str().to_string());
    }
    Ok(keys)
}

/// The installability check's result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Installability {
    /// Packages checked (the scratch build's).
    pub packages: usize,
    /// Packages they were checked against (published + system).
    pub against: usize,
    /// Every requirement nothing provides.
    pub unresolved: Vec<Unmet>,
}

/// A requirement of a scratch package that nothing provides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmet {
    /// The package's file name.
    pub package: String,
    /// The requirement as the package states it (`lib:libfoo >= 1.2`, `libgreet (>= 1.0)`).
    pub requires: String,
}

impl From<Unresolved> for Unmet {
    fn from(u: Unresolved) -> Self {
        Self {
            package: u.package,
            requires: u.requires,
        }
    }
}

/// The `built` files inspected by their `format` (read once, hashed while parsed), as packages of
/// a pipeline targeting `target`, with their staging keys (`staged`, in the same order, when staged).
pub fn inspect_built(
    format: FormatKind,
    built: &[PathBuf],
    staged: &[String],
    target: &str,
) -> Result<Vec<StagedPackage>, ScratchError> {
    let format = crate::repos::Formats::available()
        .get(format)
        .map_err(|e| ScratchError::Check(e.to_string()))?;
    built
        .iter()
        .enumerate()
        .map(|(index, file)| {
            Ok(StagedPackage {
                format: format.kind(),
                pool_key: staged.get(index).cloned().unwrap_or_default(),
                package: format.inspect(file).map_err(|e| unreadable(file, e))?,
                targets: vec![target.to_string()],
            })
        })
        .collect()
}

fn unreadable(path: &Path, message: impl std::fmt::Display) -> ScratchError {
    ScratchError::Workspace {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Checks every package of `built` (a HaikuPorts tree's) against the published repository of
/// `real_repository_dir`, the other built packages and `system` (a system-packages directory).
pub fn haikuports(
    built: &[PathBuf],
    real_repository_dir: &Path,
    system: Option<&Path>,
) -> Result<Installability, ScratchError> {
    let mut scratch: Vec<PackageInfo> = Vec::new();
    for file in built {
        scratch.push(read_package(file).map_err(|e| unreadable(file, e))?.info);
    }
    let mut against: Vec<PackageInfo> = Vec::new();
    let repo = real_repository_dir.join(keys::REPO);
    if repo.exists() {
        let published = read_repository(&repo).map_err(|e| unreadable(&repo, e))?;
        // A package the change rebuilds replaces its published version, as it would once merged.
        let rebuilt: std::collections::HashSet<&str> = scratch.iter().map(|p| p.name.as_str()).collect();
        against.extend(
            published
                .packages
                .into_iter()
                .filter(|p| !rebuilt.contains(p.name.as_str())),
        );
    }
    if let Some(dir) = system {
        against.extend(system_packages(dir).map_err(|e| unreadable(dir, e))?);
    }
    let report = check(&scratch, &against);
    Ok(Installability {
        packages: report.packages,
        against: against.len(),
        unresolved: report.unresolved.into_iter().map(Unmet::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::hpkg_writer::{create_package, CreateOptions};

    /// A one-file package `name` 1.0 providing `provides` and requiring `requires`, in `dir`.
    fn package(dir: &Path, name: &str, provides: &str, requires: &str) -> PathBuf {
        let src = dir.join(format!("src-{name}"));
        std::fs::create_dir_all(src.join("data")).unwrap();
        std::fs::write(src.join("data").join(name), name).unwrap();
        let requires = if requires.is_empty() {
            String::new()
        } else {
            format!("requires {{ {requires} }}\n")
        };
        std::fs::write(
            src.join(".PackageInfo"),
            format!(
                "name {name}\nversion 1.0-1\narchitecture x86_64\nsummary \"{name}\"\ndescription \"{name}\"\n\
                 packager \"T <t@example.org>\"\nvendor \"Haiku Project\"\ncopyrights {{ \"2026 T\" }}\n\
                 licenses {{ \"MIT\" }}\nprovides {{ {name} = 1.0-1\n\t{provides} }}\n{requires}"
            ),
        )
        .unwrap();
        let out = dir.join(format!("{name}-1.0-1-x86_64.hpkg"));
        let options = CreateOptions {
            info_file: None,
            directory: src,
            compression: Default::default(),
            install_path: None,
        };
        create_package(&options, &out).unwrap();
        out
    }

    #[test]
    fn each_scratch_package_resolves_against_the_system_and_the_other_scratch_packages() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system");
        std::fs::create_dir_all(&system).unwrap();
        package(&system, "haiku", "lib:libroot", "");
        let built = dir.path().join("built");
        std::fs::create_dir_all(&built).unwrap();
        let lib = package(&built, "libnew", "lib:libnew", "haiku");
        let app = package(&built, "app", "", "lib:libnew\n\tlib:libghostly");
        // No published repository: `<dir>/repository/repo` does not exist.
        let report = haikuports(&[lib, app], &dir.path().join("repository"), Some(&system)).unwrap();
        assert_eq!(report.packages, 2);
        assert_eq!(report.against, 1);
        let unresolved: Vec<(&str, &str)> = report
            .unresolved
            .iter()
            .map(|u| (u.package.as_str(), u.requires.as_str()))
            .collect();
        // libnew is found among the scratch packages, haiku in the system packages; only the ghost is not.
        assert_eq!(unresolved, vec![("app-1.0-1-x86_64.hpkg", "lib:libghostly")]);
    }
}
