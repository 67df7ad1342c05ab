//! Opening the state database (`buildmaster.sqlite`) the one way every part of buildmaster must: WAL
//! (readers such as the API never block the writer), full synchronous commits (a state change is on
//! disk before it is acted on) and a busy timeout (the daemon, CLI commands and the API share the file).
//! Each part then creates its own tables.

use std::path::Path;

use rusqlite::Connection;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// Creates `path` empty with mode 0600 if it does not exist (an empty file is a valid new database):
/// the database holds build history and package records that other local users have no business
/// reading. SQLite gives its `-wal` and `-shm` files the database file's mode. An existing file
/// keeps its mode; failures are left to `Connection::open`, which names them.
fn create_private(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

/// Opens (creating if needed) the state database at `path` with the shared settings. The busy timeout
/// comes first, so that switching to WAL waits for another connection too. Every part's write
/// transactions begin `IMMEDIATE`: a deferred one that reads and then writes while another connection
/// (the buildrun's manifest and source records, the API) has committed meanwhile fails at once with
/// "database is locked" — waiting cannot help it, so SQLite does not wait.
pub fn open_state_db(path: &Path) -> rusqlite::Result<Connection> {
    create_private(path);
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
    ))?;
    Ok(conn)
}

/// [`open_state_db`], then creates `schema`'s tables if missing: how each part opens its own tables.
pub fn open_with_schema(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let conn = open_state_db(path)?;
    conn.execute_batch(schema)?;
    Ok(conn)
}
