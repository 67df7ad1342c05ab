//! Reading the output tree in HaikuPorter's frontend layout (reference §6.2): `buildruns/buildruns.txt`,
//! `buildruns/last_buildrun`, `buildruns/<N>/{status.json, master.log, builders/<name>.log, builds/<n>.log,
//! records/<n>.json}`. The tree is the contract between the buildrun executor and the server, so an adopted
//! HaikuPorter instance's history is served as well as ours. Nothing here writes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use crate::config::secrets::strip_url_credentials;

/// The build lists of `status.json`, in the order the UI shows them.
pub const BUILD_STATES: [&str; 7] = [
    "active",
    "scheduled",
    "blocked",
    "complete",
    "failed",
    "lost",
    "skipped",
];

/// The builder lists of `status.json`.
pub const BUILDER_STATES: [&str; 3] = ["active", "idle", "lost"];

/// HaikuPorter renames `status.json.temp` over `status.json` before flushing it (reference §6.1), so a
/// reader can see a truncated file for a moment: re-read this many times before giving up.
const STATUS_READ_ATTEMPTS: u32 = 5;

/// Pause between those re-reads.
const STATUS_RETRY_PAUSE: Duration = Duration::from_millis(40);

/// The last status.json parsed: (buildrun, its stamp when read, the parsed and cleaned document).
type CachedStatus = Option<(u64, FileStamp, Arc<StatusDoc>)>;

/// A parsed status.json (credentials removed), and its JSON text once someone asked for it: the UI
/// refetches the whole document after every change, so it is serialised once per change too.
#[derive(Debug)]
pub struct StatusDoc {
    value: Value,
    json: OnceLock<Bytes>,
}

impl StatusDoc {
    /// A document (`value` already cleaned).
    pub fn new(value: Value) -> Self {
        Self {
            value,
            json: OnceLock::new(),
        }
    }

    /// The document as JSON text.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| serde_json::to_vec(&self.value).unwrap_or_default().into())
            .clone()
    }
}

impl std::ops::Deref for StatusDoc {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.value
    }
}

/// The output tree.
#[derive(Clone, Debug)]
pub struct OutputTree {
    root: PathBuf,
    /// A large buildrun's status.json is megabytes; after every rewrite each open UI asks for it (and each
    /// event stream summarises it), so it is parsed once per change, not once per reader.
    last_status: Arc<Mutex<CachedStatus>>,
}

/// When and how big a file was, and which file it was: cheap to compare to notice that it changed. The
/// inode catches an atomic rewrite (rename) that kept size and mtime on a coarse-timestamp filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Modification time.
    pub modified: Option<SystemTime>,
    /// Size in bytes.
    pub len: u64,
    /// Inode number.
    pub inode: u64,
}

impl FileStamp {
    /// The stamp of `path`, `None` if it does not exist.
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

/// A buildrun at a glance: what history lists and events carry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildrunSummary {
    /// The buildrun number.
    pub buildrun: u64,
    /// `buildStatus` (`"complete"`, `"waiting for packages"`, ...); `"unknown"` without a status.json.
    pub build_status: String,
    /// Start, epoch seconds.
    pub start_time: Option<f64>,
    /// End, epoch seconds; `None` while running.
    pub end_time: Option<f64>,
    /// The ports tree commit.
    pub ports_tree_head: Option<String>,
    /// Builds per list (every key of [`BUILD_STATES`]).
    pub builds: serde_json::Map<String, Value>,
    /// Builders per list (every key of [`BUILDER_STATES`]).
    pub builders: serde_json::Map<String, Value>,
}

impl BuildrunSummary {
    /// The summary of buildrun `buildrun` from its status.json.
    pub fn from_status(buildrun: u64, status: &Value) -> Self {
        let count = |section: &str, keys: &[&str]| {
            keys.iter()
                .map(|key| {
                    let n = status[section][key].as_array().map_or(0, Vec::len);
                    (key.to_string(), Value::from(n))
                })
                .collect()
        };
        Self {
            buildrun,
            build_status: status["buildStatus"].as_str().unwrap_or("unknown").to_string(),
            start_time: status["startTime"].as_f64(),
            end_time: status["endTime"].as_f64(),
            ports_tree_head: status["portsTreeHead"].as_str().map(str::to_string),
            builds: count("builds", &BUILD_STATES),
            builders: count("builders", &BUILDER_STATES),
        }
    }

    /// The number of builds in list `state`.
    pub fn builds_in(&self, state: &str) -> u64 {
        self.builds.get(state).and_then(Value::as_u64).unwrap_or(0)
    }

    /// The number of builders in list `state`.
    pub fn builders_in(&self, state: &str) -> u64 {
        self.builders.get(state).and_then(Value::as_u64).unwrap_or(0)
    }
}

impl OutputTree {
    /// The tree at `root` (`<state>/output`).
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            last_status: Arc::default(),
        }
    }

    fn buildruns(&self) -> PathBuf {
        self.root.join("buildruns")
    }

    /// `buildruns/<n>`.
    pub fn buildrun_dir(&self, n: u64) -> PathBuf {
        self.buildruns().join(n.to_string())
    }

    /// `buildruns/<n>/status.json`.
    pub fn status_path(&self, n: u64) -> PathBuf {
        self.buildrun_dir(n).join("status.json")
    }

    /// `buildruns/<n>/builds/<b>.log`.
    pub fn build_log(&self, n: u64, b: u64) -> PathBuf {
        self.buildrun_dir(n).join("builds").join(format!("{b}.log"))
    }

    /// `buildruns/<n>/builders/<name>.log`; `name` must have passed [`validate_name`].
    pub fn builder_log(&self, n: u64, name: &str) -> PathBuf {
        self.buildrun_dir(n).join("builders").join(format!("{name}.log"))
    }

    /// `buildruns/<n>/master.log`.
    pub fn master_log(&self, n: u64) -> PathBuf {
        self.buildrun_dir(n).join("master.log")
    }

    /// `buildruns/<n>/records`.
    pub fn records_dir(&self, n: u64) -> PathBuf {
        self.buildrun_dir(n).join("records")
    }

    /// Every buildrun number, ascending: `buildruns.txt` (one number per line, as HaikuPorter writes it),
    /// or, without it, the numbered directories.
    pub fn buildrun_numbers(&self) -> Result<Vec<u64>, ApiError> {
        let list = self.buildruns().join("buildruns.txt");
        let mut numbers: Vec<u64> = match std::fs::read_to_string(&list) {
            Ok(text) => text.lines().filter_map(|line| line.trim().parse().ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_dir(self.buildruns()) {
                Ok(entries) => entries
                    .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(ApiError::io(&self.buildruns(), e)),
            },
            Err(e) => return Err(ApiError::io(&list, e)),
        };
        numbers.sort_unstable();
        numbers.dedup();
        Ok(numbers)
    }

    /// The current (latest) buildrun: `buildruns/last_buildrun`, else the highest listed; `None` before the
    /// first buildrun.
    pub fn current(&self) -> Result<Option<u64>, ApiError> {
        let last = self.buildruns().join("last_buildrun");
        match std::fs::read_to_string(&last) {
            Ok(text) => match text.trim().parse() {
                Ok(n) => return Ok(Some(n)),
                // Mid-rewrite or damaged: the list still knows.
                Err(_) => tracing::debug!(file = %last.display(), "last_buildrun is not a number"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ApiError::io(&last, e)),
        }
        Ok(self.buildrun_numbers()?.last().copied())
    }

    /// Buildrun `n`'s status.json, credentials in URLs removed. Not found if the buildrun has none.
    pub async fn status(&self, n: u64) -> Result<Arc<StatusDoc>, ApiError> {
        let path = self.status_path(n);
        let stamp = FileStamp::of(&path);
        if let Some((cached_n, cached_stamp, status)) = self.cached_status() {
            if cached_n == n && Some(cached_stamp) == stamp {
                return Ok(status);
            }
        }
        let status = Arc::new(StatusDoc::new(self.read_status(n, &path).await?));
        // Stamped as it was before the read: if the file changed meanwhile, the next call reads again.
        if let Some(stamp) = stamp {
            *self.lock_status() = Some((n, stamp, status.clone()));
        }
        Ok(status)
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, CachedStatus> {
        // Only whole values are ever stored, so a poisoned lock holds nothing half-written.
        self.last_status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached_status(&self) -> CachedStatus {
        self.lock_status().clone()
    }

    async fn read_status(&self, n: u64, path: &Path) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let bytes = match tokio::fs::read(path).await {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ApiError::NotFound(format!("buildrun {n} has no status.json")));
                }
                Err(e) => return Err(ApiError::io(path, e)),
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(mut status) => {
                    strip_credentials(&mut status);
                    return Ok(status);
                }
                Err(e) if attempt >= STATUS_READ_ATTEMPTS => {
                    return Err(ApiError::Unavailable(format!(
                        "{} is not valid JSON ({e}); if a buildrun is writing it, retry",
                        path.display()
                    )));
                }
                Err(_) => tokio::time::sleep(STATUS_RETRY_PAUSE).await,
            }
        }
    }

    /// Whether build number `b` of buildrun `n` is running: it is in an active build's `buildNumbers`, or is
    /// an active builder's `currentBuild`. A missing status.json means not running.
    pub async fn build_is_active(&self, n: u64, b: u64) -> Result<bool, ApiError> {
        let status = match self.status(n).await {
            Ok(status) => status,
            Err(ApiError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(build_is_active(&status, b))
    }
}

/// Whether build number `b` is running according to `status`.
pub fn build_is_active(status: &Value, b: u64) -> bool {
    let in_active_builds = status["builds"]["active"].as_array().is_some_and(|builds| {
        builds.iter().any(|build| {
            build["buildNumbers"]
                .as_array()
                .and_then(|numbers| numbers.last())
                .and_then(Value::as_u64)
                == Some(b)
        })
    });
    let on_a_builder = status["builders"]["active"].as_array().is_some_and(|builders| {
        builders
            .iter()
            .any(|builder| builder["currentBuild"]["number"].as_u64() == Some(b))
    });
    in_active_builds || on_a_builder
}

/// Parses a path parameter that must be a non-negative decimal number (so `..`, `-1`, `1.0`, `%2e` and
/// empty strings are all refused before any path is built).
pub fn parse_number(text: &str, what: &str) -> Result<u64, ApiError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "{what} must be a decimal number, not {}",
            super::error::echo(text)
        )));
    }
    text.parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} {} is out of range", super::error::echo(text))))
}

/// Checks a name used as a file name (a builder's): letters, digits and `_ . -`, not starting with `.`.
pub fn validate_name<'a>(text: &'a str, what: &str) -> Result<&'a str, ApiError> {
    let valid = !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(text)
    } else {
        Err(ApiError::BadRequest(format!(
            "{what} {} is not valid: letters, digits and _ . - only",
            super::error::echo(text)
        )))
    }
}

/// Removes `user:password@` from every URL in `value`. status.json carries the ports tree's origin URL,
/// which an operator may have cloned with a token in it; the API must never show it.
pub fn strip_credentials(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Some(clean) = strip_url_credentials(text) {
                *text = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_credentials),
        Value::Object(map) => map.values_mut().for_each(strip_credentials),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_only() {
        assert_eq!(parse_number("42", "n").unwrap(), 42);
        for bad in [
            "",
            "..",
            "-1",
            "1.0",
            "1e3",
            "%2e%2e",
            "99999999999999999999",
            " 1",
        ] {
            assert!(parse_number(bad, "n").is_err(), "{bad}");
        }
    }

    #[test]
    fn names_cannot_traverse() {
        assert!(validate_name("builder-1.local", "builder").is_ok());
        for bad in ["..", ".", "a/b", "", "a\\b", "..%2f", ".hidden"] {
            assert!(validate_name(bad, "builder").is_err(), "{bad}");
        }
    }

    #[test]
    fn url_credentials_are_removed() {
        let mut status = serde_json::json!({
            "portsTreeOriginURL": "https://user:tok3n@github.com/haikuports/haikuports.git",
            "other": ["ssh://git@host/x", "no url here", "http://host/path@x"],
        });
        strip_credentials(&mut status);
        assert_eq!(
            status["portsTreeOriginURL"],
            "https://github.com/haikuports/haikuports.git"
        );
        assert_eq!(status["other"][0], "ssh://host/x");
        assert_eq!(status["other"][1], "no url here");
        assert_eq!(status["other"][2], "http://host/path@x");
    }

    #[test]
    fn active_builds_are_found_by_number() {
        let status = serde_json::json!({
            "builds": {"active": [{"buildNumbers": [3, 7]}]},
            "builders": {"active": [{"currentBuild": {"number": 9}}]},
        });
        assert!(build_is_active(&status, 7));
        assert!(build_is_active(&status, 9));
        assert!(!build_is_active(&status, 3));
    }

    #[tokio::test]
    async fn a_rewritten_status_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let tree = OutputTree::new(dir.path().to_path_buf());
        std::fs::create_dir_all(tree.buildrun_dir(1)).unwrap();
        let write = |value: u32| {
            // Same size every time, renamed over as the executor does.
            let temp = tree.buildrun_dir(1).join("status.json.temp");
            std::fs::write(&temp, format!("{{\"buildStatus\": \"s{value}\"}}")).unwrap();
            std::fs::rename(&temp, tree.status_path(1)).unwrap();
        };
        write(1);
        let first = tree.status(1).await.unwrap();
        assert_eq!(first["buildStatus"], "s1");
        assert!(
            Arc::ptr_eq(&first, &tree.status(1).await.unwrap()),
            "unchanged: served from memory"
        );
        write(2);
        assert_eq!(tree.status(1).await.unwrap()["buildStatus"], "s2");
        assert!(matches!(tree.status(2).await, Err(ApiError::NotFound(_))));
    }

    #[test]
    fn history_falls_back_to_directories() {
        let dir = tempfile::tempdir().unwrap();
        let tree = OutputTree::new(dir.path().to_path_buf());
        assert_eq!(tree.current().unwrap(), None);
        for n in [3, 10, 2] {
            std::fs::create_dir_all(tree.buildrun_dir(n)).unwrap();
        }
        assert_eq!(tree.buildrun_numbers().unwrap(), vec![2, 3, 10]);
        assert_eq!(tree.current().unwrap(), Some(10));
        std::fs::write(dir.path().join("buildruns/buildruns.txt"), "2\n3\n").unwrap();
        std::fs::write(dir.path().join("buildruns/last_buildrun"), "3\n").unwrap();
        assert_eq!(tree.buildrun_numbers().unwrap(), vec![2, 3]);
        assert_eq!(tree.current().unwrap(), Some(3));
    }
}
