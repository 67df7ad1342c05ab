//! The `source_files` table of the state database (`buildmaster.sqlite`, a table of its own beside
//! the package records): which recipe source has which content, where it came from, and — for a
//! source without `CHECKSUM_SHA256` — the digest it is pinned to. Storage holds the bytes by digest;
//! this table is how a recipe source finds its digest, and what `sources list` shows.
//!
//! Beside it, `source_aliases`: another algorithm's digest of a stored source (the SHA-512 a Fedora
//! `sources` file names an archive by) mapped to the SHA-256 that keys it in storage. A row is
//! written only after both digests were computed over the same bytes, so a recipe that names its
//! source by SHA-512 finds the stored object without fetching it again.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::error::SourceError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS source_files (
    recipe       TEXT NOT NULL,
    source_index TEXT NOT NULL,
    port         TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    uri          TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    verified_by  TEXT NOT NULL,
    stored_at    INTEGER NOT NULL,
    PRIMARY KEY (recipe, source_index)
);
CREATE INDEX IF NOT EXISTS source_files_by_sha256 ON source_files(sha256);
CREATE TABLE IF NOT EXISTS source_aliases (
    algorithm TEXT NOT NULL,
    digest    TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    PRIMARY KEY (algorithm, digest)
);
";

/// One recorded source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    /// The recipe, relative to the ports tree (`dev-libs/libfoo/libfoo-1.2.recipe`).
    pub recipe: String,
    /// HaikuPorter's source index (`1`, `2`, …).
    pub source_index: String,
    /// The port's `name-version` when it was recorded.
    pub port: String,
    /// The file name HaikuPorter downloads it as.
    pub file_name: String,
    /// The URI it was fetched from (`upload:<file>` for one added by hand).
    pub uri: String,
    /// Lowercase hex SHA-256 of the stored bytes: the storage key is `sources/sha256/<this>`.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// What vouched for the bytes: `checksum` (the recipe's `CHECKSUM_SHA256`) or `pinned` (no
    /// checksum: the digest of the first fetch, required from then on).
    pub verified_by: String,
    /// When it was recorded (Unix seconds).
    pub stored_at: i64,
}

/// The table, in the state database at `path`.
pub struct SourceIndex {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SourceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceIndex").field("path", &self.path).finish()
    }
}

impl SourceIndex {
    /// Opens (creating if needed) the table in the database at `path`.
    pub fn open(path: &Path) -> Result<SourceIndex, SourceError> {
        let conn = crate::state::sqlite::open_with_schema(path, SCHEMA).map_err(|e| SourceError::Index {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(SourceIndex {
            conn,
            path: path.to_owned(),
        })
    }

    fn fail(&self, e: rusqlite::Error) -> SourceError {
        SourceError::Index {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The row of `recipe`'s source `index`, if recorded.
    pub fn get(&self, recipe: &str, index: &str) -> Result<Option<SourceRow>, SourceError> {
        self.conn
            .query_row(
                &format!("{SELECT} WHERE recipe = ?1 AND source_index = ?2"),
                params![recipe, index],
                row,
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Records (or replaces) a row.
    pub fn put(&self, entry: &SourceRow) -> Result<(), SourceError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO source_files
                     (recipe, source_index, port, file_name, uri, sha256, size, verified_by, stored_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    entry.recipe,
                    entry.source_index,
                    entry.port,
                    entry.file_name,
                    entry.uri,
                    entry.sha256,
                    entry.size as i64,
                    entry.verified_by,
                    entry.stored_at
                ],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The SHA-256 of the stored source whose `algorithm` digest (lowercase hex) is `digest`.
    pub fn alias(&self, algorithm: &str, digest: &str) -> Result<Option<String>, SourceError> {
        self.conn
            .query_row(
                "SELECT sha256 FROM source_aliases WHERE algorithm = ?1 AND digest = ?2",
                params![algorithm, digest],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Records that the source with SHA-256 `sha256` has `algorithm` digest `digest`.
    pub fn put_alias(&self, algorithm: &str, digest: &str, sha256: &str) -> Result<(), SourceError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO source_aliases (algorithm, digest, sha256) VALUES (?1, ?2, ?3)",
                params![algorithm, digest, sha256],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Every row, by recipe and index.
    pub fn all(&self) -> Result<Vec<SourceRow>, SourceError> {
        let mut statement = self
            .conn
            .prepare(&format!("{SELECT} ORDER BY recipe, source_index"))
            .map_err(|e| self.fail(e))?;
        let rows = statement.query_map([], row).map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }
}

const SELECT: &str = "SELECT recipe, source_index, port, file_name, uri, sha256, size, verified_by, stored_at
                      FROM source_files";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceRow> {
    Ok(SourceRow {
        recipe: r.get(0)?,
        source_index: r.get(1)?,
        port: r.get(2)?,
        file_name: r.get(3)?,
        uri: r.get(4)?,
        sha256: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        verified_by: r.get(7)?,
        stored_at: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let index = SourceIndex::open(&dir.path().join("db.sqlite")).unwrap();
        let mut entry = SourceRow {
            recipe: "a/b/b-1.recipe".into(),
            source_index: "1".into(),
            port: "b-1".into(),
            file_name: "b-1.tar.gz".into(),
            uri: "https://x/b-1.tar.gz".into(),
            sha256: "ab".repeat(32),
            size: 3,
            verified_by: "checksum".into(),
            stored_at: 7,
        };
        index.put(&entry).unwrap();
        entry.size = 4;
        index.put(&entry).unwrap();
        assert_eq!(index.get("a/b/b-1.recipe", "1").unwrap(), Some(entry.clone()));
        assert_eq!(index.all().unwrap(), vec![entry]);
        assert_eq!(index.get("a/b/b-1.recipe", "2").unwrap(), None);
        assert_eq!(index.alias("sha512", "cd").unwrap(), None);
        index.put_alias("sha512", "cd", &"ab".repeat(32)).unwrap();
        assert_eq!(index.alias("sha512", "cd").unwrap(), Some("ab".repeat(32)));
    }
}
