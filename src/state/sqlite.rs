//! Opening the state database (`buildmaster.sqlite`) the one way every part of buildmaster must: WAL
//! (readers such as the API never block the writer), full synchronous commits (a state change is on
//! disk before it is acted on) and a busy timeout (the daemon, CLI commands and the API share the file).
//! Each part then creates its own tables.

use std::path::Path;

use rusqlite::Connection;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// Opens (creating if needed) the state database at `path` with the shared settings.
pub fn open_state_db(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"
    ))?;
    Ok(conn)
}
