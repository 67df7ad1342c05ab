//! The dependencies of a build as builders need them ([`WantedPackage`]: size, SHA-256, where the
//! bytes are): present packages from their package records (the spool file, or the storage object
//! once it is a stub) or from the system-packages directory (hashed once per buildrun while read), and
//! packages built earlier in this buildrun from their verified results.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use buildmaster_storage::Sha256Digest;
use sha2::{Digest, Sha256};

use super::store::ResultRow;
use crate::builders::package::WantedPackage;
use crate::plan::model::{PackageOrigin, Plan, PresentPackage};
use crate::publish::keys;
use crate::state::{Database, StateDir};

/// Read buffer for hashing local packages.
const HASH_CHUNK_BYTES: usize = 256 * 1024;

/// Present packages of a plan, resolved once; a package that cannot be found keeps the reason.
#[derive(Debug, Default)]
pub struct PresentPackages {
    found: HashMap<String, Result<WantedPackage, String>>,
}

/// Size and SHA-256 of a local file, hashed while read once.
fn hash_file(path: &Path) -> std::io::Result<(u64, Sha256Digest)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_CHUNK_BYTES];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, Sha256Digest(hasher.finalize().into())))
}

fn real_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// A package in a local file that no record describes: hashed now.
fn from_file(file_name: &str, path: PathBuf, system: bool) -> Result<WantedPackage, String> {
    let (size, sha256) = hash_file(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(WantedPackage {
        file_name: file_name.to_string(),
        size,
        sha256,
        local: Some(path),
        key: None,
        system,
    })
}

fn from_record(db: &Database, state: &StateDir, file_name: &str) -> Result<Option<WantedPackage>, String> {
    let Some(record) = db.get(file_name).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let sha256 = Sha256Digest::from_hex(&record.package.sha256).ok_or_else(|| {
        format!(
            "the record of {file_name} has an invalid sha256 {:?}",
            record.package.sha256
        )
    })?;
    Ok(Some(WantedPackage {
        file_name: file_name.to_string(),
        size: record.package.size,
        sha256,
        local: Some(state.packages().join(file_name)),
        key: record
            .state
            .is_stored()
            .then(|| keys::package(file_name).ok())
            .flatten(),
        system: false,
    }))
}

fn resolve_one(
    db: &Database,
    state: &StateDir,
    system_dir: Option<&Path>,
    present: &PresentPackage,
) -> Result<WantedPackage, String> {
    let name = &present.file_name;
    let system_path = system_dir.map(|d| d.join(name));
    let spool = state.packages().join(name);
    // Look where the plan says first, then anywhere else the package may be.
    if present.origin == PackageOrigin::System {
        if let Some(path) = system_path.clone().filter(|p| real_file(p)) {
            return from_file(name, path, true);
        }
    }
    if let Some(wanted) = from_record(db, state, name)? {
        return Ok(wanted);
    }
    if real_file(&spool) {
        return from_file(name, spool, false);
    }
    if let Some(path) = system_path.filter(|p| real_file(p)) {
        return from_file(name, path, true);
    }
    Err(format!(
        "dependency {name} is in neither the state database, the spool ({}) nor the system packages{}",
        state.packages().display(),
        system_dir
            .map(|d| format!(" ({})", d.display()))
            .unwrap_or_default()
    ))
}

impl PresentPackages {
    /// Resolves every present package of `plan`, off the async threads (hashing reads files).
    pub async fn resolve(plan: &Plan, state: &StateDir, system_dir: Option<PathBuf>) -> Result<Self, String> {
        let mut wanted: Vec<PresentPackage> = plan
            .builds
            .iter()
            .flat_map(|b| b.present.iter().cloned())
            .collect();
        wanted.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        wanted.dedup_by(|a, b| a.file_name == b.file_name);
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            let db = Database::open(&state.database()).map_err(|e| e.to_string())?;
            let found = wanted
                .iter()
                .map(|p| {
                    (
                        p.file_name.clone(),
                        resolve_one(&db, &state, system_dir.as_deref(), p),
                    )
                })
                .collect();
            Ok(Self { found })
        })
        .await
        .map_err(|e| format!("resolving dependencies: {e}"))?
    }

    /// Present packages already known by their stored copies (a Debian or RPM repository's pool
    /// files, [`crate::plan::foreign`]): nothing to look up or hash.
    pub fn known(packages: impl IntoIterator<Item = WantedPackage>) -> Self {
        Self {
            found: packages
                .into_iter()
                .map(|p| (p.file_name.clone(), Ok(p)))
                .collect(),
        }
    }

    /// A present package, or why it cannot be had.
    pub fn get(&self, file_name: &str) -> Result<WantedPackage, String> {
        self.found
            .get(file_name)
            .cloned()
            .unwrap_or_else(|| Err(format!("dependency {file_name} was not resolved")))
    }
}

/// A package built earlier in this buildrun: its verified result in the spool (or, once published
/// and stubbed, its storage object).
pub fn built(state: &StateDir, result: &ResultRow) -> Result<WantedPackage, String> {
    let sha256 = Sha256Digest::from_hex(&result.sha256)
        .ok_or_else(|| format!("result {} has an invalid sha256", result.file_name))?;
    Ok(WantedPackage {
        file_name: result.file_name.clone(),
        size: result.size,
        sha256,
        local: Some(state.packages().join(&result.file_name)),
        key: keys::package(&result.file_name).ok(),
        system: false,
    })
}

/// A dependency a job manifest names by file name, SHA-256 and size (a rebuild): its bytes looked for
/// where the master keeps packages — the package record's storage object, the spool, the system
/// packages — and accepted only by the manifest's digest, which the transfer to the builder checks.
pub fn by_digest(
    state: &StateDir,
    system_dir: Option<&Path>,
    file_name: &str,
    size: u64,
    sha256: Sha256Digest,
) -> Result<WantedPackage, String> {
    let db = Database::open(&state.database()).map_err(|e| e.to_string())?;
    let recorded = from_record(&db, state, file_name)?;
    let key = recorded.as_ref().and_then(|w| w.key.clone());
    let system = system_dir.map(|d| d.join(file_name)).filter(|p| real_file(p));
    let spool = Some(state.packages().join(file_name)).filter(|p| real_file(p));
    if key.is_none() && spool.is_none() && system.is_none() {
        return Err(format!(
            "dependency {file_name} (sha256 {}) is in neither storage, the spool ({}) nor the system packages",
            sha256.to_hex(),
            state.packages().display()
        ));
    }
    Ok(WantedPackage {
        file_name: file_name.to_string(),
        size,
        sha256,
        local: spool.clone().or(system.clone()),
        key,
        system: system.is_some() && spool.is_none(),
    })
}

/// HaikuPorter's package ID (`name-version`) of a canonical file name `name-version-arch.hpkg`.
pub fn package_id(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".hpkg")?
        .rsplit_once('-')
        .map(|(id, _arch)| id)
}

/// Whether a completed build's result is still there: a real spool file of the recorded size, or a
/// package record (published, possibly stubbed).
pub fn result_exists(state: &StateDir, db: Option<&Database>, result: &ResultRow) -> bool {
    let spool = state.packages().join(&result.file_name);
    if std::fs::metadata(&spool).is_ok_and(|m| m.is_file() && m.len() == result.size) {
        return true;
    }
    db.and_then(|db| db.get(&result.file_name).ok().flatten())
        .is_some_and(|r| r.package.sha256.eq_ignore_ascii_case(&result.sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_and_system_packages() {
        assert_eq!(
            package_id("libfoo_devel-1.2-3-x86_64.hpkg"),
            Some("libfoo_devel-1.2-3")
        );
        assert_eq!(package_id("notapackage"), None);

        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.create().unwrap();
        let system = dir.path().join("system");
        std::fs::create_dir(&system).unwrap();
        std::fs::write(system.join("haiku-r1-1-x86_64.hpkg"), b"haiku").unwrap();
        let db = Database::open(&state.database()).unwrap();
        let present = |name: &str, origin| PresentPackage {
            file_name: name.into(),
            origin,
        };
        let got = resolve_one(
            &db,
            &state,
            Some(&system),
            &present("haiku-r1-1-x86_64.hpkg", PackageOrigin::System),
        )
        .unwrap();
        assert_eq!(
            (got.size, got.sha256, got.system),
            (5, Sha256Digest::of(b"haiku"), true)
        );
        let err = resolve_one(
            &db,
            &state,
            Some(&system),
            &present("gone-1-1-x86_64.hpkg", PackageOrigin::Repository),
        )
        .unwrap_err();
        assert!(err.contains("gone-1-1-x86_64.hpkg"), "{err}");
    }
}
