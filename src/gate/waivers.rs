//! Waivers: a named person lets a package through one failing check until a date, for a reason
//! (Greenwave's waivers). A waiver covers every version of the package pushed before it expires; after
//! that, new versions are gated again. Waivers are never deleted (the audit log names them too).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::policy::CheckKind;
use super::store::{GateStore, GateStoreError};

/// A waiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// Its number.
    pub id: i64,
    /// The package name it covers.
    pub package: String,
    /// The check it waives.
    pub kind: CheckKind,
    /// Who waived.
    pub who: String,
    /// Why.
    pub reason: String,
    /// Unix seconds after which it no longer applies.
    pub until: i64,
    /// Unix seconds.
    pub created_at: i64,
}

impl GateStore {
    /// Records a waiver; its number.
    pub fn add_waiver(
        &mut self,
        package: &str,
        kind: CheckKind,
        who: &str,
        reason: &str,
        until: i64,
        now: i64,
    ) -> Result<i64, GateStoreError> {
        self.conn
            .execute(
                "INSERT INTO gate_waivers (package, kind, who, reason, until, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![package, kind.as_str(), who, reason, until, now],
            )
            .map_err(|e| self.fail(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The waiver of `kind` for `package` in force at `now`, if any (the latest-expiring one).
    pub fn waiver(&self, package: &str, kind: CheckKind, now: i64) -> Result<Option<Waiver>, GateStoreError> {
        self.conn
            .query_row(
                "SELECT id, who, reason, until, created_at FROM gate_waivers
                 WHERE package = ?1 AND kind = ?2 AND until > ?3 ORDER BY until DESC LIMIT 1",
                params![package, kind.as_str(), now],
                |row| {
                    Ok(Waiver {
                        id: row.get(0)?,
                        package: package.to_string(),
                        kind,
                        who: row.get(1)?,
                        reason: row.get(2)?,
                        until: row.get(3)?,
                        created_at: row.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.fail(e))
    }
}
