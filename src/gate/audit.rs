//! The audit log: who pushed, what ran, what was promoted or waived, and when. Append-only: the gate
//! inserts and the API reads; nothing updates or deletes a row.

use rusqlite::params;
use serde::Serialize;

use super::store::{GateStore, GateStoreError};

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Its number (increasing).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// A token's name, `cli:<user>`, or `gate` for what the gate decided itself.
    pub who: String,
    /// `push`, `check`, `promote`, `waive`.
    pub action: String,
    /// What it concerns (`pipeline 3`, a package file name).
    pub subject: String,
    /// Details, one line.
    pub detail: String,
}

impl GateStore {
    /// Appends an entry.
    pub fn audit(
        &mut self,
        who: &str,
        action: &str,
        subject: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), GateStoreError> {
        self.conn
            .execute(
                "INSERT INTO gate_audit (at, who, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now, who, action, subject, detail],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The newest `limit` entries with a number below `before` (all when `None`), newest first.
    pub fn audit_log(&self, limit: u32, before: Option<i64>) -> Result<Vec<AuditEntry>, GateStoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at, who, action, subject, detail FROM gate_audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![before.unwrap_or(i64::MAX), limit], |row| {
                Ok(AuditEntry {
                    id: row.get(0)?,
                    at: row.get(1)?,
                    who: row.get(2)?,
                    action: row.get(3)?,
                    subject: row.get(4)?,
                    detail: row.get(5)?,
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }
}
