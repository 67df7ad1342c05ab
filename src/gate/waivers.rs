//! Waivers: a named person lets a package through one failing check until a date, for a reason
//! (Greenwave's waivers), in one repository. A waiver names the repository, the package and optionally
//! one version; without a version it covers every version of the package staged for that repository
//! before it expires, and after that, new versions are gated again. A package staged for several
//! repositories is let through only when each of them has a waiver for it. Waivers are never deleted
//! (the audit log names them too).

use rusqlite::params;
use serde::Serialize;

use super::policy::CheckKind;
use super::store::{GateStore, GateStoreError, StagedPackage};

/// A waiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// Its number.
    pub id: i64,
    /// The repository id it applies in; empty for a waiver recorded before waivers named one (it
    /// applies in every repository).
    pub repository: String,
    /// The package name it covers.
    pub package: String,
    /// The one version it covers; `None`: every version.
    pub version: Option<String>,
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

/// A waiver to record: what it covers, why, until when.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWaiver {
    /// The repository id it applies in.
    pub repository: String,
    /// The package name.
    pub package: String,
    /// One version only, or every version (`None`).
    pub version: Option<String>,
    /// The check it waives.
    pub kind: CheckKind,
    /// Why (the audit log and the waived checks' summaries show it).
    pub reason: String,
    /// Unix seconds after which it no longer applies.
    pub until: i64,
}

impl NewWaiver {
    /// What it covers, for messages and the audit log: `bm-hello 1.0 in debian/stable`.
    pub fn describe(&self) -> String {
        match &self.version {
            Some(version) => format!("{} {version} in {}", self.package, self.repository),
            None => format!("{} in {}", self.package, self.repository),
        }
    }
}

impl GateStore {
    /// Records `waiver` given by `who` at `now` (unix seconds); its number.
    pub fn add_waiver(&mut self, waiver: &NewWaiver, who: &str, now: i64) -> Result<i64, GateStoreError> {
        self.conn
            .execute(
                "INSERT INTO gate_waivers (repository, package, version, kind, who, reason, until, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    waiver.repository,
                    waiver.package,
                    waiver.version,
                    waiver.kind.as_str(),
                    who,
                    waiver.reason,
                    waiver.until,
                    now
                ],
            )
            .map_err(|e| self.fail(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The waiver of `kind` in force at `now` that lets `staged` through: one for its name (and its
    /// version, or every version) in each repository it targets. When several apply, the one expiring
    /// last in the repository whose cover ends first (the waiver that holds it back soonest).
    pub fn waiver_for(
        &self,
        staged: &StagedPackage,
        kind: CheckKind,
        now: i64,
    ) -> Result<Option<Waiver>, GateStoreError> {
        let in_force = self.waivers_in_force(&staged.package.name, &staged.package.version, kind, now)?;
        let mut weakest: Option<Waiver> = None;
        for target in &staged.targets {
            let best = in_force
                .iter()
                .filter(|w| w.repository.is_empty() || &w.repository == target)
                .max_by_key(|w| w.until);
            match best {
                None => return Ok(None),
                Some(w) if weakest.as_ref().is_none_or(|weak| w.until < weak.until) => {
                    weakest = Some(w.clone())
                }
                Some(_) => {}
            }
        }
        Ok(weakest)
    }

    /// Every waiver of `kind` for `package` (every version, or `version`) in force at `now`.
    fn waivers_in_force(
        &self,
        package: &str,
        version: &str,
        kind: CheckKind,
        now: i64,
    ) -> Result<Vec<Waiver>, GateStoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, repository, version, who, reason, until, created_at FROM gate_waivers
                 WHERE package = ?1 AND kind = ?2 AND until > ?3 AND (version IS NULL OR version = ?4)",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![package, kind.as_str(), now, version], |row| {
                Ok(Waiver {
                    id: row.get(0)?,
                    repository: row.get(1)?,
                    package: package.to_string(),
                    version: row.get(2)?,
                    kind,
                    who: row.get(3)?,
                    reason: row.get(4)?,
                    until: row.get(5)?,
                    created_at: row.get(6)?,
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{FormatKind, InspectedPackage};

    fn staged(version: &str, targets: &[&str]) -> StagedPackage {
        StagedPackage {
            format: FormatKind::Debian,
            package: InspectedPackage {
                name: "hello".into(),
                version: version.into(),
                architecture: "all".into(),
                size: 1,
                sha256: String::new(),
                file_name: format!("hello_{version}_all.deb"),
                entry: String::new(),
            },
            pool_key: String::new(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn waiver(repository: &str, version: Option<&str>, until: i64) -> NewWaiver {
        NewWaiver {
            repository: repository.into(),
            package: "hello".into(),
            version: version.map(str::to_string),
            kind: CheckKind::Test,
            reason: "flaky".into(),
            until,
        }
    }

    fn found(store: &GateStore, staged: &StagedPackage, now: i64) -> Option<Waiver> {
        store.waiver_for(staged, CheckKind::Test, now).unwrap()
    }

    #[test]
    fn a_waiver_applies_in_its_repository_to_its_version_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = GateStore::open(&dir.path().join("db.sqlite")).unwrap();
        store
            .add_waiver(&waiver("debian/stable", Some("1.0"), 100), "cli:t", 0)
            .unwrap();
        assert!(found(&store, &staged("1.0", &["debian/stable"]), 50).is_some());
        assert!(
            found(&store, &staged("1.0", &["debian/stable"]), 100).is_none(),
            "expired"
        );
        assert!(
            found(&store, &staged("1.1", &["debian/stable"]), 50).is_none(),
            "another version"
        );
        assert!(
            found(&store, &staged("1.0", &["debian/testing"]), 50).is_none(),
            "another repository"
        );
        // Staged for two repositories: let through only when both are covered.
        let both = staged("1.1", &["debian/stable", "debian/testing"]);
        assert!(found(&store, &both, 50).is_none());
        store
            .add_waiver(&waiver("debian/stable", None, 80), "cli:t", 0)
            .unwrap();
        assert!(found(&store, &both, 50).is_none(), "testing is not covered");
        store
            .add_waiver(&waiver("debian/testing", None, 90), "cli:t", 0)
            .unwrap();
        assert_eq!(
            found(&store, &both, 50).unwrap().until,
            80,
            "the cover ending first"
        );
        assert!(found(&store, &both, 85).is_none(), "stable's cover ended");
        assert!(store.waiver_for(&both, CheckKind::Lint, 50).unwrap().is_none());
    }
}
