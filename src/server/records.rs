//! Build records (`buildruns/<N>/records/<n>.json`: port, build numbers, start time, duration, success,
//! builder). A record is written once when its build ends and never changes, so each is read once and kept:
//! the UI asks for a buildrun's records whenever a build ends, and a large buildrun has thousands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::error::ApiError;
use super::output::{strip_credentials, OutputTree};

/// Most records kept in memory; past it the cache is cleared (records are small and cheap to re-read, and
/// this bounds memory for a daemon that runs for months).
const MAX_CACHED_RECORDS: usize = 100_000;

/// The cache, keyed by (buildrun, build number).
#[derive(Debug, Default)]
pub struct RecordCache {
    records: Mutex<HashMap<(u64, u64), Arc<Value>>>,
}

impl RecordCache {
    /// Every record of buildrun `n`, keyed by build number (as a string, for JSON).
    pub async fn all(&self, output: &OutputTree, n: u64) -> Result<serde_json::Map<String, Value>, ApiError> {
        let dir = output.records_dir(n);
        let numbers: Vec<u64> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|entry| {
                    let name = entry.ok()?.file_name();
                    name.to_str()?.strip_suffix(".json")?.parse().ok()
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ApiError::io(&dir, e)),
        };
        let mut out = serde_json::Map::new();
        for b in numbers {
            if let Some(record) = self.get(output, n, b).await? {
                out.insert(b.to_string(), (*record).clone());
            }
        }
        Ok(out)
    }

    async fn get(&self, output: &OutputTree, n: u64, b: u64) -> Result<Option<Arc<Value>>, ApiError> {
        if let Some(record) = self.lock().get(&(n, b)) {
            return Ok(Some(record.clone()));
        }
        let path = output.records_dir(n).join(format!("{b}.json"));
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ApiError::io(&path, e)),
        };
        // A record being written is skipped this time and read on the next request, not cached broken.
        let Ok(mut record) = serde_json::from_slice::<Value>(&bytes) else {
            return Ok(None);
        };
        strip_credentials(&mut record);
        let record = Arc::new(record);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_RECORDS {
            cache.clear();
        }
        cache.insert((n, b), record.clone());
        Ok(Some(record))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), Arc<Value>>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts), so go on.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
