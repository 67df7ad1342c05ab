//! Reading a recipe tree of one directory per package (Debian's source packages, RPM's dist-git
//! directories): which entries of the tree's root are packages, in a stable order. Written once so
//! that every format skips the same entries (hidden ones such as `.git`) and sorts the same way.

use std::path::{Path, PathBuf};

/// The tree's root could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source} (is the recipe tree checked out and readable?)")]
pub struct ScanError {
    /// The directory being listed.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The package directories directly under `root`, sorted by path: entries whose name does not start
/// with '.' and for which `is_package(name, path)` holds (the format's marker file or directory).
pub fn package_dirs(
    root: &Path,
    is_package: impl Fn(&str, &Path) -> bool,
) -> Result<Vec<PathBuf>, ScanError> {
    let scan_err = |source| ScanError {
        path: root.to_owned(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root).map_err(scan_err)? {
        let entry = entry.map_err(scan_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.starts_with('.') && is_package(&name, &path) {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_unmarked_entries_are_skipped_and_the_rest_sorted() {
        let root = tempfile::tempdir().unwrap();
        for name in ["b", "a", ".git", "notes"] {
            std::fs::create_dir(root.path().join(name)).unwrap();
        }
        for name in ["b", "a", ".git"] {
            std::fs::write(root.path().join(name).join("marker"), "").unwrap();
        }
        let dirs = package_dirs(root.path(), |_, dir| dir.join("marker").is_file()).unwrap();
        assert_eq!(dirs, [root.path().join("a"), root.path().join("b")]);
        let missing = package_dirs(&root.path().join("absent"), |_, _| true).unwrap_err();
        assert!(missing.to_string().contains("absent"), "{missing}");
    }
}
