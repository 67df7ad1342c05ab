//! The recipe cache (`<state>/recipe-cache.sqlite`): evaluation outcomes keyed by the SHA-256 of the
//! recipe's bytes and its evaluation context, and each recipe file's stat fingerprint so a warm load
//! needs a `stat` per recipe and no read, hash or bash.
//!
//! The key covers everything an evaluation depends on: the recipe bytes, its path in the tree (bash
//! sees `portName`/`portVersion` from it), the target and secondary architecture, and the evaluator
//! script itself, so changing any of them re-evaluates. A stat fingerprint (mtime, ctime, size,
//! inode) stands in for the content hash only when the file was last written well before it was
//! fingerprinted: a file changed twice within one timestamp tick would otherwise look unchanged
//! (git's "racy clean" problem), so young files are always re-hashed.
//!
//! Beside each evaluation it keeps the port built from it ([`Built`]) under
//! [`built_key`](crate::ports::built::built_key), which also covers the port directory, the load's
//! settings and this program: a warm load reads ports back instead of deriving them again.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

use crate::ports::built::Built;
use crate::ports::evaluate::{Outcome, EVALUATOR_SCRIPT};
use crate::ports::recipe_keys::{key_names, supported_keys_pattern};

/// Bumped when the meaning of cached outcomes changes without the evaluator script changing (2:
/// HaikuPorter's full set of recipe attributes, port names from recipe file names).
const CACHE_FORMAT: &str = "buildmaster-recipe-cache-2";

/// A file whose mtime is this close to the moment it was fingerprinted is re-hashed next time.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A recipe file's stat fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Size in bytes.
    pub size: i64,
    /// Inode number.
    pub inode: i64,
}

impl Fingerprint {
    /// The fingerprint of `metadata`.
    pub fn of(metadata: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            mtime_ns: metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec(),
            ctime_ns: metadata.ctime() * 1_000_000_000 + metadata.ctime_nsec(),
            size: metadata.size() as i64,
            inode: metadata.ino() as i64,
        }
    }

    /// Whether the file was changed so recently that an equal fingerprint proves nothing.
    fn is_racy(&self, now: SystemTime) -> bool {
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(i64::MAX);
        now_ns.saturating_sub(self.mtime_ns.max(self.ctime_ns)) < RACY_WINDOW.as_nanos() as i64
    }
}

/// The evaluation context part of a cache key.
pub fn context_key(target_arch: &str, secondary_arch: Option<&str>) -> String {
    format!("{target_arch}/{}", secondary_arch.unwrap_or(""))
}

/// SHA-256 of the recipe bytes.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of the cache format and the evaluator script, computed once: every key includes it, so
/// editing the script invalidates every entry.
fn evaluator_digest() -> &'static [u8; 32] {
    static DIGEST: OnceLock<[u8; 32]> = OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut hasher = Sha256::new();
        hasher.update(CACHE_FORMAT.as_bytes());
        hasher.update([0]);
        hasher.update(EVALUATOR_SCRIPT.as_bytes());
        hasher.update([0]);
        // The attribute names the script is handed: another set collects other variables.
        hasher.update(key_names().as_bytes());
        hasher.update(supported_keys_pattern().as_bytes());
        hasher.finalize().into()
    })
}

/// The cache key of one evaluation.
pub fn evaluation_key(content: &[u8; 32], relative: &Path, context: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        &evaluator_digest()[..],
        content,
        relative.as_os_str().as_encoded_bytes(),
        context.as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// (path, context) → key and the stored text (an outcome or a built port, as JSON).
type KeyedRows = HashMap<(String, String), ([u8; 32], String)>;

/// The open cache: file fingerprints, evaluation keys and built ports read into memory (a tree has a
/// few thousand), evaluation outcomes read one by one when needed.
pub struct RecipeCache {
    connection: Connection,
    path: PathBuf,
    files: HashMap<String, (Fingerprint, [u8; 32])>,
    /// (path, context) → evaluation key; the outcome is read from the database only when asked
    /// for (a warm load mostly needs the built port instead).
    evaluations: HashMap<(String, String), [u8; 32]>,
    /// (path, context) → built key and the [`Built`] as JSON.
    built: KeyedRows,
    new_files: Vec<(String, Fingerprint, [u8; 32])>,
    new_evaluations: Vec<(String, String, [u8; 32], String)>,
    new_built: Vec<(String, String, [u8; 32], String)>,
}

impl RecipeCache {
    /// Opens (creating) the cache at `path`.
    pub fn open(path: &Path) -> Result<RecipeCache, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS files (
                 path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
                 size INTEGER NOT NULL, inode INTEGER NOT NULL, sha256 BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS evaluations (
                 path TEXT NOT NULL, context TEXT NOT NULL, key BLOB NOT NULL, outcome TEXT NOT NULL,
                 PRIMARY KEY (path, context));
             CREATE TABLE IF NOT EXISTS built_ports (
                 path TEXT NOT NULL, context TEXT NOT NULL, key BLOB NOT NULL, built TEXT NOT NULL,
                 PRIMARY KEY (path, context));",
        )?;
        let mut files = HashMap::new();
        {
            let mut statement =
                connection.prepare("SELECT path, mtime_ns, ctime_ns, size, inode, sha256 FROM files")?;
            let rows = statement.query_map([], |row| {
                let fingerprint = Fingerprint {
                    mtime_ns: row.get(1)?,
                    ctime_ns: row.get(2)?,
                    size: row.get(3)?,
                    inode: row.get(4)?,
                };
                Ok((row.get::<_, String>(0)?, fingerprint, row.get::<_, Vec<u8>>(5)?))
            })?;
            for row in rows {
                let (path, fingerprint, hash) = row?;
                if let Ok(hash) = <[u8; 32]>::try_from(hash) {
                    files.insert(path, (fingerprint, hash));
                }
            }
        }
        let evaluations = keyed_rows(&connection, "SELECT path, context, key, '' FROM evaluations")?
            .into_iter()
            .map(|(slot, (key, _))| (slot, key))
            .collect();
        let built = keyed_rows(&connection, "SELECT path, context, key, built FROM built_ports")?;
        Ok(RecipeCache {
            connection,
            path: path.to_owned(),
            files,
            evaluations,
            built,
            new_files: Vec::new(),
            new_evaluations: Vec::new(),
            new_built: Vec::new(),
        })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The content hash recorded for `relative` if its fingerprint still matches.
    pub fn known_hash(&self, relative: &str, fingerprint: &Fingerprint) -> Option<[u8; 32]> {
        self.files
            .get(relative)
            .filter(|(known, _)| known == fingerprint)
            .map(|(_, hash)| *hash)
    }

    /// Records a freshly hashed file (written on [`RecipeCache::save`]).
    pub fn record_file(&mut self, relative: &str, fingerprint: Fingerprint, hash: [u8; 32]) {
        // A racy file is stored with an impossible mtime so it is re-hashed next time.
        let stored = match fingerprint.is_racy(SystemTime::now()) {
            true => Fingerprint {
                mtime_ns: -1,
                ..fingerprint
            },
            false => fingerprint,
        };
        self.new_files.push((relative.to_owned(), stored, hash));
    }

    /// The cached outcome of `key` for this recipe and context, if any.
    pub fn outcome(&self, relative: &str, context: &str, key: &[u8; 32]) -> Option<Outcome> {
        let stored_key = self.evaluations.get(&(relative.to_owned(), context.to_owned()))?;
        if stored_key != key {
            return None;
        }
        // An unreadable row is a miss: the recipe is evaluated again and the row replaced.
        let json: String = self
            .connection
            .prepare_cached("SELECT outcome FROM evaluations WHERE path = ?1 AND context = ?2")
            .and_then(|mut statement| statement.query_row([relative, context], |row| row.get(0)))
            .ok()?;
        serde_json::from_str(&json).ok()
    }

    /// Records an outcome (written on [`RecipeCache::save`]). Timeouts are not cached: the next
    /// load tries again.
    pub fn record_outcome(&mut self, relative: &str, context: &str, key: [u8; 32], outcome: &Outcome) {
        if matches!(outcome, Outcome::TimedOut(_)) {
            return;
        }
        if let Ok(json) = serde_json::to_string(outcome) {
            self.new_evaluations
                .push((relative.to_owned(), context.to_owned(), key, json));
        }
    }

    /// The port built under `key` for this recipe and context, if any.
    pub fn built(&self, relative: &str, context: &str, key: &[u8; 32]) -> Option<Built> {
        let (stored_key, json) = self.built.get(&(relative.to_owned(), context.to_owned()))?;
        (stored_key == key)
            .then(|| serde_json::from_str(json).ok())
            .flatten()
    }

    /// Records a built port (written on [`RecipeCache::save`]).
    pub fn record_built(&mut self, relative: &str, context: &str, key: [u8; 32], built: &Built) {
        if let Ok(json) = serde_json::to_string(built) {
            self.new_built
                .push((relative.to_owned(), context.to_owned(), key, json));
        }
    }

    /// Writes what was recorded and forgets recipes that are no longer in the tree, in one
    /// transaction.
    pub fn save(&mut self, present: &HashSet<String>) -> Result<(), rusqlite::Error> {
        let gone_files: Vec<&String> = self.files.keys().filter(|p| !present.contains(*p)).collect();
        let gone_evaluations: Vec<&(String, String)> = self
            .evaluations
            .keys()
            .filter(|(p, _)| !present.contains(p))
            .collect();
        let gone_built: Vec<&(String, String)> =
            self.built.keys().filter(|(p, _)| !present.contains(p)).collect();
        if self.new_files.is_empty()
            && self.new_evaluations.is_empty()
            && self.new_built.is_empty()
            && gone_files.is_empty()
            && gone_evaluations.is_empty()
            && gone_built.is_empty()
        {
            return Ok(());
        }
        let transaction = self.connection.unchecked_transaction()?;
        {
            let mut insert_file = transaction.prepare(
                "INSERT OR REPLACE INTO files (path, mtime_ns, ctime_ns, size, inode, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (path, f, hash) in &self.new_files {
                insert_file.execute(params![path, f.mtime_ns, f.ctime_ns, f.size, f.inode, &hash[..]])?;
            }
            let mut insert_evaluation = transaction.prepare(
                "INSERT OR REPLACE INTO evaluations (path, context, key, outcome) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (path, context, key, outcome) in &self.new_evaluations {
                insert_evaluation.execute(params![path, context, &key[..], outcome])?;
            }
            let mut delete_file = transaction.prepare("DELETE FROM files WHERE path = ?1")?;
            for path in gone_files {
                delete_file.execute([path])?;
            }
            let mut delete_evaluation =
                transaction.prepare("DELETE FROM evaluations WHERE path = ?1 AND context = ?2")?;
            for (path, context) in gone_evaluations {
                delete_evaluation.execute([path, context])?;
            }
            let mut insert_built = transaction.prepare(
                "INSERT OR REPLACE INTO built_ports (path, context, key, built) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (path, context, key, built) in &self.new_built {
                insert_built.execute(params![path, context, &key[..], built])?;
            }
            let mut delete_built =
                transaction.prepare("DELETE FROM built_ports WHERE path = ?1 AND context = ?2")?;
            for (path, context) in gone_built {
                delete_built.execute([path, context])?;
            }
        }
        transaction.commit()?;
        self.new_files.clear();
        self.new_evaluations.clear();
        self.new_built.clear();
        Ok(())
    }
}

/// (path, context) → (key, text) from a `SELECT path, context, key, <text>` of a keyed table; rows
/// whose key is not 32 bytes are left out (they never match).
fn keyed_rows(connection: &Connection, query: &str) -> Result<KeyedRows, rusqlite::Error> {
    let mut rows_by_key = HashMap::new();
    let mut statement = connection.prepare(query)?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Vec<u8>>(2)?,
            row.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (path, context, key, text) = row?;
        if let Ok(key) = <[u8; 32]>::try_from(key) {
            rows_by_key.insert((path, context), (key, text));
        }
    }
    Ok(rows_by_key)
}
