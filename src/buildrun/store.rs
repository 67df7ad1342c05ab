//! Durable buildrun state in the state database (`buildmaster.sqlite`, next to the package records, in
//! tables of its own): buildruns, their builds, the verified results of completed builds, the builders'
//! current state, and the global build and buildrun counters.
//!
//! Every change is one committed transaction (`synchronous = FULL`) made *before* the executor acts on
//! it, so a buildmaster killed at any instant restarts from a state that never claims more than
//! happened: a build recorded active may or may not have run (it is re-queued), a build recorded
//! complete has its results in the spool and its rows in `buildrun_results`.
//!
//! The read functions are public: the daemon's API reads buildruns, builds and builders from here.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

pub use super::rows::{BuildRow, BuildState, BuilderRow, BuildrunInfo, ResultRow, RunState};

use crate::plan::model::Plan;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buildrun_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS buildruns (
    id         INTEGER PRIMARY KEY,
    request    TEXT NOT NULL,
    state      TEXT NOT NULL,
    status     TEXT NOT NULL,
    ports_head TEXT,
    ports_origin TEXT,
    plan       TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL
);
CREATE TABLE IF NOT EXISTS buildrun_builds (
    buildrun       INTEGER NOT NULL,
    idx            INTEGER NOT NULL,
    port           TEXT NOT NULL,
    state          TEXT NOT NULL,
    builder        TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    build_numbers  TEXT NOT NULL DEFAULT '[]',
    started_at     REAL,
    ended_at       REAL,
    failure_reason TEXT,
    PRIMARY KEY (buildrun, idx)
);
CREATE TABLE IF NOT EXISTS buildrun_results (
    buildrun  INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    size      INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    PRIMARY KEY (buildrun, file_name)
);
CREATE TABLE IF NOT EXISTS buildrun_builders (
    name         TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    buildrun     INTEGER,
    build_number INTEGER,
    port         TEXT,
    last_error   TEXT,
    connection_errors INTEGER NOT NULL DEFAULT 0,
    updated_at   REAL NOT NULL
);
";

/// Counter holding the next build number (global across buildruns, as HaikuPorter's
/// `buildmaster/buildnumber`).
const NEXT_BUILD: &str = "next_build";
/// Counter holding the next buildrun number (as HaikuPorter's `output/buildruns/last_buildrun` + 1).
const NEXT_BUILDRUN: &str = "next_buildrun";

/// A store error, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("buildrun state in {path}: {message}")]
pub struct StoreError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The buildrun tables of the state database.
pub struct BuildrunStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for BuildrunStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildrunStore").field("path", &self.path).finish()
    }
}

/// Seconds since the Unix epoch, with fractions (HaikuPorter's `time.time()`).
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl BuildrunStore {
    /// Opens the database at `path` (creating the file and the tables if missing).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = crate::state::sqlite::open_with_schema(path, SCHEMA).map_err(|e| StoreError {
            path: path.into(),
            message: e.to_string(),
        })?;
        Ok(Self {
            conn,
            path: path.into(),
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn counter(tx: &Connection, name: &str) -> rusqlite::Result<Option<u64>> {
        tx.query_row(
            "SELECT value FROM buildrun_counters WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map(|v| v.map(|v| v as u64))
    }

    fn set_counter(tx: &Connection, name: &str, value: u64) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO buildrun_counters (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = ?2",
            params![name, value as i64],
        )
        .map(|_| ())
    }

    /// The next build number without taking it.
    pub fn next_build_number(&self) -> Result<u64, StoreError> {
        Self::counter(&self.conn, NEXT_BUILD)
            .map(|v| v.unwrap_or(1))
            .map_err(|e| self.fail(e))
    }

    /// Makes the counters continue after `last_buildrun` and `last_build` (numbers found in an adopted
    /// HaikuPorter output tree); never moves a counter backwards.
    pub fn adopt_counters(
        &mut self,
        last_buildrun: Option<u64>,
        last_build: Option<u64>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        for (name, last) in [(NEXT_BUILDRUN, last_buildrun), (NEXT_BUILD, last_build)] {
            if let Some(last) = last {
                let current = Self::counter(&tx, name).map_err(fail)?.unwrap_or(1);
                if last + 1 > current {
                    Self::set_counter(&tx, name, last + 1).map_err(fail)?;
                }
            }
        }
        tx.commit().map_err(fail)
    }

    /// Creates a buildrun for `plan`: takes the next buildrun number and records every build (blocked,
    /// or scheduled when it needs nothing from this run), in one transaction.
    pub fn create_buildrun(
        &mut self,
        request: &str,
        ports_head: Option<&str>,
        ports_origin: Option<&str>,
        plan: &Plan,
    ) -> Result<u64, StoreError> {
        let plan_json = serde_json::to_string(plan).map_err(|e| self.fail(e))?;
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let max_id: Option<i64> = tx
            .query_row("SELECT MAX(id) FROM buildruns", [], |r| r.get(0))
            .map_err(fail)?;
        let id = Self::counter(&tx, NEXT_BUILDRUN)
            .map_err(fail)?
            .unwrap_or(1)
            .max(max_id.map_or(1, |m| m as u64 + 1));
        Self::set_counter(&tx, NEXT_BUILDRUN, id + 1).map_err(fail)?;
        tx.execute(
            "INSERT INTO buildruns (id, request, state, status, ports_head, ports_origin, plan, started_at)
             VALUES (?1, ?2, ?3, 'preparing', ?4, ?5, ?6, ?7)",
            params![
                id as i64,
                request,
                RunState::Running.as_str(),
                ports_head,
                ports_origin,
                plan_json,
                now_secs()
            ],
        )
        .map_err(fail)?;
        for (index, build) in plan.builds.iter().enumerate() {
            let state = if build.after.is_empty() {
                BuildState::Scheduled
            } else {
                BuildState::Blocked
            };
            tx.execute(
                "INSERT INTO buildrun_builds (buildrun, idx, port, state) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id as i64,
                    index as i64,
                    build.port.versioned_name(),
                    state.as_str()
                ],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(id)
    }

    /// Every buildrun, newest first.
    pub fn list_buildruns(&self) -> Result<Vec<BuildrunInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, request, state, status, ports_head, ports_origin, started_at, ended_at
                 FROM buildruns ORDER BY id DESC",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt.query_map([], row_to_info).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(self.info(row.map_err(|e| self.fail(e))?)?);
        }
        Ok(out)
    }

    /// One buildrun.
    pub fn buildrun(&self, id: u64) -> Result<Option<BuildrunInfo>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT id, request, state, status, ports_head, ports_origin, started_at, ended_at
                 FROM buildruns WHERE id = ?1",
                [id as i64],
                row_to_info,
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        row.map(|r| self.info(r)).transpose()
    }

    /// The newest buildrun still to be finished (running when the process died, or interrupted).
    pub fn unfinished(&self) -> Result<Option<BuildrunInfo>, StoreError> {
        Ok(self
            .list_buildruns()?
            .into_iter()
            .find(|b| b.state.is_resumable()))
    }

    fn info(&self, raw: RawInfo) -> Result<BuildrunInfo, StoreError> {
        let state = RunState::parse(&raw.2)
            .ok_or_else(|| self.fail(format!("buildrun {}: unknown state {:?}", raw.0, raw.2)))?;
        Ok(BuildrunInfo {
            id: raw.0 as u64,
            request: raw.1,
            state,
            status: raw.3,
            ports_head: raw.4,
            ports_origin: raw.5,
            started_at: raw.6,
            ended_at: raw.7,
        })
    }

    /// The plan a buildrun runs.
    pub fn plan(&self, id: u64) -> Result<Plan, StoreError> {
        let text: String = self
            .conn
            .query_row("SELECT plan FROM buildruns WHERE id = ?1", [id as i64], |r| {
                r.get(0)
            })
            .map_err(|e| self.fail(format!("buildrun {id}: {e}")))?;
        serde_json::from_str(&text).map_err(|e| self.fail(format!("buildrun {id}: unreadable plan: {e}")))
    }

    /// The builds of a buildrun, by plan index.
    pub fn builds(&self, id: u64) -> Result<Vec<BuildRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT idx, port, state, builder, attempts, build_numbers, started_at, ended_at,
                        failure_reason
                 FROM buildrun_builds WHERE buildrun = ?1 ORDER BY idx",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<f64>>(6)?,
                    r.get::<_, Option<f64>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for row in rows {
            let r = row.map_err(|e| self.fail(e))?;
            out.push(BuildRow {
                index: r.0 as usize,
                state: BuildState::parse(&r.2)
                    .ok_or_else(|| self.fail(format!("build {} of {id}: unknown state {:?}", r.1, r.2)))?,
                port: r.1,
                builder: r.3,
                attempts: r.4 as u32,
                build_numbers: serde_json::from_str(&r.5)
                    .map_err(|e| self.fail(format!("build {} of {id}: build numbers: {e}", r.0)))?,
                started_at: r.6,
                ended_at: r.7,
                failure_reason: r.8,
            });
        }
        Ok(out)
    }

    /// The verified results of a buildrun's completed builds.
    pub fn results(&self, id: u64) -> Result<Vec<ResultRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT idx, file_name, size, sha256 FROM buildrun_results WHERE buildrun = ?1
                 ORDER BY idx, file_name",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok(ResultRow {
                    index: r.get::<_, i64>(0)? as usize,
                    file_name: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    sha256: r.get(3)?,
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }

    /// The verified result of the most recent completed build that produced `file_name` (with its
    /// buildrun), if any: what the publisher checks a spool file against before uploading it.
    pub fn latest_result(&self, file_name: &str) -> Result<Option<(u64, ResultRow)>, StoreError> {
        self.conn
            .query_row(
                "SELECT buildrun, idx, file_name, size, sha256 FROM buildrun_results WHERE file_name = ?1
                 ORDER BY buildrun DESC LIMIT 1",
                [file_name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        ResultRow {
                            index: r.get::<_, i64>(1)? as usize,
                            file_name: r.get(2)?,
                            size: r.get::<_, i64>(3)? as u64,
                            sha256: r.get(4)?,
                        },
                    ))
                },
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Sets a buildrun's state and status text (and its end time when it ended).
    pub fn set_run_state(&mut self, id: u64, state: RunState, status: &str) -> Result<(), StoreError> {
        let ended = matches!(state, RunState::Complete | RunState::Failed).then(now_secs);
        self.conn
            .execute(
                "UPDATE buildruns SET state = ?2, status = ?3, ended_at = ?4 WHERE id = ?1",
                params![id as i64, state.as_str(), status, ended],
            )
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Writes a build's row.
    pub fn save_build(&mut self, id: u64, build: &BuildRow) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        save_build_row(&self.conn, id, build).map_err(fail)
    }

    /// Writes several build rows in one transaction (a failure and the dependents it makes lost).
    pub fn save_builds(&mut self, id: u64, builds: &[&BuildRow]) -> Result<(), StoreError> {
        if builds.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        for build in builds {
            save_build_row(&tx, id, build).map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Starts an attempt: takes the next build number, records it and the builder on the (now active)
    /// build, in one transaction. Returns the build number.
    pub fn start_attempt(&mut self, id: u64, build: &mut BuildRow, builder: &str) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let number = Self::counter(&tx, NEXT_BUILD).map_err(fail)?.unwrap_or(1);
        Self::set_counter(&tx, NEXT_BUILD, number + 1).map_err(fail)?;
        build.state = BuildState::Active;
        build.builder = Some(builder.to_string());
        build.build_numbers.push(number);
        build.started_at = Some(now_secs());
        build.ended_at = None;
        save_build_row(&tx, id, build).map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(number)
    }

    /// Completes a build: its verified results and its complete row, in one transaction.
    pub fn complete_build(
        &mut self,
        id: u64,
        build: &BuildRow,
        results: &[ResultRow],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        for r in results {
            tx.execute(
                "INSERT INTO buildrun_results (buildrun, idx, file_name, size, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(buildrun, file_name) DO UPDATE SET idx = ?2, size = ?4, sha256 = ?5",
                params![id as i64, r.index as i64, r.file_name, r.size as i64, r.sha256],
            )
            .map_err(fail)?;
        }
        save_build_row(&tx, id, build).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// The duration in seconds of each port's most recent complete build (any buildrun), by port name
    /// (`name` of `name-version`): the scheduler's estimate for its critical-path priority.
    pub fn port_durations(&self) -> Result<std::collections::HashMap<String, f64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT port, ended_at - started_at FROM buildrun_builds
                 WHERE state = 'complete' AND started_at IS NOT NULL AND ended_at IS NOT NULL
                 ORDER BY buildrun",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))
            .map_err(|e| self.fail(e))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (port, secs) = row.map_err(|e| self.fail(e))?;
            let name = port
                .rsplit_once('-')
                .map_or(port.as_str(), |(n, _)| n)
                .to_string();
            out.insert(name, secs.max(0.0));
        }
        Ok(out)
    }

    /// Records a builder's current state.
    pub fn save_builder(&mut self, row: &BuilderRow) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO buildrun_builders (name, state, buildrun, build_number, port, last_error,
                     connection_errors, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(name) DO UPDATE SET state = ?2, buildrun = ?3, build_number = ?4, port = ?5,
                     last_error = ?6, connection_errors = ?7, updated_at = ?8",
                params![
                    row.name,
                    row.state,
                    row.buildrun.map(|v| v as i64),
                    row.build_number.map(|v| v as i64),
                    row.port,
                    row.last_error,
                    row.connection_errors as i64,
                    row.updated_at
                ],
            )
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Every builder's last recorded state, by name.
    pub fn builders(&self) -> Result<Vec<BuilderRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, state, buildrun, build_number, port, last_error, connection_errors, updated_at
                 FROM buildrun_builders ORDER BY name",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BuilderRow {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    buildrun: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                    build_number: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                    port: r.get(4)?,
                    last_error: r.get(5)?,
                    connection_errors: r.get::<_, i64>(6)? as u32,
                    updated_at: r.get(7)?,
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }
}

type RawInfo = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    f64,
    Option<f64>,
);

/// rusqlite reads a row into a tuple of its columns' types.
fn row_to_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawInfo> {
    RawInfo::try_from(r)
}

fn save_build_row(conn: &Connection, id: u64, b: &BuildRow) -> rusqlite::Result<()> {
    let numbers = serde_json::to_string(&b.build_numbers).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "UPDATE buildrun_builds SET state = ?3, builder = ?4, attempts = ?5, build_numbers = ?6,
             started_at = ?7, ended_at = ?8, failure_reason = ?9
         WHERE buildrun = ?1 AND idx = ?2",
        params![
            id as i64,
            b.index as i64,
            b.state.as_str(),
            b.builder,
            b.attempts as i64,
            numbers,
            b.started_at,
            b.ended_at,
            b.failure_reason
        ],
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::PlannedBuild;
    use crate::ports::model::{ArchStatus, Port};

    fn port(name: &str) -> Port {
        Port {
            name: name.into(),
            version: "1.0".into(),
            revision: 1,
            category: "dev-libs".into(),
            recipe_path: format!("dev-libs/{name}/{name}-1.0.recipe").into(),
            secondary_arch: None,
            status: ArchStatus::Stable,
            packages: vec![],
            build_requires: vec![],
            build_prerequires: vec![],
        }
    }

    fn plan() -> Plan {
        let build = |name: &str, after: Vec<usize>| PlannedBuild {
            port: port(name),
            results: vec![format!("{name}-1.0-1-x86_64.hpkg")],
            present: vec![],
            missing_ids: vec![],
            after,
            target: None,
        };
        Plan {
            builds: vec![build("a", vec![]), build("b", vec![0])],
            skipped: vec![],
        }
    }

    #[test]
    fn buildruns_builds_and_counters_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut store = BuildrunStore::open(&path).unwrap();
        store.adopt_counters(Some(41), Some(99)).unwrap();
        let id = store
            .create_buildrun("build a b", Some("abc"), None, &plan())
            .unwrap();
        assert_eq!(id, 42);
        let mut builds = store.builds(id).unwrap();
        assert_eq!(
            builds.iter().map(|b| b.state).collect::<Vec<_>>(),
            [BuildState::Scheduled, BuildState::Blocked]
        );
        let number = store.start_attempt(id, &mut builds[0], "b1").unwrap();
        assert_eq!(number, 100);
        builds[0].state = BuildState::Complete;
        builds[0].attempts = 1;
        let result = ResultRow {
            index: 0,
            file_name: "a-1.0-1-x86_64.hpkg".into(),
            size: 3,
            sha256: "00".repeat(32),
        };
        store
            .complete_build(id, &builds[0], std::slice::from_ref(&result))
            .unwrap();
        drop(store);

        let mut store = BuildrunStore::open(&path).unwrap();
        let run = store.unfinished().unwrap().unwrap();
        assert_eq!((run.id, run.ports_head.as_deref()), (42, Some("abc")));
        assert_eq!(store.plan(id).unwrap(), plan());
        let builds = store.builds(id).unwrap();
        assert_eq!(builds[0].state, BuildState::Complete);
        assert_eq!(builds[0].build_numbers, [100]);
        assert_eq!(
            store.latest_result(&result.file_name).unwrap(),
            Some((id, result.clone()))
        );
        assert_eq!(store.latest_result("other-1-1-x86_64.hpkg").unwrap(), None);
        assert_eq!(store.results(id).unwrap(), [result]);
        assert_eq!(store.next_build_number().unwrap(), 101);
        // Adopting never moves a counter backwards.
        store.adopt_counters(Some(3), Some(5)).unwrap();
        assert_eq!(store.next_build_number().unwrap(), 101);
        store.set_run_state(id, RunState::Complete, "complete").unwrap();
        assert!(store.unfinished().unwrap().is_none());
        assert!(store.buildrun(id).unwrap().unwrap().ended_at.is_some());
        assert_eq!(store.create_buildrun("update", None, None, &plan()).unwrap(), 43);
    }
}
