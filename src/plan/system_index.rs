//! The system-packages directory, indexed once: each `.hpkg`'s name, provides and requires are kept in
//! the state database (table `plan_system_packages`) under the file's name, size and modification
//! time, so a plan reads only the packages that changed. Haiku's own system packages are tens of
//! megabytes with thousands of entries each; reading them on every plan would cost more than planning.
//!
//! A file whose size or modification time changed is read again; rows of vanished files are dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rusqlite::params;

use crate::haiku::hpkg_reader::read_package;
use crate::plan::existing::{ExistingError, ExistingPackage};
use crate::plan::model::PackageOrigin;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plan_system_packages (
    file_name TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    package   TEXT NOT NULL
);";

/// A file's identity for the index: size and modification time in nanoseconds.
fn stamp(path: &Path) -> Result<(i64, i64), ExistingError> {
    let meta = std::fs::metadata(path).map_err(|e| file_error(path, e.to_string()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok((meta.len() as i64, mtime))
}

fn file_error(path: &Path, message: String) -> ExistingError {
    ExistingError::File {
        path: path.to_path_buf(),
        message,
    }
}

/// The `.hpkg` files of `dir`, sorted by name.
fn package_files(dir: &Path) -> Result<Vec<PathBuf>, ExistingError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| file_error(dir, format!("{e} (the system-packages directory)")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hpkg") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

fn read_one(path: &Path) -> Result<ExistingPackage, ExistingError> {
    let package =
        read_package(path).map_err(|e| file_error(path, format!("unreadable system package: {e}")))?;
    Ok(ExistingPackage::from_info(&package.info, PackageOrigin::System))
}

/// Reads the system packages of `dir` without an index.
pub fn read_system_packages(dir: &Path) -> Result<Vec<ExistingPackage>, ExistingError> {
    package_files(dir)?.iter().map(|p| read_one(p)).collect()
}

/// Reads the system packages of `dir` through the index in the state database `db`.
pub fn indexed_system_packages(dir: &Path, db: &Path) -> Result<Vec<ExistingPackage>, ExistingError> {
    let db_error = |e: rusqlite::Error| file_error(db, format!("system-packages index: {e}"));
    let mut conn = crate::state::sqlite::open_state_db(db).map_err(db_error)?;
    conn.execute_batch(SCHEMA).map_err(db_error)?;
    let mut known: HashMap<String, (i64, i64, String)> = HashMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT file_name, size, mtime_ns, package FROM plan_system_packages")
            .map_err(db_error)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
            .map_err(db_error)?;
        for row in rows {
            let (name, entry) = row.map_err(db_error)?;
            known.insert(name, entry);
        }
    }
    let mut out = Vec::new();
    let mut fresh: Vec<(String, i64, i64, String)> = Vec::new();
    for path in package_files(dir)? {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (size, mtime) = stamp(&path)?;
        let cached = known
            .remove(&name)
            .filter(|(s, m, _)| (*s, *m) == (size, mtime))
            .and_then(|(_, _, json)| serde_json::from_str::<ExistingPackage>(&json).ok());
        match cached {
            Some(package) => out.push(package),
            None => {
                let package = read_one(&path)?;
                let json = serde_json::to_string(&package).map_err(|e| file_error(&path, e.to_string()))?;
                fresh.push((name, size, mtime, json));
                out.push(package);
            }
        }
    }
    if !fresh.is_empty() || !known.is_empty() {
        let tx = conn.transaction().map_err(db_error)?;
        for (name, size, mtime, json) in &fresh {
            tx.execute(
                "INSERT INTO plan_system_packages (file_name, size, mtime_ns, package) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(file_name) DO UPDATE SET size = ?2, mtime_ns = ?3, package = ?4",
                params![name, size, mtime, json],
            )
            .map_err(db_error)?;
        }
        for name in known.keys() {
            tx.execute("DELETE FROM plan_system_packages WHERE file_name = ?1", [name])
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
    }
    Ok(out)
}
