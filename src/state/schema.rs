//! The tables of the package records (`packages`, `indexed`, `publishes`) and their migrations, kept
//! apart from the queries in [`super::db`].
//!
//! Version 2 moved `last_indexed_at` out of `packages` into the narrow `indexed` table: every publish
//! stamps every package its index names, and an `UPDATE` of a `packages` row rewrites the whole row,
//! attributes included (10,000 records: about 15 MB through the write-ahead log, 0.2 s per publish);
//! an `indexed` row is a name and a number. The old column stays, unused, so that a migrated database
//! keeps its original rows as they were.
//!
//! Version 3 made the records format-neutral: a row holds what inspection found (`name`, `version`,
//! `architecture`, `size`, `sha256`) and the format's opaque `entry`, as `crate::formats` defines
//! them. Records of versions 1 and 2 were all HaikuPorts packages, whose entry is their attributes and
//! approved licence texts: the `info` column becomes `entry` (`{"info":…,"licenses":…}`, the Haiku
//! format's entry, made of the two columns' JSON as stored), and version and architecture are read
//! off the canonical file name `<name>-<version>-<architecture>.hpkg` (architectures have no `-`).
//! The `licenses` column stays, emptied, so that the migration rewrites no more than it must.

use rusqlite::Connection;

/// Schema version stored in `PRAGMA user_version`; bump with a migration when the schema changes.
pub const SCHEMA_VERSION: i64 = 3;

/// Every table and index of the current version, created if missing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS packages (
    file_name       TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    architecture    TEXT NOT NULL DEFAULT '',
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    entry           TEXT NOT NULL,
    state           TEXT NOT NULL,
    added_at        INTEGER NOT NULL
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

/// Version 2's HaikuPorts rows as format-neutral version 3 rows (see the module doc). `rest` is the
/// file name without `<name>-` and `.hpkg`; `rtrim(rest, <rest without '-'>)` keeps it up to its last
/// `-`, which ends the version.
const HAIKUPORTS_ROWS_TO_V3: &str = r#"
ALTER TABLE packages RENAME COLUMN info TO entry;
ALTER TABLE packages ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN architecture TEXT NOT NULL DEFAULT '';
UPDATE packages SET
    entry = '{"info":' || entry || ',"licenses":' || licenses || '}',
    licenses = '[]',
    version = (WITH r(rest) AS (SELECT substr(file_name, length(name) + 2, length(file_name) - length(name) - 6))
        SELECT substr(rtrim(rest, replace(rest, '-', '')), 1, length(rtrim(rest, replace(rest, '-', ''))) - 1) FROM r),
    architecture = (WITH r(rest) AS (SELECT substr(file_name, length(name) + 2, length(file_name) - length(name) - 6))
        SELECT substr(rest, length(rtrim(rest, replace(rest, '-', ''))) + 1) FROM r);
"#;

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
    if (1..=2).contains(&version) {
        tx.execute_batch(HAIKUPORTS_ROWS_TO_V3)?;
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

    #[test]
    fn a_version_2_database_keeps_its_haikuports_records() {
        use crate::formats::haiku::record::PackageRecord;
        use crate::haiku::package_info::PackageInfo;
        use crate::haiku::version::Version;
        use crate::state::{AsRecord, Database, PackageState};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let info = PackageInfo {
            name: "gcc".into(),
            version: Version::parse("13.2.0_2023-3").unwrap(),
            summary: "the compiler".into(),
            checksum: "cd".repeat(32),
            ..PackageInfo::default()
        };
        let file_name = format!("gcc-13.2.0_2023-3-{}.hpkg", info.architecture.name());
        let licenses = vec![("GCC".to_string(), "licence text".to_string())];
        {
            // Version 2's table, one row as version 2 wrote it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE packages (file_name TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL,
                     sha256 TEXT NOT NULL, info TEXT NOT NULL, state TEXT NOT NULL, added_at INTEGER NOT NULL,
                     last_indexed_at INTEGER, licenses TEXT NOT NULL DEFAULT '[]');
                 CREATE TABLE indexed (file_name TEXT PRIMARY KEY, last_indexed_at INTEGER NOT NULL) WITHOUT ROWID;
                 PRAGMA user_version = 2;",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO packages VALUES (?1, 'gcc', 42, ?2, ?3, 'stubbed', 5, NULL, ?4)",
                rusqlite::params![
                    file_name,
                    "cd".repeat(32),
                    serde_json::to_string(&info).unwrap(),
                    serde_json::to_string(&licenses).unwrap()
                ],
            )
            .unwrap();
            conn.execute("INSERT INTO indexed VALUES (?1, 100)", [&file_name])
                .unwrap();
        }
        let db = Database::open(&path).unwrap();
        let record = db.get(&file_name).unwrap().unwrap();
        assert_eq!(record.package.version, "13.2.0_2023-3");
        assert_eq!(record.package.architecture, info.architecture.name());
        assert_eq!(record.last_indexed_at, Some(100));
        // What a version 3 buildmaster records for the same package.
        let expected = PackageRecord {
            file_name: file_name.clone(),
            size: 42,
            sha256: "cd".repeat(32),
            info,
            state: PackageState::Stubbed,
            added_at: 5,
            last_indexed_at: Some(100),
            licenses,
        };
        assert_eq!(record, expected.as_record().unwrap().into_owned());
        assert_eq!(PackageRecord::from_record(&record).unwrap(), expected);
    }
}
