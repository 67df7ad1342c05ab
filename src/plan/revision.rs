//! `--update`: the ports-tree revision the last successful buildrun processed (kept in the state
//! database, in a small table of its own), and the files changed between it and `HEAD`, as
//! HaikuPorter's buildmaster script computes them
//! (`git diff-tree -z -r --name-only --diff-filter ACMTR PREV HEAD`; deleted files are not built).
//!
//! git runs with an argument vector, never through a shell.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::{Connection, OptionalExtension};

/// The key of the processed revision in the `plan_kv` table.
const PROCESSED_REVISION: &str = "processed_revision";

/// Why a revision could not be read, stored or compared.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// The state database could not be used.
    #[error("state database {path}: {message}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// git failed (not a repository, unknown revision, git missing).
    #[error("git in {tree}: {message}")]
    Git {
        /// The ports tree.
        tree: PathBuf,
        /// git's message.
        message: String,
    },
    /// `--update` without a processed revision to compare with.
    #[error(
        "no processed revision recorded in {path}: run `buildmaster plan --everything` (or name the \
         ports) once; a successful buildrun records the revision it built"
    )]
    NoProcessedRevision {
        /// The database file.
        path: PathBuf,
    },
}

fn open(db: &Path) -> Result<Connection, RevisionError> {
    let fail = |e: rusqlite::Error| RevisionError::Database {
        path: db.into(),
        message: e.to_string(),
    };
    let conn = crate::state::sqlite::open_state_db(db).map_err(fail)?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS plan_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
        .map_err(fail)?;
    Ok(conn)
}

/// The ports-tree revision the last successful `--update` (or any successful buildrun) processed.
pub fn get_processed_revision(db: &Path) -> Result<Option<String>, RevisionError> {
    open(db)?
        .query_row(
            "SELECT value FROM plan_kv WHERE key = ?1",
            [PROCESSED_REVISION],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| RevisionError::Database {
            path: db.into(),
            message: e.to_string(),
        })
}

/// Records `revision` as processed (the buildrun calls this after success).
pub fn set_processed_revision(db: &Path, revision: &str) -> Result<(), RevisionError> {
    open(db)?
        .execute(
            "INSERT INTO plan_kv (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = ?2",
            [PROCESSED_REVISION, revision],
        )
        .map(|_| ())
        .map_err(|e| RevisionError::Database {
            path: db.into(),
            message: e.to_string(),
        })
}

/// Runs git in `tree` with `args`; its stdout.
fn git(tree: &Path, args: &[&str]) -> Result<Vec<u8>, RevisionError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(args)
        .output()
        .map_err(|e| RevisionError::Git {
            tree: tree.into(),
            message: format!("cannot run git: {e}"),
        })?;
    if !output.status.success() {
        return Err(RevisionError::Git {
            tree: tree.into(),
            message: format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(output.stdout)
}

/// The commit `HEAD` of the ports tree.
pub fn head_revision(tree: &Path) -> Result<String, RevisionError> {
    let out = git(tree, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

/// Files added, copied, modified, type-changed or renamed between `previous` and `head`, relative to
/// the tree root.
pub fn changed_files(tree: &Path, previous: &str, head: &str) -> Result<Vec<PathBuf>, RevisionError> {
    let out = git(
        tree,
        &[
            "diff-tree",
            "-z",
            "-r",
            "--name-only",
            "--diff-filter",
            "ACMTR",
            previous,
            head,
        ],
    )?;
    Ok(out
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
        .collect())
}

/// What `--update` plans: the changed files since the processed revision, and `HEAD` (to record
/// after success). No processed revision is an error telling the operator what to run first.
pub fn update_files(tree: &Path, db: &Path) -> Result<(Vec<PathBuf>, String), RevisionError> {
    let previous =
        get_processed_revision(db)?.ok_or_else(|| RevisionError::NoProcessedRevision { path: db.into() })?;
    let head = head_revision(tree)?;
    if previous == head {
        return Ok((Vec::new(), head));
    }
    Ok((changed_files(tree, &previous, &head)?, head))
}
