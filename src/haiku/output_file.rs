//! Replacing an output file atomically: packages, repository files and their checksum files are
//! fetched by clients and uploaded by the coordinator, so nobody may ever see a half-written one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `output` (same directory, so the rename cannot cross
/// file systems), then renames it over `output`. On failure the temporary file is removed and
/// `output` is untouched.
pub fn write_atomically(output: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = temp_path(output);
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        std::fs::rename(&temp, output)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// `.<name>.tmp-<pid>` beside `output`: hidden, and distinct per process.
fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("repo");
        std::fs::write(&out, b"old").unwrap();
        write_atomically(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing-dir").join("repo");
        assert!(write_atomically(&out, b"x").is_err());
        assert!(!out.exists());
    }
}
