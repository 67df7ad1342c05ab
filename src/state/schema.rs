//! The tables of the package records (`packages`, `indexed`, `publishes`) and their migrations, kept
//! apart from the queries in [`super::db`].
//!
//! Version 2 moved `last_indexed_at` out of `packages` into the narrow `indexed` table: every publish
//! stamps every package its index names, and an `UPDATE` of a `packages` row rewrites the whole row,
//! attributes included (10,000 records: about 15 MB through the write-ahead log, 0.2 s per publish);
//! an `indexed` row is a name and a number. The old column stays, unused, so that a migrated database
//! keeps its original rows as they were.

use rusqlite::Connection;

/// Schema version stored in `PRAGMA user_version`; bump with a migration when the schema changes.
pub const SCHEMA_VERSION: i64 = 2;

/// Every table and index of the current version, created if missing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS packages (
    file_name       TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    info            TEXT NOT NULL,
    state           TEXT NOT NULL,
    added_at        INTEGER NOT NULL,
    last_indexed_at INTEGER,
    licenses        TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS packages_by_name ON packages(name);
CREATE INDEX IF NOT EXISTS packages_states ON packages(file_name, state);
CREATE TABLE IF NOT EXISTS indexed (
    file_name       TEXT PRIMARY KEY,
    last_indexed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publishes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    published_at  INTEGER NOT NULL,
    repo_sha256   TEXT NOT NULL,
    package_count INTEGER NOT NULL
);
";

/// Brings a database at `version` (0: new) to [`SCHEMA_VERSION`], in one transaction.
pub fn migrate(conn: &mut Connection, version: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(SCHEMA)?;
    if version == 1 {
        tx.execute_batch(
            "INSERT OR REPLACE INTO indexed (file_name, last_indexed_at)
                 SELECT file_name, last_indexed_at FROM packages WHERE last_indexed_at IS NOT NULL;",
        )?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_keeps_its_index_times() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("db.sqlite")).unwrap();
        // The version 1 table, with one package indexed at 100 and one never indexed.
        conn.execute_batch(
            "CREATE TABLE packages (file_name TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL,
                 sha256 TEXT NOT NULL, info TEXT NOT NULL, state TEXT NOT NULL, added_at INTEGER NOT NULL,
                 last_indexed_at INTEGER, licenses TEXT NOT NULL DEFAULT '[]');
             INSERT INTO packages VALUES ('a-1-1-x86_64.hpkg', 'a', 1, 'ab', '{}', 'stubbed', 5, 100, '[]');
             INSERT INTO packages VALUES ('b-1-1-x86_64.hpkg', 'b', 1, 'ab', '{}', 'stubbed', 5, NULL, '[]');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate(&mut conn, 1).unwrap();
        let rows: Vec<(String, i64)> = conn
            .prepare("SELECT file_name, last_indexed_at FROM indexed")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [("a-1-1-x86_64.hpkg".to_owned(), 100)]);
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
