//! Finding the recipes of a HaikuPorts-format tree: `category/port/name-version.recipe`, as
//! HaikuPorter's `Repository._initAllPorts` walks it.
//!
//! - Categories are the top-level directories whose name has a dash (`dev-libs`); dot directories
//!   and everything else (`buildmaster/`, `packages/`, HaikuPorter's output) are skipped.
//! - The port name and version come from the recipe's file name, split on `-` into exactly two
//!   parts — not from the directory: `dev-lang/python/python3.14-3.14.0.recipe` is port
//!   `python3.14`. Another number of parts is reported as a problem.
//! - A `name-version` seen before (in an earlier category or port directory, in sorted order) is
//!   reported and skipped, as HaikuPorter warns and keeps the first.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ports::model::RecipeProblem;

/// One recipe file found in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeFile {
    /// The recipe on disk.
    pub path: PathBuf,
    /// The recipe relative to the tree root (`dev-libs/libfoo/libfoo-1.2.recipe`).
    pub relative: PathBuf,
    /// Category directory.
    pub category: String,
    /// Port name: the file name's part before the dash (`python3.14`).
    pub name: String,
    /// Version: the file name's part after the dash, without `.recipe`.
    pub version: String,
}

/// What a scan found: recipes sorted by relative path, and files that look like recipes but are
/// misnamed.
#[derive(Debug, Default)]
pub struct Scan {
    /// Well-named recipes.
    pub recipes: Vec<RecipeFile>,
    /// Misnamed recipe files.
    pub problems: Vec<RecipeProblem>,
}

/// Scans `root`. I/O errors on the root itself are returned; unreadable subdirectories become
/// problems so one bad directory does not hide the rest of the tree.
pub fn scan(root: &Path) -> io::Result<Scan> {
    let mut scan = Scan::default();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for category in sorted_dirs(root)? {
        if category.starts_with('.') || !category.contains('-') {
            continue;
        }
        let category_path = root.join(&category);
        let ports = match sorted_dirs(&category_path) {
            Ok(ports) => ports,
            Err(err) => {
                scan.problems.push(problem(
                    PathBuf::from(&category),
                    format!("cannot read directory: {err}"),
                ));
                continue;
            }
        };
        for port in ports.into_iter().filter(|p| !p.starts_with('.')) {
            let port_dir = category_path.join(&port);
            let relative_dir = Path::new(&category).join(&port);
            let entries = match fs::read_dir(&port_dir) {
                Ok(entries) => entries,
                Err(err) => {
                    scan.problems
                        .push(problem(relative_dir, format!("cannot read directory: {err}")));
                    continue;
                }
            };
            let mut files: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(is_file)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.ends_with(".recipe"))
                .collect();
            files.sort();
            for file in files {
                let relative = relative_dir.join(&file);
                let (name, version) = match split_file_name(&file) {
                    Ok(parts) => parts,
                    Err(message) => {
                        scan.problems.push(problem(relative, message));
                        continue;
                    }
                };
                let versioned = format!("{name}-{version}");
                if let Some(first) = seen.get(&versioned) {
                    let message = format!(
                        "{versioned} is overruled by the duplicate {} - please remove one of them",
                        first.display()
                    );
                    scan.problems.push(problem(relative, message));
                    continue;
                }
                seen.insert(versioned, relative.clone());
                scan.recipes.push(RecipeFile {
                    path: port_dir.join(&file),
                    relative,
                    category: category.clone(),
                    name,
                    version,
                });
            }
        }
    }
    Ok(scan)
}

fn problem(recipe_path: PathBuf, message: String) -> RecipeProblem {
    RecipeProblem { recipe_path, message }
}

/// `(name, version)` from `<name>-<version>.recipe`: exactly one dash, as HaikuPorter's
/// `recipe[:-7].split('-')` wants two parts.
fn split_file_name(file: &str) -> Result<(String, String), String> {
    let stem = &file[..file.len() - ".recipe".len()];
    match stem.split_once('-') {
        Some((name, version)) if !version.contains('-') => Ok((name.to_owned(), version.to_owned())),
        _ => Err(format!(
            "cannot parse port/version from the file name {file:?} (expected <name>-<version>.recipe with one dash)"
        )),
    }
}

/// Whether `entry` is a file, following a symlink (`os.path.isfile`). The entry's type comes with
/// the directory listing; only a symlink (or a file system that does not report types) costs a
/// `stat`.
fn is_file(entry: &fs::DirEntry) -> bool {
    match entry.file_type() {
        Ok(t) if t.is_symlink() => entry.path().is_file(),
        Ok(t) => t.is_file(),
        Err(_) => entry.path().is_file(),
    }
}

/// The names of the directories in `dir`, sorted (symlinks to directories count).
fn sorted_dirs(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_dir = match entry.file_type()? {
            t if t.is_dir() => true,
            t if t.is_symlink() => entry.path().is_dir(),
            _ => false,
        };
        if let (true, Ok(name)) = (is_dir, entry.file_name().into_string()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_from_file_names() {
        let split = |f: &str| split_file_name(f).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(split("libfoo-1.2.3.recipe").unwrap(), "libfoo 1.2.3");
        assert_eq!(split("python3.14-3.14.0.recipe").unwrap(), "python3.14 3.14.0");
        assert_eq!(split("stress_ng-0.17.recipe").unwrap(), "stress_ng 0.17");
        assert!(split("libfoo-1.0-2.recipe").is_err());
        assert!(split("libfoo.recipe").is_err());
    }
}
