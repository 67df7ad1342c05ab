//! The gate's records in the state database: pipelines, their staged packages and check results.
//! Waivers ([`super::waivers`]) and the audit log ([`super::audit`]) live in the same database, on
//! the same [`GateStore`].

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::policy::CheckKind;
use crate::formats::{FormatKind, InspectedPackage};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gate_pipelines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    who TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'push',
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gate_staged (
    pipeline INTEGER NOT NULL,
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pool_key TEXT NOT NULL,
    package TEXT NOT NULL,
    targets TEXT NOT NULL,
    PRIMARY KEY (pipeline, sha256)
);
CREATE TABLE IF NOT EXISTS gate_checks (
    pipeline INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    blocking INTEGER NOT NULL,
    summary TEXT NOT NULL,
    log TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, file_name, kind)
);
CREATE TABLE IF NOT EXISTS gate_waivers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package TEXT NOT NULL,
    kind TEXT NOT NULL,
    who TEXT NOT NULL,
    reason TEXT NOT NULL,
    until INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gate_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// Columns added after the first release of the gate, with their definitions: a database made before
/// gets each once (every earlier pipeline was a push, had no ref and no promotion request; every earlier
/// waiver covered its package in every repository and every version).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("gate_pipelines", "kind", "TEXT NOT NULL DEFAULT 'push'"),
    ("gate_pipelines", "ref", "TEXT"),
    ("gate_pipelines", "promote_requested_by", "TEXT"),
    ("gate_waivers", "repository", "TEXT NOT NULL DEFAULT ''"),
    ("gate_waivers", "version", "TEXT"),
];

/// What opened a pipeline: the two flows evaluate and promote only their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineKind {
    /// `buildmaster push` or `POST /api/push`, into `[[repositories]]` ([`super::flow`]).
    Push,
    /// A publish of the packages buildruns built for the HaikuPorts repository
    /// ([`crate::gate::haikuports_publish`]).
    Buildrun,
    /// A scratch build of a proposed change ([`crate::scratch`]): checked, never promoted.
    Scratch,
}

impl PipelineKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Buildrun => "buildrun",
            Self::Scratch => "scratch",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "buildrun" => Self::Buildrun,
            "scratch" => Self::Scratch,
            _ => Self::Push,
        }
    }
}

/// Where a pipeline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineState {
    /// Its checks are running.
    Checking,
    /// A blocking check failed: its packages stay staged (a later push or a waiver may turn it green).
    Red,
    /// Every blocking check passed or was waived, but nothing was promoted: its repository's policy
    /// promotes by hand (`promote = "manual"`) and nobody asked yet, or it is a scratch build's (never
    /// promoted).
    Green,
    /// Every blocking check passed or was waived, and its packages were promoted.
    Promoted,
}

impl PipelineState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Checking => "checking",
            Self::Red => "red",
            Self::Green => "green",
            Self::Promoted => "promoted",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "checking" => Self::Checking,
            "green" => Self::Green,
            "promoted" => Self::Promoted,
            _ => Self::Red,
        }
    }
}

/// How one check of one package ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Not run yet.
    Pending,
    /// Passed.
    Passed,
    /// Failed; blocks if the check is blocking.
    Failed,
    /// Failed, but a waiver lets the package through.
    Waived,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Waived => "waived",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "passed" => Self::Passed,
            "waived" => Self::Waived,
            _ => Self::Failed,
        }
    }
}

/// A package waiting in staging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedPackage {
    /// Its format.
    pub format: FormatKind,
    /// What inspection found (the index entry included).
    pub package: InspectedPackage,
    /// Its key, the same in the staging storage and, once promoted, in the served one.
    pub pool_key: String,
    /// Ids of the repositories it goes into.
    pub targets: Vec<String>,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The package's file name.
    pub file_name: String,
    /// Which check.
    pub kind: CheckKind,
    /// How it ended.
    pub status: CheckStatus,
    /// Whether its failure keeps the package staged.
    pub blocking: bool,
    /// One line: what failed, or what passed.
    pub summary: String,
    /// The check's output (bounded).
    pub log: String,
}

/// A pipeline with its packages and checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    /// Its number.
    pub id: i64,
    /// Who pushed or published (a token's name, `cli:<user>`, `daemon`).
    pub who: String,
    /// What opened it.
    pub kind: PipelineKind,
    /// The ref (branch, tag or commit) a scratch build's pipeline checks, with the commit it named:
    /// `feature/x at 0123abc…`; `None` for other kinds.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// Who asked to promote it by hand (`POST /api/pipelines/{id}/promote`), when its repository's
    /// policy says `promote = "manual"`; it is promoted once green.
    pub promote_requested_by: Option<String>,
    /// Where it is.
    pub state: PipelineState,
    /// One line: why it is red, or what was promoted.
    pub summary: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The packages it stages.
    pub packages: Vec<StagedPackage>,
    /// Every check of every package.
    pub checks: Vec<CheckResult>,
}

/// The gate's database failed; names the file.
#[derive(Debug, thiserror::Error)]
#[error("gate records in {path}: {message}")]
pub struct GateStoreError {
    /// The database file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// The gate's records.
pub struct GateStore {
    pub(super) conn: Connection,
    path: PathBuf,
}

impl GateStore {
    /// Opens (creating the tables if needed) the gate's records in the state database at `path`.
    pub fn open(path: &Path) -> Result<Self, GateStoreError> {
        let fail = |e: rusqlite::Error| GateStoreError {
            path: path.into(),
            message: e.to_string(),
        };
        let conn = crate::state::sqlite::open_with_schema(path, SCHEMA).map_err(fail)?;
        for (table, column, definition) in ADDED_COLUMNS {
            add_column(&conn, table, column, definition).map_err(fail)?;
        }
        Ok(Self {
            conn,
            path: path.into(),
        })
    }

    pub(super) fn fail(&self, e: impl std::fmt::Display) -> GateStoreError {
        GateStoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// A new pipeline of `kind` for `packages`, in state `checking`; its number.
    pub fn create_pipeline(
        &mut self,
        who: &str,
        kind: PipelineKind,
        packages: &[StagedPackage],
        now: i64,
    ) -> Result<i64, GateStoreError> {
        let path = self.path.clone();
        let fail = |e: &dyn std::fmt::Display| GateStoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| fail(&e))?;
        tx.execute(
            "INSERT INTO gate_pipelines (who, kind, state, summary, created_at, updated_at)
             VALUES (?1, ?2, 'checking', '', ?3, ?3)",
            params![who, kind.as_str(), now],
        )
        .map_err(|e| fail(&e))?;
        let id = tx.last_insert_rowid();
        insert_staged(&tx, id, packages).map_err(|e| fail(&e))?;
        tx.commit().map_err(|e| fail(&e))?;
        Ok(id)
    }

    /// A new pipeline of kind `scratch` for a scratch build of `reference` (as
    /// [`Pipeline::reference`] shows it), in state `checking`, without packages yet; its number.
    pub fn create_scratch_pipeline(
        &mut self,
        who: &str,
        reference: &str,
        now: i64,
    ) -> Result<i64, GateStoreError> {
        let id = self.create_pipeline(who, PipelineKind::Scratch, &[], now)?;
        self.set_reference(id, reference)?;
        Ok(id)
    }

    /// Sets what [`Pipeline::reference`] shows for `pipeline` (once a scratch build resolved its ref).
    pub fn set_reference(&mut self, pipeline: i64, reference: &str) -> Result<(), GateStoreError> {
        self.conn
            .execute(
                "UPDATE gate_pipelines SET ref = ?2 WHERE id = ?1",
                params![pipeline, reference],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Adds `packages` to `pipeline` (a scratch build's, once built).
    pub fn add_packages(&mut self, pipeline: i64, packages: &[StagedPackage]) -> Result<(), GateStoreError> {
        insert_staged(&self.conn, pipeline, packages).map_err(|e| self.fail(e))
    }

    /// Records that `who` asked to promote `pipeline` by hand.
    pub fn request_promotion(&mut self, pipeline: i64, who: &str, now: i64) -> Result<(), GateStoreError> {
        self.conn
            .execute(
                "UPDATE gate_pipelines SET promote_requested_by = ?2, updated_at = ?3 WHERE id = ?1",
                params![pipeline, who, now],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Records `result` for `pipeline` (replacing an earlier result of the same check).
    pub fn set_check(&mut self, pipeline: i64, result: &CheckResult, now: i64) -> Result<(), GateStoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO gate_checks (pipeline, file_name, kind, status, blocking, summary, log, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    pipeline,
                    result.file_name,
                    result.kind.as_str(),
                    result.status.as_str(),
                    result.blocking,
                    result.summary,
                    result.log,
                    now
                ],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Moves `pipeline` to `state` with `summary`.
    pub fn set_state(
        &mut self,
        pipeline: i64,
        state: PipelineState,
        summary: &str,
        now: i64,
    ) -> Result<(), GateStoreError> {
        self.conn
            .execute(
                "UPDATE gate_pipelines SET state = ?2, summary = ?3, updated_at = ?4 WHERE id = ?1",
                params![pipeline, state.as_str(), summary, now],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The numbers of the pipelines of `kind` not promoted yet, oldest first.
    pub fn open_pipelines(&self, kind: PipelineKind) -> Result<Vec<i64>, GateStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM gate_pipelines WHERE state != 'promoted' AND kind = ?1 ORDER BY id")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![kind.as_str()], |row| row.get(0))
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<i64>, _>>().map_err(|e| self.fail(e))
    }

    /// Pipeline `id` with its packages and checks.
    pub fn pipeline(&self, id: i64) -> Result<Option<Pipeline>, GateStoreError> {
        let head = self
            .conn
            .query_row(
                "SELECT who, kind, state, summary, created_at, updated_at, ref, promote_requested_by
                 FROM gate_pipelines WHERE id = ?1",
                params![id],
                |row| {
                    Ok((
                        (
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                        ),
                        (row.get::<_, i64>(4)?, row.get::<_, i64>(5)?),
                        (row.get::<_, Option<String>>(6)?, row.get::<_, Option<String>>(7)?),
                    ))
                },
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        let Some(((who, kind, state, summary), (created_at, updated_at), (reference, promote_requested_by))) =
            head
        else {
            return Ok(None);
        };
        Ok(Some(Pipeline {
            id,
            who,
            kind: PipelineKind::parse(&kind),
            reference,
            promote_requested_by,
            state: PipelineState::parse(&state),
            summary,
            created_at,
            updated_at,
            packages: self.staged(id)?,
            checks: self.checks(id)?,
        }))
    }

    /// The newest `limit` pipelines (without logs), newest first.
    pub fn pipelines(&self, limit: u32) -> Result<Vec<Pipeline>, GateStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM gate_pipelines ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.fail(e))?;
        let ids = stmt
            .query_map(params![limit], |row| row.get::<_, i64>(0))
            .map_err(|e| self.fail(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(mut pipeline) = self.pipeline(id)? {
                pipeline.checks.iter_mut().for_each(|c| c.log.clear());
                out.push(pipeline);
            }
        }
        Ok(out)
    }

    fn staged(&self, pipeline: i64) -> Result<Vec<StagedPackage>, GateStoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT format, pool_key, package, targets FROM gate_staged WHERE pipeline = ?1 ORDER BY rowid")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![pipeline], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.fail(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))?;
        rows.into_iter()
            .map(|(format, pool_key, package, targets)| {
                Ok(StagedPackage {
                    format: FormatKind::parse(&format)
                        .ok_or_else(|| self.fail(format!("unknown format {format}")))?,
                    package: serde_json::from_str(&package).map_err(|e| self.fail(e))?,
                    pool_key,
                    targets: serde_json::from_str(&targets).map_err(|e| self.fail(e))?,
                })
            })
            .collect()
    }

    fn checks(&self, pipeline: i64) -> Result<Vec<CheckResult>, GateStoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT file_name, kind, status, blocking, summary, log FROM gate_checks WHERE pipeline = ?1
                 ORDER BY file_name, kind",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![pipeline], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.fail(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(file_name, kind, status, blocking, summary, log)| {
                Some(CheckResult {
                    file_name,
                    kind: CheckKind::parse(&kind)?,
                    status: CheckStatus::parse(&status),
                    blocking,
                    summary,
                    log,
                })
            })
            .collect())
    }
}

/// Adds `column` to `table` unless it is there; another process opening the same database may add it
/// first, which is not an error.
fn add_column(conn: &Connection, table: &str, column: &str, definition: &str) -> rusqlite::Result<()> {
    let exists = |conn: &Connection| {
        conn.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")
            .and_then(|mut stmt| stmt.exists(params![table, column]))
    };
    if exists(conn)? {
        return Ok(());
    }
    match conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}")) {
        Err(e) if !exists(conn)? => Err(e),
        _ => Ok(()),
    }
}

/// Inserts `packages` as staged by `pipeline` (a package it already stages is kept).
fn insert_staged(conn: &Connection, pipeline: i64, packages: &[StagedPackage]) -> Result<(), String> {
    for staged in packages {
        conn.execute(
            "INSERT OR IGNORE INTO gate_staged (pipeline, format, sha256, pool_key, package, targets)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                pipeline,
                staged.format.as_str(),
                staged.package.sha256,
                staged.pool_key,
                serde_json::to_string(&staged.package).map_err(|e| e.to_string())?,
                serde_json::to_string(&staged.targets).map_err(|e| e.to_string())?,
            ],
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}
