//! A Debian or RPM tree's buildrun and the repository it publishes to (`[ports] repository`): the
//! present packages of its plan are that repository's pool files, streamed from storage to the
//! builders (the master keeps no copy), and a builder's cache keeps what the repository links when it
//! is pruned on connect — as a HaikuPorts buildrun does with the package records. What the spool
//! holds of the tree's format and the repository does not link is what a buildrun pushes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use buildmaster_storage::{ObjectKey, Sha256Digest, StorageBackend};

use crate::builders::cache::{KeepSet, KeepSource};
use crate::builders::package::WantedPackage;
use crate::config::instance::InstanceConfig;
use crate::plan::foreign::{served_packages, served_repository};
use crate::plan::recipe_tree::TreeKind;
use crate::repos::records::PoolPackage;
use crate::repos::service::{PushOutcome, PushService};
use crate::state::StateDir;
use crate::toolchains::debian::toolchain::DEB_EXTENSION;
use crate::toolchains::rpm::toolchain::RPM_EXTENSION;

/// Every package the served repository links, as a dependency a builder is sent from storage.
pub fn pool_dependencies(config: &InstanceConfig, state: &StateDir) -> Result<Vec<WantedPackage>, String> {
    let repository = served_repository(config).map_err(|e| e.to_string())?;
    served_packages(state, repository.id())
        .map_err(|e| e.to_string())?
        .iter()
        .map(from_pool)
        .collect()
}

/// A pool file as a dependency: its bytes only in storage, checked against the recorded digest as
/// they stream to the builder.
pub fn from_pool(pool: &PoolPackage) -> Result<WantedPackage, String> {
    let package = &pool.package;
    let sha256 = Sha256Digest::from_hex(&package.sha256)
        .ok_or_else(|| format!("the pool record of {} has an invalid sha256", package.file_name))?;
    let key = ObjectKey::new(pool.pool_key.clone())
        .map_err(|e| format!("the pool key of {} ({}): {e}", package.file_name, pool.pool_key))?;
    Ok(WantedPackage {
        file_name: package.file_name.clone(),
        size: package.size,
        sha256,
        local: None,
        key: Some(key),
        system: false,
    })
}

/// The packages of this tree's format in the spool that the served repository does not link yet:
/// what a buildrun built (or an earlier push left behind), to push. Empty files are skipped.
pub fn unpushed(config: &InstanceConfig, state: &StateDir) -> Result<Vec<PathBuf>, String> {
    let extension = match config.ports.kind {
        TreeKind::Debian => DEB_EXTENSION,
        TreeKind::Rpm => RPM_EXTENSION,
        TreeKind::Haikuports => return Ok(Vec::new()),
    };
    let linked = linked_file_names(config, state)?;
    let spool = state.packages();
    let entries = match std::fs::read_dir(&spool) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", spool.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", spool.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let real = entry.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
        if real && name.ends_with(extension) && !linked.contains(&name) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Pushes [`unpushed`] into the served repository as `who`, through the push service `buildmaster
/// push` uses (gated when the instance has `[gate]`); `None` when there was nothing to push.
pub async fn push_unpushed(
    config: &InstanceConfig,
    state: &StateDir,
    storage: Arc<dyn StorageBackend>,
    who: &str,
) -> Result<Option<PushOutcome>, String> {
    let files = unpushed(config, state)?;
    if files.is_empty() {
        return Ok(None);
    }
    let repository = served_repository(config).map_err(|e| e.to_string())?;
    let repositories = crate::repos::config::resolve(&config.repositories).map_err(|e| e.to_string())?;
    let service = PushService::open(state.clone(), storage, repositories, config)
        .await
        .map_err(|e| e.to_string())?;
    service
        .push(&files, &[repository.id().to_owned()], who)
        .await
        .map(Some)
        .map_err(|e| format!("pushing {} packages into {}: {e}", files.len(), repository.id()))
}

/// What a builder of this tree keeps in its cache when pruned on connect: the packages the served
/// repository links, read again at every connect.
pub fn cache_keep_source(config: &InstanceConfig, state: &StateDir) -> KeepSource {
    let (config, state) = (config.clone(), state.clone());
    std::sync::Arc::new(move || {
        Ok(KeepSet {
            repository: linked_file_names(&config, &state)?,
            system: HashSet::new(),
        })
    })
}

/// The file names the served repository links: its pool records' names, without making each a
/// dependency (no digest or key to parse when only the names are wanted).
fn linked_file_names(config: &InstanceConfig, state: &StateDir) -> Result<HashSet<String>, String> {
    let repository = served_repository(config).map_err(|e| e.to_string())?;
    Ok(served_packages(state, repository.id())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|pool| pool.package.file_name)
        .collect())
}
