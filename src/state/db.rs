//! The SQLite database (embedded, `rusqlite` with bundled SQLite): one record per package, and the
//! history of published indexes.
//!
//! Every state change is one committed transaction with `synchronous = FULL`, so that after a crash the
//! database never claims more than happened: a package is recorded as uploaded only after its object was
//! verified, and a local file is stubbed only after that record is durable.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::record::{AsRecord, PackageState, Record};
use crate::formats::InspectedPackage;

use super::schema::{migrate, SCHEMA_VERSION};

/// A database error, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("state database {path}: {message}")]
pub struct DbError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// One published index, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRecord {
    /// When it was published (Unix seconds).
    pub published_at: i64,
    /// SHA-256 of the `repo` file.
    pub repo_sha256: String,
    /// How many packages it names.
    pub package_count: u64,
}

/// The state database.
pub struct Database {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("path", &self.path).finish()
    }
}

impl Database {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let fail = |e: rusqlite::Error| DbError {
            path: path.into(),
            message: e.to_string(),
        };
        let mut conn = super::sqlite::open_state_db(path).map_err(fail)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(DbError {
                path: path.into(),
                message: format!(
                    "schema version {version} is newer than this buildmaster understands ({SCHEMA_VERSION}); \
                     upgrade buildmaster"
                ),
            });
        }
        migrate(&mut conn, version).map_err(fail)?;
        Ok(Self {
            conn,
            path: path.into(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: impl std::fmt::Display) -> DbError {
        DbError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Number of package records.
    pub fn package_count(&self) -> Result<u64, DbError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM packages", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.fail(e))
    }

    /// The record for `file_name`, if any.
    pub fn get(&self, file_name: &str) -> Result<Option<Record>, DbError> {
        self.conn
            .query_row(
                &format!("{SELECT_RECORDS} WHERE p.file_name = ?1"),
                [file_name],
                row_to_parts,
            )
            .optional()
            .map_err(|e| self.fail(e))?
            .map(|parts| self.record(parts))
            .transpose()
    }

    /// Every record, ordered by file name.
    pub fn all(&self) -> Result<Vec<Record>, DbError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_RECORDS} ORDER BY p.file_name"))
            .map_err(|e| self.fail(e))?;
        let rows = stmt.query_map([], row_to_parts).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for parts in rows {
            out.push(self.record(parts.map_err(|e| self.fail(e))?)?);
        }
        Ok(out)
    }

    fn record(&self, parts: RowParts) -> Result<Record, DbError> {
        let (file_name, name, version, architecture, size, sha256, entry, state, added_at, last_indexed_at) =
            parts;
        let state = PackageState::parse(&state)
            .ok_or_else(|| self.fail(format!("package {file_name}: unknown state {state:?}")))?;
        Ok(Record {
            package: InspectedPackage {
                name,
                version,
                architecture,
                size: size as u64,
                sha256,
                file_name,
                entry,
            },
            state,
            added_at,
            last_indexed_at,
        })
    }

    /// Inserts or replaces records, in one transaction.
    pub fn upsert<R: AsRecord>(&mut self, records: &[R]) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail_at(&self.path))?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO packages (file_name, name, version, architecture, size, sha256, entry, state,
                         added_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(file_name) DO UPDATE SET name = ?2, version = ?3, architecture = ?4,
                         size = ?5, sha256 = ?6, entry = ?7, state = ?8, added_at = ?9",
                )
                .map_err(fail_at(&self.path))?;
            let mut indexed = tx.prepare(STAMP_INDEXED).map_err(fail_at(&self.path))?;
            let mut unindexed = tx
                .prepare("DELETE FROM indexed WHERE file_name = ?1")
                .map_err(fail_at(&self.path))?;
            for r in records {
                let r = r.as_record().map_err(fail_at(&self.path))?;
                let p = &r.package;
                match r.last_indexed_at {
                    Some(at) => indexed.execute(params![p.file_name, at]),
                    None => unindexed.execute([&p.file_name]),
                }
                .map_err(fail_at(&self.path))?;
                stmt.execute(params![
                    p.file_name,
                    p.name,
                    p.version,
                    p.architecture,
                    p.size as i64,
                    p.sha256,
                    p.entry,
                    r.state.as_str(),
                    r.added_at
                ])
                .map_err(fail_at(&self.path))?;
            }
        }
        tx.commit().map_err(fail_at(&self.path))
    }

    /// Every record's lifecycle state, by file name: what sorting the spool needs, without reading
    /// each record's entry (for 10,000 records, a fraction of [`Database::all`]'s time).
    pub fn states(&self) -> Result<HashMap<String, PackageState>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT file_name, state FROM packages")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.fail(e))?;
        let mut out = HashMap::new();
        for row in rows {
            let (file_name, state) = row.map_err(|e| self.fail(e))?;
            let state = PackageState::parse(&state)
                .ok_or_else(|| self.fail(format!("package {file_name}: unknown state {state:?}")))?;
            out.insert(file_name, state);
        }
        Ok(out)
    }

    /// Moves records to `state` in one transaction: one durable commit for a whole batch of packages
    /// (each commit is an fsync, about 2 ms on the disks we run on).
    pub fn set_states(&mut self, file_names: &[String], state: PackageState) -> Result<(), DbError> {
        if file_names.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail_at(&self.path))?;
        {
            let mut stmt = tx
                .prepare("UPDATE packages SET state = ?2 WHERE file_name = ?1")
                .map_err(fail_at(&self.path))?;
            for name in file_names {
                stmt.execute(params![name, state.as_str()])
                    .map_err(fail_at(&self.path))?;
            }
        }
        tx.commit().map_err(fail_at(&self.path))
    }

    /// Moves one record to `state`.
    pub fn set_state(&mut self, file_name: &str, state: PackageState) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE packages SET state = ?2 WHERE file_name = ?1",
                params![file_name, state.as_str()],
            )
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Records a published index: its checksum, and that each of `file_names` was named by it at `at`.
    pub fn record_publish(
        &mut self,
        at: i64,
        repo_sha256: &str,
        file_names: &[String],
    ) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail_at(&self.path))?;
        {
            let mut stmt = tx.prepare(STAMP_INDEXED).map_err(fail_at(&self.path))?;
            for name in file_names {
                stmt.execute(params![name, at]).map_err(fail_at(&self.path))?;
            }
            tx.execute(
                "INSERT INTO publishes (published_at, repo_sha256, package_count) VALUES (?1, ?2, ?3)",
                params![at, repo_sha256, file_names.len() as i64],
            )
            .map_err(fail_at(&self.path))?;
        }
        tx.commit().map_err(fail_at(&self.path))
    }

    /// The most recent publish, if any.
    pub fn last_publish(&self) -> Result<Option<PublishRecord>, DbError> {
        self.conn
            .query_row(
                "SELECT published_at, repo_sha256, package_count FROM publishes ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(PublishRecord {
                        published_at: r.get(0)?,
                        repo_sha256: r.get(1)?,
                        package_count: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Forgets records (objects pruned for good).
    pub fn remove(&mut self, file_names: &[String]) -> Result<(), DbError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail_at(&self.path))?;
        {
            let mut stmt = tx
                .prepare("DELETE FROM packages WHERE file_name = ?1")
                .map_err(fail_at(&self.path))?;
            let mut indexed = tx
                .prepare("DELETE FROM indexed WHERE file_name = ?1")
                .map_err(fail_at(&self.path))?;
            for name in file_names {
                stmt.execute([name]).map_err(fail_at(&self.path))?;
                indexed.execute([name]).map_err(fail_at(&self.path))?;
            }
        }
        tx.commit().map_err(fail_at(&self.path))
    }
}

/// A record's columns, in [`RowParts`] order; `last_indexed_at` lives in the narrow `indexed` table
/// (see [`super::schema`]).
const SELECT_RECORDS: &str =
    "SELECT p.file_name, p.name, p.version, p.architecture, p.size, p.sha256, p.entry, p.state, p.added_at,
         i.last_indexed_at
     FROM packages p LEFT JOIN indexed i ON i.file_name = p.file_name";

/// Sets one package's `last_indexed_at` (`?1` the file name, `?2` the time).
const STAMP_INDEXED: &str = "INSERT INTO indexed (file_name, last_indexed_at) VALUES (?1, ?2)
     ON CONFLICT(file_name) DO UPDATE SET last_indexed_at = ?2";

type RowParts = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

/// rusqlite reads a row into a tuple of its columns' types.
fn row_to_parts(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowParts> {
    RowParts::try_from(r)
}

/// An error mapper naming `path`, for `map_err` inside transactions (which borrow the connection).
fn fail_at<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> DbError + '_ {
    move |e| DbError {
        path: path.into(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::haiku::record::PackageRecord;
    use crate::haiku::package_info::PackageInfo;
    use crate::haiku::version::Version;

    fn record(name: &str, state: PackageState) -> PackageRecord {
        let info = PackageInfo {
            name: name.into(),
            version: Version::new("1", "0", "", "", 1),
            ..Default::default()
        };
        PackageRecord {
            file_name: format!("{name}-1.0-1-x86_64.hpkg"),
            size: 10,
            sha256: "ab".repeat(32),
            info,
            state,
            added_at: 5,
            last_indexed_at: None,
            licenses: vec![("MIT".into(), "text".into())],
        }
    }

    #[test]
    fn records_round_trip_and_publishes_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Database::open(&dir.path().join("db.sqlite")).unwrap();
        assert_eq!(db.package_count().unwrap(), 0);
        let a = record("a", PackageState::Spooled);
        db.upsert(&[a.clone(), record("b", PackageState::Stubbed)])
            .unwrap();
        let stored = db.get(&a.file_name).unwrap().unwrap();
        assert_eq!(PackageRecord::from_record(&stored).unwrap(), a);
        db.set_state(&a.file_name, PackageState::Uploaded).unwrap();
        assert_eq!(
            db.get(&a.file_name).unwrap().unwrap().state,
            PackageState::Uploaded
        );
        let both = [a.file_name.clone(), "b-1.0-1-x86_64.hpkg".to_owned()];
        db.set_states(&both, PackageState::Stubbed).unwrap();
        let states = db.states().unwrap();
        assert_eq!(states.len(), 2);
        assert!(states.values().all(|s| *s == PackageState::Stubbed));
        db.set_state(&a.file_name, PackageState::Uploaded).unwrap();
        db.record_publish(100, "cd", std::slice::from_ref(&a.file_name))
            .unwrap();
        assert_eq!(db.get(&a.file_name).unwrap().unwrap().last_indexed_at, Some(100));
        assert_eq!(db.last_publish().unwrap().unwrap().package_count, 1);
        drop(db);
        let mut db = Database::open(&dir.path().join("db.sqlite")).unwrap();
        assert_eq!(db.all().unwrap().len(), 2);
        db.remove(std::slice::from_ref(&a.file_name)).unwrap();
        assert_eq!(db.package_count().unwrap(), 1);
    }
}
