//! The gate of a scratch build: its packages are uploaded to the gate's staging storage under
//! `scratch/<N>/` (never promoted, never linked: nothing reads that prefix but prune), and each is
//! checked for installability with Haiku's solver rules ([`crate::formats::haiku::check`]) against the
//! instance's published repository (`<state>/repository/repo`), the other packages of the same scratch
//! build and the system packages.

use std::path::{Path, PathBuf};

use buildmaster_storage::{ObjectKey, PutOptions, StorageBackend};
use serde::Serialize;

use super::ScratchError;
use crate::formats::haiku::check::{check, system_packages, Unresolved};
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
    pub unresolved: Vec<Unresolved>,
}

fn unreadable(path: &Path, message: impl std::fmt::Display) -> ScratchError {
    ScratchError::Workspace {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Checks every package of `built` against the published repository of `real_repository_dir`, the
/// other built packages and `system` (a system-packages directory).
pub fn installability(
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
        unresolved: report.unresolved,
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
        let report = installability(&[lib, app], &dir.path().join("repository"), Some(&system)).unwrap();
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
