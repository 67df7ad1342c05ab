//! Package search over the state database's records (`Database::all`): by name, then by what a package
//! provides. The records are loaded once and reloaded only when the database file changes, so a search is a
//! scan of memory, not of SQLite.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::error::ApiError;
use super::output::FileStamp;
use crate::formats::haiku::record::PackageRecord;
use crate::state::Database;

/// Results per search unless the client asks for fewer.
pub const DEFAULT_LIMIT: usize = 50;

/// Most results per search.
pub const MAX_LIMIT: usize = 500;

/// One package as the search shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageEntry {
    /// Package name.
    pub name: String,
    /// Version (`1.2.3-1`).
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// Canonical file name.
    pub file_name: String,
    /// Publishing state (`spooled`, `uploaded`, `stubbed`).
    pub state: String,
    /// File size in bytes.
    pub size: u64,
    /// One-line summary.
    pub summary: String,
    /// What it provides (`cmd:bash = 5.2`).
    pub provides: Vec<String>,
}

impl PackageEntry {
    fn from_record(record: &PackageRecord) -> Self {
        let info = &record.info;
        Self {
            name: info.name.clone(),
            version: info.version.to_string(),
            architecture: info.architecture.to_string(),
            file_name: record.file_name.clone(),
            state: record.state.as_str().to_string(),
            size: record.size,
            summary: info.summary.clone(),
            provides: info
                .provides
                .iter()
                .map(|p| match &p.version {
                    Some(version) => format!("{} = {version}", p.name),
                    None => p.name.clone(),
                })
                .collect(),
        }
    }
}

/// The loaded records and the database stamps they were loaded at.
type Loaded = (Vec<Option<FileStamp>>, Arc<Vec<PackageEntry>>);

/// The search index over the state database.
#[derive(Debug)]
pub struct PackageIndex {
    database: Option<PathBuf>,
    loaded: Mutex<Option<Loaded>>,
}

impl PackageIndex {
    /// An index over the database at `database` (none: always empty).
    pub fn new(database: Option<PathBuf>) -> Self {
        Self {
            database,
            loaded: Mutex::new(None),
        }
    }

    /// The state database this index reads (also where job manifests are recorded).
    pub fn database(&self) -> Option<&std::path::Path> {
        self.database.as_deref()
    }

    /// Packages matching `query` (case-insensitive): exact names first, then name prefixes, then names
    /// containing it, then packages providing something containing it; each group by name. An empty query
    /// lists packages by name.
    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<PackageEntry>, ApiError> {
        let entries = self.entries().await?;
        let query = query.trim().to_lowercase();
        let mut ranked: Vec<(u8, &PackageEntry)> = entries
            .iter()
            .filter_map(|entry| rank(entry, &query).map(|rank| (rank, entry)))
            .collect();
        ranked.sort_by(|a, b| (a.0, &a.1.name, &a.1.version).cmp(&(b.0, &b.1.name, &b.1.version)));
        Ok(ranked
            .into_iter()
            .take(limit)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    /// The records, reloaded if the database (or its WAL) changed since the last load.
    async fn entries(&self) -> Result<Arc<Vec<PackageEntry>>, ApiError> {
        let Some(path) = self.database.clone() else {
            return Ok(Arc::default());
        };
        if !path.is_file() {
            // Opening would create an empty database; there is simply nothing published yet.
            return Ok(Arc::default());
        }
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let stamps = vec![FileStamp::of(&path), FileStamp::of(&wal)];
        if let Some((loaded_at, entries)) = self.lock().as_ref() {
            if *loaded_at == stamps {
                return Ok(entries.clone());
            }
        }
        let entries = tokio::task::spawn_blocking(move || {
            let db = Database::open(&path).map_err(|e| e.to_string())?;
            let records = db.all().map_err(|e| e.to_string())?;
            // The search reads provides and summaries: the records' HaikuPorts view.
            records
                .iter()
                .map(|r| {
                    PackageRecord::from_record(r)
                        .map(|view| PackageEntry::from_record(&view))
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("loading package records: {e}")))?
        .map_err(ApiError::Internal)?;
        let entries = Arc::new(entries);
        *self.lock() = Some((stamps, entries.clone()));
        Ok(entries)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Loaded>> {
        self.loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Lower is better; `None` does not match.
fn rank(entry: &PackageEntry, query: &str) -> Option<u8> {
    if query.is_empty() {
        return Some(0);
    }
    let name = entry.name.to_lowercase();
    if name == query {
        Some(0)
    } else if name.starts_with(query) {
        Some(1)
    } else if name.contains(query) {
        Some(2)
    } else if entry.provides.iter().any(|p| p.to_lowercase().contains(query)) {
        Some(3)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, provides: &[&str]) -> PackageEntry {
        PackageEntry {
            name: name.into(),
            version: "1-1".into(),
            architecture: "x86_64".into(),
            file_name: format!("{name}-1-1-x86_64.hpkg"),
            state: "stubbed".into(),
            size: 1,
            summary: String::new(),
            provides: provides.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn ranking_prefers_names() {
        let bash = entry("bash", &["cmd:bash = 5.2"]);
        let bashdb = entry("bashdb", &[]);
        let libbash = entry("libbash", &[]);
        let coreutils = entry("coreutils", &["cmd:bashful"]);
        assert_eq!(rank(&bash, "bash"), Some(0));
        assert_eq!(rank(&bashdb, "bash"), Some(1));
        assert_eq!(rank(&libbash, "bash"), Some(2));
        assert_eq!(rank(&coreutils, "bash"), Some(3));
        assert_eq!(rank(&coreutils, "zsh"), None);
        assert_eq!(
            rank(&bash, "CMD:BASH"),
            None,
            "the query is lowercased by search, not by rank"
        );
    }
}
