//! The gate of a scratch build: its packages are uploaded to the gate's staging storage under
//! `scratch/<N>/` (never promoted, never linked: nothing reads that prefix but prune), and each is
//! checked for installability with Haiku's solver rules ([`crate::repository::check`]) against the
//! instance's published repository (`<state>/repository/repo`), the other packages of the same scratch
//! build and the system packages.

use std::path::{Path, PathBuf};

use buildmaster_storage::{ObjectKey, PutOptions, StorageBackend};
use serde::Serialize;

use super::ScratchError;
use crate::haiku::hpkg_reader::read_package;
use crate::haiku::hpkr_reader::read_repository;
use crate::haiku::package_info::PackageInfo;
use crate::publish::keys;
use crate::repository::check::{check, system_packages, Unresolved};

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
