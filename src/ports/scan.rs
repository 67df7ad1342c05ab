//! Finding the recipes of a HaikuPorts-format tree: `category/port/port-version.recipe`, as
//! HaikuPorter's `Repository._initAllPorts` walks it.
//!
//! Skipped: dot directories, `buildmaster/` and `packages/` (HaikuPorter's own output and the
//! buildmaster directory live inside real trees), files that are not `*.recipe`. A recipe whose
//! file name is not `<port directory>-<version>.recipe` with a version free of dashes (HaikuPorter
//! splits on `-` and wants exactly two parts) is reported as a problem.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ports::model::RecipeProblem;

/// Top-level directories that are never categories.
const NOT_CATEGORIES: &[&str] = &["buildmaster", "packages"];

/// One recipe file found in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeFile {
    /// The recipe on disk.
    pub path: PathBuf,
    /// The recipe relative to the tree root (`dev-libs/libfoo/libfoo-1.2.recipe`).
    pub relative: PathBuf,
    /// Category directory.
    pub category: String,
    /// Port name: the port directory's name.
    pub name: String,
    /// Version: the file name without `<name>-` and `.recipe`.
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
    for category in sorted_dirs(root)? {
        if category.starts_with('.') || NOT_CATEGORIES.contains(&category.as_str()) {
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
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.ends_with(".recipe"))
                .collect();
            files.sort();
            for file in files {
                let relative = relative_dir.join(&file);
                match version_of(&port, &file) {
                    Ok(version) => scan.recipes.push(RecipeFile {
                        path: port_dir.join(&file),
                        relative,
                        category: category.clone(),
                        name: port.clone(),
                        version,
                    }),
                    Err(message) => scan.problems.push(problem(relative, message)),
                }
            }
        }
    }
    Ok(scan)
}

fn problem(recipe_path: PathBuf, message: String) -> RecipeProblem {
    RecipeProblem { recipe_path, message }
}

/// The version in `<port>-<version>.recipe`.
fn version_of(port: &str, file: &str) -> Result<String, String> {
    let stem = &file[..file.len() - ".recipe".len()];
    let misnamed = || {
        format!("cannot parse port/version from the file name {file:?} (expected {port}-<version>.recipe)")
    };
    let version = stem
        .strip_prefix(port)
        .and_then(|rest| rest.strip_prefix('-'))
        .ok_or_else(misnamed)?;
    if version.is_empty() || version.contains('-') || port.contains('-') {
        return Err(misnamed());
    }
    Ok(version.to_owned())
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
    fn versions_from_file_names() {
        assert_eq!(version_of("libfoo", "libfoo-1.2.3.recipe").unwrap(), "1.2.3");
        assert_eq!(
            version_of("gcc", "gcc-13.2.0_2023_08_10.recipe").unwrap(),
            "13.2.0_2023_08_10"
        );
        assert!(version_of("libfoo", "libbar-1.0.recipe").is_err());
        assert!(version_of("libfoo", "libfoo-1.0-2.recipe").is_err());
        assert!(version_of("libfoo", "libfoo.recipe").is_err());
    }
}
