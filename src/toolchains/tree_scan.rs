//! Reading a recipe tree of one directory per package (Debian's source packages, RPM's dist-git
//! directories): which entries of the tree's root are packages, in a stable order, each read by the
//! format, and the refusal of a package name that two directories claim. Written once so that every
//! format skips the same entries (hidden ones such as `.git`), sorts the same way and names the
//! same errors.

use std::path::{Path, PathBuf};

/// A directory or file of the tree could not be read; not retryable — the tree must be fixed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source} (is the recipe tree checked out and readable?)")]
pub struct ReadError {
    /// What was being read.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Two directories build the same package, so a dependency on it would be ambiguous.
#[derive(Debug, thiserror::Error)]
#[error("{name} is built by both {first} and {second}; a package may come from one directory only")]
pub struct DuplicateError {
    /// The package name (with its kind where a format has several, `source x`, `binary x`).
    pub name: String,
    /// The first directory.
    pub first: PathBuf,
    /// The second directory.
    pub second: PathBuf,
}

/// Reads every package directory directly under `root` with `read_one`, sorted by path: entries
/// whose name does not start with '.' and for which `is_package(name, path)` holds (the format's
/// marker file or directory).
pub fn read_packages<T, E: From<ReadError>>(
    root: &Path,
    is_package: impl Fn(&str, &Path) -> bool,
    read_one: impl Fn(&Path) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let read_err = |source| ReadError {
        path: root.to_owned(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.starts_with('.') && is_package(&name, &path) {
            dirs.push(path);
        }
    }
    dirs.sort();
    dirs.iter().map(|dir| read_one(dir)).collect()
}

/// Refuses the first package name that comes from two directories; `names` are (name, directory)
/// in tree order.
pub fn refuse_duplicates<'a>(
    names: impl IntoIterator<Item = (String, &'a Path)>,
) -> Result<(), DuplicateError> {
    let mut seen: std::collections::HashMap<String, &Path> = std::collections::HashMap::new();
    for (name, dir) in names {
        if let Some(first) = seen.insert(name.clone(), dir) {
            return Err(DuplicateError {
                name,
                first: first.to_owned(),
                second: dir.to_owned(),
            });
        }
    }
    Ok(())
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
        let is_package = |_: &str, dir: &Path| dir.join("marker").is_file();
        let read = |dir: &Path| Ok::<_, ReadError>(dir.to_owned());
        let dirs = read_packages(root.path(), is_package, read).unwrap();
        assert_eq!(dirs, [root.path().join("a"), root.path().join("b")]);
        let missing = read_packages(&root.path().join("absent"), |_, _| true, read).unwrap_err();
        assert!(missing.to_string().contains("absent"), "{missing}");
    }

    #[test]
    fn a_name_from_two_directories_is_refused_naming_both() {
        let (a, b) = (Path::new("/t/a"), Path::new("/t/b"));
        assert!(refuse_duplicates([("x".to_owned(), a), ("y".to_owned(), b)]).is_ok());
        let error = refuse_duplicates([("x".to_owned(), a), ("x".to_owned(), b)]).unwrap_err();
        assert_eq!((error.first.as_path(), error.second.as_path()), (a, b));
    }
}
