//! The output tree HaikuPorter's frontend reads (reference report §6.2), under `<state>/output/`:
//!
//! ```text
//! buildruns/last_buildrun            the current buildrun number
//! buildruns/buildruns.txt            one number per line
//! buildruns/current -> <N>
//! buildruns/<N>/status.json          written atomically (temp, fsync, rename) on state changes
//! buildruns/<N>/master.log           `asctime: message` scheduler events
//! buildruns/<N>/builders/<name>.log  per-builder events
//! buildruns/<N>/builds/<n>.log       raw build output
//! buildruns/<N>/records/<n>.json     one per ended attempt
//! builds/<n>.log, records/<n>.json   symlinks into the buildrun directories
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::status::{RecordJson, StatusJson};

/// A buildrun's output directory and its log files.
#[derive(Debug)]
pub struct Output {
    root: PathBuf,
    dir: PathBuf,
    id: u64,
}

fn io_err(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Replaces `link` with a symlink to `target` (relative), via a temporary name and a rename so that
/// readers never see it missing.
fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    let temp = link.with_extension("link-temp");
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp).map_err(|e| io_err(&temp, e))?;
    std::fs::rename(&temp, link).map_err(|e| io_err(link, e))
}

/// Writes `bytes` to `path` atomically: a temporary file, flushed and fsynced, renamed into place
/// (HaikuPorter renamed before flushing, so readers could see a truncated status.json).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let temp = path.with_extension("temp");
    // Owner-only: the output tree holds build logs and build details (see docs/security.md).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| io_err(&temp, e))?;
    file.write_all(bytes).map_err(|e| io_err(&temp, e))?;
    file.sync_all().map_err(|e| io_err(&temp, e))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(|e| io_err(path, e))
}

/// The highest number among `<dir>/<n>.<ext>` files, if any (adopting an existing output tree).
pub fn highest_numbered(dir: &Path, ext: &str) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(ext)?.strip_suffix('.')?.parse::<u64>().ok()
        })
        .max()
}

/// The number in `output/buildruns/last_buildrun`, if present and valid.
pub fn last_buildrun(output_root: &Path) -> Option<u64> {
    std::fs::read_to_string(output_root.join("buildruns/last_buildrun"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `YYYY-MM-DD HH:MM:SS,mmm` in UTC, Python logging's `asctime`.
pub fn asctime(secs: f64) -> String {
    let total_ms = (secs.max(0.0) * 1000.0) as i64;
    let (days, ms_of_day) = (total_ms.div_euclid(86_400_000), total_ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02},{milli:03}")
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    file.write_all(line.as_bytes()).map_err(|e| io_err(path, e))
}

impl Output {
    /// Creates (or, on resume, reopens) buildrun `id`'s directory under `output_root`, makes it the
    /// current buildrun and lists it in `buildruns.txt` (once).
    pub fn open(output_root: &Path, id: u64) -> std::io::Result<Self> {
        let runs = output_root.join("buildruns");
        let dir = runs.join(id.to_string());
        for sub in ["builders", "builds", "records"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| io_err(&dir, e))?;
        }
        for shared in ["builds", "records"] {
            let path = output_root.join(shared);
            std::fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
        }
        let list = runs.join("buildruns.txt");
        let listed = std::fs::read_to_string(&list).unwrap_or_default();
        if !listed.lines().any(|l| l.trim() == id.to_string()) {
            let sep = if listed.is_empty() || listed.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            append_line(&list, &format!("{sep}{id}\n"))?;
        }
        write_atomic(&runs.join("last_buildrun"), format!("{id}\n").as_bytes())?;
        replace_symlink(Path::new(&id.to_string()), &runs.join("current"))?;
        Ok(Self {
            root: output_root.to_path_buf(),
            dir,
            id,
        })
    }

    /// The buildrun number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `buildruns/<N>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `message` to master.log; a failed write is logged, never fatal to the run.
    pub fn master(&self, message: &str) {
        tracing::info!(buildrun = self.id, "{message}");
        let line = format!("{}: {message}\n", asctime(super::store::now_secs()));
        if let Err(err) = append_line(&self.dir.join("master.log"), &line) {
            tracing::warn!(%err, "cannot write master.log");
        }
    }

    /// Appends `message` to `builders/<name>.log`. Names are checked when builder configs load; a name
    /// that is not one safe path component is refused here too, so no caller can write outside
    /// `builders/`.
    pub fn builder(&self, name: &str, message: &str) {
        if let Err(what) = crate::builders::config::check_path_component(name) {
            tracing::warn!(
                builder_name = what,
                "not writing a builder log under an unsafe name"
            );
            return;
        }
        let line = format!("{}: {message}\n", asctime(super::store::now_secs()));
        let path = self.dir.join("builders").join(format!("{name}.log"));
        if let Err(err) = append_line(&path, &line) {
            tracing::warn!(%err, "cannot write a builder log");
        }
    }

    /// `builds/<n>.log` of this buildrun, linked from `output/builds/<n>.log`.
    pub fn build_log(&self, number: u64) -> std::io::Result<PathBuf> {
        let path = self.dir.join("builds").join(format!("{number}.log"));
        let link = self.root.join("builds").join(format!("{number}.log"));
        let target = Path::new("../buildruns")
            .join(self.id.to_string())
            .join("builds")
            .join(format!("{number}.log"));
        replace_symlink(&target, &link)?;
        Ok(path)
    }

    /// Writes `records/<n>.json` and its `output/records/<n>.json` link.
    pub fn record(&self, number: u64, record: &RecordJson) -> std::io::Result<()> {
        let path = self.dir.join("records").join(format!("{number}.json"));
        let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        write_atomic(&path, &json)?;
        let target = Path::new("../buildruns")
            .join(self.id.to_string())
            .join("records")
            .join(format!("{number}.json"));
        replace_symlink(&target, &self.root.join("records").join(format!("{number}.json")))
    }

    /// Writes status.json atomically.
    pub fn status(&self, status: &StatusJson) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join("status.json"), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_matches_pythons_format() {
        assert_eq!(asctime(0.0), "1970-01-01 00:00:00,000");
        // 2024-02-29 12:34:56.789 UTC (a leap day).
        assert_eq!(asctime(1_709_210_096.789), "2024-02-29 12:34:56,789");
    }

    #[test]
    fn layout_is_haikuporters_and_reopening_lists_the_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("buildruns")).unwrap();
        std::fs::write(root.join("buildruns/buildruns.txt"), "6").unwrap();
        let out = Output::open(root, 7).unwrap();
        out.master("starting");
        let log = out.build_log(12).unwrap();
        std::fs::write(&log, "output").unwrap();
        let _ = Output::open(root, 7).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("buildruns/buildruns.txt")).unwrap(),
            "6\n7\n"
        );
        assert_eq!(last_buildrun(root), Some(7));
        assert_eq!(
            std::fs::read_link(root.join("buildruns/current")).unwrap(),
            Path::new("7")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("builds/12.log")).unwrap(),
            "output"
        );
        assert_eq!(
            highest_numbered(&root.join("buildruns/7/builds"), "log"),
            Some(12)
        );
        let master = std::fs::read_to_string(root.join("buildruns/7/master.log")).unwrap();
        assert!(master.ends_with(": starting\n"), "{master}");
    }
}
