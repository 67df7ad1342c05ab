//! The `build_manifests` table of the state database (beside the buildrun tables, keyed the same
//! way: buildrun and build number): each build's [`JobManifest`] as the JSON it was recorded as.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::JobManifest;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS build_manifests (
    buildrun      INTEGER NOT NULL,
    build_number  INTEGER NOT NULL,
    port          TEXT NOT NULL,
    inputs_sha256 TEXT NOT NULL,
    manifest      TEXT NOT NULL,
    recorded_at   INTEGER NOT NULL,
    PRIMARY KEY (buildrun, build_number)
);
";

/// A manifest store error, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("job manifests in {path}: {message}")]
pub struct ManifestStoreError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The table.
pub struct ManifestStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for ManifestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestStore").field("path", &self.path).finish()
    }
}

impl ManifestStore {
    /// Opens (creating if needed) the table in the state database at `path`.
    pub fn open(path: &Path) -> Result<ManifestStore, ManifestStoreError> {
        let conn = crate::state::sqlite::open_with_schema(path, SCHEMA).map_err(|e| ManifestStoreError {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(ManifestStore {
            conn,
            path: path.to_owned(),
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> ManifestStoreError {
        ManifestStoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Records `manifest` for its build (a retried build's new attempt replaces the old one).
    pub fn record(&self, manifest: &JobManifest) -> Result<(), ManifestStoreError> {
        let recorded_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO build_manifests
                     (buildrun, build_number, port, inputs_sha256, manifest, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    manifest.build.buildrun as i64,
                    manifest.build.build_number as i64,
                    manifest.inputs.port,
                    manifest.inputs_sha256,
                    manifest.to_json(),
                    recorded_at
                ],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The manifest of build `build_number` of `buildrun`, as recorded (JSON text).
    pub fn get_json(&self, buildrun: u64, build_number: u64) -> Result<Option<String>, ManifestStoreError> {
        self.conn
            .query_row(
                "SELECT manifest FROM build_manifests WHERE buildrun = ?1 AND build_number = ?2",
                params![buildrun as i64, build_number as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// The newest recorded manifest whose build produced `file_name` (the gate's tests on a builder
    /// run that build again), read back and checked; `None` when no recorded build made it.
    pub fn find_by_result(&self, file_name: &str) -> Result<Option<JobManifest>, ManifestStoreError> {
        // `instr` narrows the rows to those naming the file; the parsed results decide.
        let mut query = self
            .conn
            .prepare(
                "SELECT buildrun, build_number FROM build_manifests WHERE instr(manifest, ?1) > 0
                 ORDER BY buildrun DESC, build_number DESC",
            )
            .map_err(|e| self.fail(e))?;
        let builds = query
            .query_map(params![format!("\"{file_name}\"")], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.fail(e))?;
        for (buildrun, build_number) in builds {
            if let Some(manifest) = self.get(buildrun as u64, build_number as u64)? {
                if manifest.results.iter().any(|r| r == file_name) {
                    return Ok(Some(manifest));
                }
            }
        }
        Ok(None)
    }

    /// The manifest of build `build_number` of `buildrun`, read back and checked.
    pub fn get(&self, buildrun: u64, build_number: u64) -> Result<Option<JobManifest>, ManifestStoreError> {
        let Some(json) = self.get_json(buildrun, build_number)? else {
            return Ok(None);
        };
        let manifest: JobManifest = serde_json::from_str(&json).map_err(|e| self.fail(e))?;
        if manifest.digest().to_hex() != manifest.inputs_sha256 {
            return Err(self.fail(format!(
                "the manifest of build {build_number} does not match its recorded digest"
            )));
        }
        Ok(Some(manifest))
    }
}
