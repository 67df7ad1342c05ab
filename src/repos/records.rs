//! The records of pushed packages, in the state database beside the Haiku records: the shared pool
//! (one row per distinct file of a format, with the index entry inspection made, so that a publish
//! reads no package), which repositories link which pool files, which repositories' indexes are behind
//! their links, and which index files each repository last uploaded (so that a publish uploads only
//! what changed).

use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension};

use crate::formats::{FormatKind, InspectedPackage};

use super::listing_cache::{Cached, Listed, ListingCache, Stamp};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pool_packages (
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    architecture TEXT NOT NULL,
    file_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    pool_key TEXT NOT NULL,
    entry TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (format, sha256)
);
CREATE INDEX IF NOT EXISTS pool_packages_identity ON pool_packages (format, name, version, architecture);
CREATE TABLE IF NOT EXISTS repo_links (
    repository TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (repository, sha256)
);
CREATE TABLE IF NOT EXISTS repo_dirty (
    repository TEXT PRIMARY KEY NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_index_files (
    repository TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_addressed INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    superseded_at INTEGER,
    PRIMARY KEY (repository, path, sha256)
);
CREATE TABLE IF NOT EXISTS repo_records_epoch (
    epoch TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_rewrites (
    id INTEGER PRIMARY KEY
);
CREATE TRIGGER IF NOT EXISTS repo_links_deleted AFTER DELETE ON repo_links
    BEGIN INSERT INTO repo_rewrites (id) VALUES (NULL); END;
CREATE TRIGGER IF NOT EXISTS repo_links_updated AFTER UPDATE ON repo_links
    BEGIN INSERT INTO repo_rewrites (id) VALUES (NULL); END;
CREATE TRIGGER IF NOT EXISTS pool_packages_deleted AFTER DELETE ON pool_packages
    BEGIN INSERT INTO repo_rewrites (id) VALUES (NULL); END;
CREATE TRIGGER IF NOT EXISTS pool_packages_updated AFTER UPDATE ON pool_packages
    BEGIN INSERT INTO repo_rewrites (id) VALUES (NULL); END;
";
// `repo_records_epoch` and `repo_rewrites` stamp cached listings (src/repos/listing_cache.rs): the
// epoch tells this database from any other, and the triggers count every rewrite of links or pool
// rows — none happens today, and one that ever does invalidates every cached listing.

/// How much of the state database the records' connection maps into memory (SQLite's `mmap_size`;
/// it maps at most the file's size). Reading a 10,000-package repository's entries through the map
/// instead of ~12,000 `pread` calls (bench/repos).
const MMAP_BYTES: i64 = 256 << 20;

/// A file in the shared pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPackage {
    /// Its format.
    pub format: FormatKind,
    /// What inspection found.
    pub package: InspectedPackage,
    /// Its key in the bucket.
    pub pool_key: String,
    /// When it was first pushed (Unix seconds).
    pub added_at: i64,
}

/// The database failed; names the file.
#[derive(Debug, thiserror::Error)]
#[error("state database {path}: {message}")]
pub struct RecordsError {
    /// The database file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// The pushed-package records.
pub struct Records {
    conn: Connection,
    path: PathBuf,
    /// Listings kept between publishes, when the records were opened with one.
    listing_cache: Option<ListingCache>,
    /// Cached listings read ahead ([`Records::preload_listings`]), by repository and format.
    preloaded: std::cell::RefCell<Vec<(String, FormatKind, Cached)>>,
}

fn format_from(text: &str) -> Option<FormatKind> {
    FormatKind::parse(text)
}

const POOL_COLUMNS: &str =
    "p.format, p.sha256, p.name, p.version, p.architecture, p.file_name, p.size, p.pool_key, p.entry, p.added_at";

fn pool_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PoolPackage> {
    let format: String = row.get(0)?;
    let format = format_from(&format).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("format {format}").into(),
        )
    })?;
    Ok(PoolPackage {
        format,
        package: InspectedPackage {
            sha256: row.get(1)?,
            name: row.get(2)?,
            version: row.get(3)?,
            architecture: row.get(4)?,
            file_name: row.get(5)?,
            size: row.get::<_, i64>(6)? as u64,
            entry: row.get(8)?,
        },
        pool_key: row.get(7)?,
        added_at: row.get(9)?,
    })
}

/// The order of a repository's packages: name, version, architecture.
fn by_identity(a: &PoolPackage, b: &PoolPackage) -> std::cmp::Ordering {
    let (a, b) = (&a.package, &b.package);
    (&a.name, &a.version, &a.architecture).cmp(&(&b.name, &b.version, &b.architecture))
}

impl Records {
    /// Opens (creating the tables if needed) the records in the state database at `path`.
    pub fn open(path: &Path) -> Result<Self, RecordsError> {
        let conn = crate::state::sqlite::open_with_schema(path, SCHEMA)
            .and_then(|conn| {
                // A publish reads every entry of a repository (a 10,000-package one: ~12,000 pages):
                // mapped, instead of one pread(2) per page (bench/repos).
                conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
                // A push is a short process: SQLite's checkpoint when its last connection closes
                // (copy the WAL into the database, two more fsyncs) was ~5-10 ms of each one
                // (strace, bench/repos). Every commit is already durable in the WAL (synchronous =
                // FULL); the WAL is checkpointed by the automatic checkpoint of a later commit, or
                // by the next connection that closes with checkpoints on.
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
                Ok(conn)
            })
            .map_err(|e| RecordsError {
                path: path.into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            conn,
            path: path.into(),
            listing_cache: None,
            preloaded: Default::default(),
        })
    }

    /// The same records, keeping each repository's listing under `dir` between publishes so that a
    /// listing reads only the links added since (src/repos/listing_cache.rs).
    pub fn with_listing_cache(mut self, dir: PathBuf) -> Self {
        self.listing_cache = Some(ListingCache::in_dir(dir));
        self
    }

    /// Cached listings read ahead — a push reads them while its pool uploads and the lock's round
    /// trips are in flight ([`ListingCache::load_all`]); the next listing of each repository starts
    /// from its copy instead of reading the file. A copy is checked
    /// against the database's stamp like any cached listing, so one that another writer has since
    /// outdated only means more links are read from the database.
    pub fn preload_listings(&mut self, listings: Vec<(String, FormatKind, Cached)>) {
        *self.preloaded.get_mut() = listings;
    }

    /// The preloaded cached listing of `repository` of `format`, once.
    fn take_preloaded(&self, repository: &str, format: FormatKind) -> Option<Cached> {
        let mut preloaded = self.preloaded.borrow_mut();
        let at = preloaded
            .iter()
            .position(|(id, kind, _)| id == repository && *kind == format)?;
        Some(preloaded.swap_remove(at).2)
    }

    /// The connection, for tests that change the database behind the records' back.
    #[cfg(test)]
    pub(crate) fn conn_for_tests(&self) -> &Connection {
        &self.conn
    }

    fn fail(&self, e: rusqlite::Error) -> RecordsError {
        RecordsError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The pool file of `format` with this name, version and architecture, if any.
    pub fn by_identity(
        &self,
        format: FormatKind,
        name: &str,
        version: &str,
        architecture: &str,
    ) -> Result<Option<PoolPackage>, RecordsError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {POOL_COLUMNS} FROM pool_packages p
                     WHERE p.format = ?1 AND p.name = ?2 AND p.version = ?3 AND p.architecture = ?4"
                ),
                params![format.as_str(), name, version, architecture],
                pool_row,
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Records a verified pool file (idempotent).
    pub fn insert_pool(&mut self, pool: &PoolPackage) -> Result<(), RecordsError> {
        self.insert_pools(std::slice::from_ref(pool))
    }

    /// Records verified pool files (idempotent), in one transaction.
    pub fn insert_pools(&mut self, pools: &[PoolPackage]) -> Result<(), RecordsError> {
        self.in_transaction(|tx| {
            for pool in pools {
                let p = &pool.package;
                tx.execute(
                    "INSERT OR IGNORE INTO pool_packages
                     (format, sha256, name, version, architecture, file_name, size, pool_key, entry, added_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        pool.format.as_str(),
                        p.sha256,
                        p.name,
                        p.version,
                        p.architecture,
                        p.file_name,
                        p.size as i64,
                        pool.pool_key,
                        p.entry,
                        pool.added_at
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Runs `write` in one transaction, begun IMMEDIATE as every write of the state database is
    /// (src/state/sqlite.rs), and commits it.
    fn in_transaction<T>(
        &mut self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, RecordsError> {
        let written = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = write(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        written.map_err(|e| self.fail(e))
    }

    /// Links a pool file into a repository; whether it was new there. A new link marks the repository
    /// as needing its index published, in the same transaction, so that a crash or an outage between
    /// linking and publishing is caught up by the next push.
    pub fn link(
        &mut self,
        repository: &str,
        format: FormatKind,
        sha256: &str,
        now: i64,
    ) -> Result<bool, RecordsError> {
        let new = self.link_all(&[(repository, format, sha256)], now)?;
        Ok(new.first().copied().unwrap_or(false))
    }

    /// [`Records::link`] of several (repository, format, SHA-256) in one transaction (one commit, one
    /// fsync, for a whole push); whether each was new.
    pub fn link_all(
        &mut self,
        links: &[(&str, FormatKind, &str)],
        now: i64,
    ) -> Result<Vec<bool>, RecordsError> {
        self.in_transaction(|tx| {
            let mut new = Vec::with_capacity(links.len());
            for (repository, format, sha256) in links {
                let added = tx.execute(
                    "INSERT OR IGNORE INTO repo_links (repository, sha256, format, linked_at) VALUES (?1, ?2, ?3, ?4)",
                    params![repository, sha256, format.as_str(), now],
                )? > 0;
                if added {
                    tx.execute(
                        "INSERT OR IGNORE INTO repo_dirty (repository) VALUES (?1)",
                        params![repository],
                    )?;
                }
                new.push(added);
            }
            Ok(new)
        })
    }

    /// Whether `repository`'s links changed since its index was last published.
    pub fn is_dirty(&self, repository: &str) -> Result<bool, RecordsError> {
        self.conn
            .query_row(
                "SELECT 1 FROM repo_dirty WHERE repository = ?1",
                params![repository],
                |_| Ok(()),
            )
            .optional()
            .map(|row| row.is_some())
            .map_err(|e| self.fail(e))
    }

    /// How many packages are linked into `repository` (without reading their entries).
    pub fn count_linked(&self, repository: &str) -> Result<u64, RecordsError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM repo_links WHERE repository = ?1",
                params![repository],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.fail(e))
    }

    /// The pool files linked into `repository`, by name, version and architecture.
    pub fn linked(&self, repository: &str) -> Result<Vec<PoolPackage>, RecordsError> {
        let started = std::time::Instant::now();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {POOL_COLUMNS} FROM repo_links l
                 JOIN pool_packages p ON p.format = l.format AND p.sha256 = l.sha256
                 WHERE l.repository = ?1"
            ))
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![repository], pool_row)
            .map_err(|e| self.fail(e))?;
        let mut linked = rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))?;
        // Sorted here, not by SQLite: an ORDER BY over the join sorts megabytes of entries through a
        // temporary B-tree on disk (half of a 10-into-10,000 push, bench/repos).
        linked.sort_by(by_identity);
        tracing::debug!(
            repository,
            packages = linked.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "linked packages read"
        );
        Ok(linked)
    }

    /// The pool files linked into `repository` without their entries (`entry` empty), each with its
    /// entry's length in bytes, in [`Records::linked`]'s order: what a format reads first to find
    /// which parts of its index are unchanged. With a listing cache, only the links added since the
    /// cached listing are read from the database.
    pub fn listing(&self, repository: &str, format: FormatKind) -> Result<Vec<Listed>, RecordsError> {
        Ok(self.listing_counted(repository, format)?.0)
    }

    /// [`Records::listing`], and how many of its rows came from the listing cache.
    pub(crate) fn listing_counted(
        &self,
        repository: &str,
        format: FormatKind,
    ) -> Result<(Vec<Listed>, usize), RecordsError> {
        let started = std::time::Instant::now();
        let (listed, from_cache) = match &self.listing_cache {
            Some(cache) => self.listing_through(cache, repository, format)?,
            None => {
                let mut listed = self.listing_after(repository, format, 0)?;
                listed.sort_by(|(a, _), (b, _)| by_identity(a, b));
                (listed, 0)
            }
        };
        tracing::debug!(
            repository,
            packages = listed.len(),
            from_cache,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "linked packages listed"
        );
        Ok((listed, from_cache))
    }

    /// [`Records::listing`] through `cache`: the cached rows still valid plus the links added since,
    /// or all links read again; stored back when they changed. Also returns how many rows came from
    /// the cache.
    fn listing_through(
        &self,
        cache: &ListingCache,
        repository: &str,
        format: FormatKind,
    ) -> Result<(Vec<Listed>, usize), RecordsError> {
        let epoch = self.epoch()?;
        // The stamp and the rows it covers come from one snapshot of the database.
        let snapshot = self.conn.unchecked_transaction().map_err(|e| self.fail(e))?;
        let stamp = self.stamp(repository, epoch)?;
        let cached = self
            .take_preloaded(repository, format)
            .or_else(|| cache.load(repository, format))
            .filter(|c| c.stamp.epoch == stamp.epoch && c.stamp.rewrites == stamp.rewrites);
        let (mut listed, from_cache) = match cached {
            Some(c) => {
                let added = self.listing_after(repository, format, c.stamp.max_rowid)?;
                if c.stamp.count + added.len() as u64 == stamp.count {
                    let from_cache = c.rows.len();
                    let mut rows = c.rows;
                    rows.extend(added);
                    (rows, from_cache)
                } else {
                    (self.listing_after(repository, format, 0)?, 0)
                }
            }
            None => (self.listing_after(repository, format, 0)?, 0),
        };
        snapshot.finish().map_err(|e| self.fail(e))?;
        // Mostly sorted already (the cached rows are): the sort only places the added ones.
        listed.sort_by(|(a, _), (b, _)| by_identity(a, b));
        if from_cache < listed.len() {
            cache.store(repository, format, &stamp, &listed);
        }
        Ok((listed, from_cache))
    }

    /// This database's epoch (see src/repos/listing_cache.rs), made the first time it is asked for.
    fn epoch(&self) -> Result<String, RecordsError> {
        let epoch_of = || {
            self.conn
                .query_row("SELECT epoch FROM repo_records_epoch LIMIT 1", [], |row| {
                    row.get(0)
                })
                .optional()
        };
        if let Some(epoch) = epoch_of().map_err(|e| self.fail(e))? {
            return Ok(epoch);
        }
        self.conn
            .execute(
                "INSERT INTO repo_records_epoch (epoch) SELECT lower(hex(randomblob(16)))
                 WHERE NOT EXISTS (SELECT 1 FROM repo_records_epoch)",
                [],
            )
            .map_err(|e| self.fail(e))?;
        Ok(epoch_of().map_err(|e| self.fail(e))?.unwrap_or_default())
    }

    /// The state of the records a listing of `repository` is read at, in this database of `epoch`.
    fn stamp(&self, repository: &str, epoch: String) -> Result<Stamp, RecordsError> {
        self.conn
            .query_row(
                "SELECT (SELECT coalesce(max(id), 0) FROM repo_rewrites), count(*), coalesce(max(rowid), 0)
                 FROM repo_links WHERE repository = ?1",
                params![repository],
                |row| {
                    Ok(Stamp {
                        epoch,
                        rewrites: row.get(0)?,
                        count: row.get::<_, i64>(1)?.max(0) as u64,
                        max_rowid: row.get(2)?,
                    })
                },
            )
            .map_err(|e| self.fail(e))
    }

    /// The links of `repository` with a rowid above `after` (0: all), unsorted, as [`Records::listing`]
    /// returns them (`octet_length` takes an entry's length from the row's header, without copying the
    /// entry). `format` is the repository's: matching the pool on it instead of on each link's own
    /// (always the same) column lets SQLite walk the links' primary-key index alone, without a table
    /// lookup per link (bench/repos).
    fn listing_after(
        &self,
        repository: &str,
        format: FormatKind,
        after: i64,
    ) -> Result<Vec<Listed>, RecordsError> {
        // All links: through the links' index on the repository. Links added since `after`: by rowid
        // (`+` keeps SQLite off the repository index), so that only the new rows are visited.
        let filter = match after {
            0 => "l.repository = ?1 AND l.rowid > ?3",
            _ => "+l.repository = ?1 AND l.rowid > ?3",
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT p.format, p.sha256, p.name, p.version, p.architecture, p.file_name, p.size,
                        p.pool_key, '', p.added_at, octet_length(p.entry)
                 FROM repo_links l JOIN pool_packages p ON p.format = ?2 AND p.sha256 = l.sha256
                 WHERE {filter}"
            ))
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![repository, format.as_str(), after], |row| {
                Ok((pool_row(row)?, row.get::<_, i64>(10)?.max(0) as usize))
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }

    /// The stored entries of the pool files of `format` with these SHA-256 digests, in the same
    /// order; an error names a digest the pool does not hold.
    pub fn entries(&self, format: FormatKind, sha256s: &[&str]) -> Result<Vec<String>, RecordsError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT entry FROM pool_packages WHERE format = ?1 AND sha256 = ?2")
            .map_err(|e| self.fail(e))?;
        sha256s
            .iter()
            .map(|sha256| {
                stmt.query_row(params![format.as_str(), sha256], |row| row.get(0))
                    .map_err(|e| RecordsError {
                        path: self.path.clone(),
                        message: format!("the {} pool file {sha256}: {e}", format.as_str()),
                    })
            })
            .collect()
    }

    /// The SHA-256 of the current (last uploaded) index file at `path` of `repository`.
    pub fn current_index(&self, repository: &str, path: &str) -> Result<Option<String>, RecordsError> {
        self.conn
            .query_row(
                "SELECT sha256 FROM repo_index_files
                 WHERE repository = ?1 AND path = ?2 AND superseded_at IS NULL",
                params![repository, path],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Records that `path` of `repository` now has the bytes with `sha256`; the previous version is
    /// marked superseded at `now`. A `content_addressed` file (its name carries its digest) is never
    /// overwritten; it is superseded by [`Records::finish_publish`] when an index stops
    /// naming it, and deleted by prune after the retention window.
    pub fn record_index(
        &mut self,
        repository: &str,
        path: &str,
        sha256: &str,
        content_addressed: bool,
        now: i64,
    ) -> Result<(), RecordsError> {
        self.record_indexes(repository, &[(path, sha256)], content_addressed, now)
    }

    /// [`Records::record_index`] of several files (path, SHA-256) in one transaction.
    pub fn record_indexes(
        &mut self,
        repository: &str,
        files: &[(&str, &str)],
        content_addressed: bool,
        now: i64,
    ) -> Result<(), RecordsError> {
        if files.is_empty() {
            return Ok(());
        }
        self.in_transaction(|tx| record_in(tx, repository, files, content_addressed, now))
    }

    /// Ends a publish of `repository` in one transaction (one commit, one fsync): records the plain
    /// file `last` uploaded last (the root of trust; none when it was current already), supersedes
    /// the content-addressed files not in `keep`, and marks the repository published (its index lists
    /// every link). Each was a commit of its own before; a crash before this commit leaves all three
    /// undone, and the repository dirty, so the next push publishes it again.
    pub fn finish_publish(
        &mut self,
        repository: &str,
        last: Option<(&str, &str)>,
        keep: &std::collections::HashSet<&str>,
        now: i64,
    ) -> Result<(), RecordsError> {
        self.in_transaction(|tx| {
            if let Some(file) = last {
                record_in(tx, repository, &[file], false, now)?;
            }
            supersede_in(tx, repository, keep, now)?;
            tx.execute(
                "DELETE FROM repo_dirty WHERE repository = ?1",
                params![repository],
            )?;
            Ok(())
        })
    }

    /// The superseded content-addressed files of `repository`: (path, SHA-256, superseded at), newest
    /// first.
    pub fn superseded_content(&self, repository: &str) -> Result<Vec<(String, String, i64)>, RecordsError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT path, sha256, superseded_at FROM repo_index_files
                 WHERE repository = ?1 AND content_addressed = 1 AND superseded_at IS NOT NULL
                 ORDER BY superseded_at DESC, path",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![repository], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }

    /// Forgets an index file prune deleted.
    pub fn forget_index(&mut self, repository: &str, path: &str, sha256: &str) -> Result<(), RecordsError> {
        self.conn
            .execute(
                "DELETE FROM repo_index_files WHERE repository = ?1 AND path = ?2 AND sha256 = ?3",
                params![repository, path, sha256],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }
}

/// [`Records::record_indexes`] inside the transaction `tx`.
fn record_in(
    tx: &rusqlite::Transaction<'_>,
    repository: &str,
    files: &[(&str, &str)],
    content_addressed: bool,
    now: i64,
) -> rusqlite::Result<()> {
    for (path, sha256) in files {
        tx.execute(
            "UPDATE repo_index_files SET superseded_at = ?4
             WHERE repository = ?1 AND path = ?2 AND sha256 <> ?3 AND superseded_at IS NULL",
            params![repository, path, sha256, now],
        )?;
        tx.execute(
            "INSERT INTO repo_index_files (repository, path, sha256, content_addressed, uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (repository, path, sha256) DO UPDATE SET superseded_at = NULL, uploaded_at = ?5",
            params![repository, path, sha256, content_addressed, now],
        )?;
    }
    Ok(())
}

/// Marks superseded at `now` every current content-addressed file of `repository` that is not in
/// `keep` (the paths the index just published names), inside the transaction `tx`.
fn supersede_in(
    tx: &rusqlite::Transaction<'_>,
    repository: &str,
    keep: &std::collections::HashSet<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    let current: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT path FROM repo_index_files
             WHERE repository = ?1 AND content_addressed = 1 AND superseded_at IS NULL",
        )?;
        let rows = stmt.query_map(params![repository], |row| row.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for path in current.iter().filter(|path| !keep.contains(path.as_str())) {
        tx.execute(
            "UPDATE repo_index_files SET superseded_at = ?3
             WHERE repository = ?1 AND path = ?2 AND superseded_at IS NULL",
            params![repository, path, now],
        )?;
    }
    Ok(())
}
