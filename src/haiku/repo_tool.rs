//! `package_repo` natively: `create` a repository file from a `repo.info` and packages, and `update`
//! one from an old repository file and a package list (with `-t`, the form HaikuPorter uses, old
//! entries are reused by canonical file name and only new files are read). Also writes `repo.sha256`
//! and `package.list`. Facts: `haiku-formats.md` §2, §2.3.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::haiku::format_error::FormatError;
use crate::haiku::hpkr_reader::read_repository_models;
use crate::haiku::hpkr_writer::{encode_repository, HpkrWriteError};
use crate::haiku::output_file::write_atomically;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_scan::{scan_packages, sha256_hex, ScanError, ScannedPackage};
use crate::haiku::repo_checks::{PackageRejected, RepositoryChecker};
use crate::haiku::repo_info::{RepoInfoError, RepositoryInfo};

/// Name of the repository file `create` writes beside the `repo.info` (as `package_repo` does).
pub const REPO_FILE_NAME: &str = "repo";
/// Extension of the info file `update` reads for the new repository: `<new-repo>.info`.
const INFO_SUFFIX: &str = ".info";

/// Why a repository could not be created or updated.
#[derive(Debug, thiserror::Error)]
pub enum RepoToolError {
    /// The `repo.info` file is missing or invalid.
    #[error(transparent)]
    RepoInfo(#[from] RepoInfoError),
    /// A package file could not be read.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// A package does not pass `package_repo`'s checks.
    #[error(transparent)]
    Rejected(#[from] PackageRejected),
    /// The old repository could not be read.
    #[error("cannot read the source repository: {0}")]
    SourceRepository(FormatError),
    /// The package list could not be read.
    #[error("cannot read package list {}: {source}", path.display())]
    PackageList {
        /// The list file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The repository could not be encoded.
    #[error(transparent)]
    Encode(#[from] HpkrWriteError),
    /// The output could not be written; the old file, if any, is untouched.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What a `create` or `update` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSummary {
    /// The repository file written.
    pub output: PathBuf,
    /// Lowercase hex SHA-256 of the repository file (what `repo.sha256` holds).
    pub checksum: String,
    /// Canonical file names of the packages, in repository order (what `package.list` holds).
    pub package_file_names: Vec<String>,
    /// How many entries were reused from the old repository without reading their files.
    pub reused: usize,
    /// How many package files were read.
    pub read: usize,
    /// How many licences are embedded.
    pub licenses: usize,
}

/// One package on its way into the repository.
enum Entry {
    /// Reused from the old repository (its checksum is kept), with its canonical file name (the key
    /// it was found under: computed once, it formats the version).
    Reused(String, PackageInfo),
    /// Read from disk now.
    Read(ScannedPackage),
}

/// `package_repo create [-C dir] <repo-info> <package>…`: writes `repo` beside `repo_info`.
/// Package paths are relative to `directory` when given.
pub fn create(
    directory: Option<&Path>,
    repo_info: &Path,
    packages: &[PathBuf],
) -> Result<RepoSummary, RepoToolError> {
    let info = RepositoryInfo::load(repo_info)?;
    let output = repo_info.parent().unwrap_or(Path::new(".")).join(REPO_FILE_NAME);
    let paths: Vec<PathBuf> = packages.iter().map(|p| resolve(directory, p)).collect();
    let entries = scan_packages(&paths)?.into_iter().map(Entry::Read).collect();
    write_repository(info, entries, &output)
}

/// `package_repo update [-C dir] [-t] <source-repo> <new-repo> <package-list>`.
///
/// The repository info comes from `<new-repo>.info` (falling back to the source repository's info
/// when that file does not exist). With `trust`, list entries whose canonical file name is in the
/// source repository are reused as they are (checksum included) and only the others are read from
/// disk; without it every listed file is read. Packages keep the list's order; old entries not in
/// the list are dropped. Licences are embedded only from packages read now.
pub fn update(
    directory: Option<&Path>,
    trust: bool,
    source_repo: &Path,
    new_repo: &Path,
    package_list: &Path,
) -> Result<RepoSummary, RepoToolError> {
    let source = read_repository_models(source_repo).map_err(RepoToolError::SourceRepository)?;
    let info_path = PathBuf::from(format!("{}{INFO_SUFFIX}", new_repo.display()));
    let info = if info_path.exists() {
        RepositoryInfo::load(&info_path)?
    } else {
        RepositoryInfo {
            licenses: Vec::new(),
            ..source.info
        }
    };
    let names = read_package_list(package_list)?;
    let mut old: HashMap<String, PackageInfo> = if trust {
        source
            .packages
            .into_iter()
            .map(|p| (p.canonical_file_name(), p))
            .collect()
    } else {
        HashMap::new()
    };
    // Decide per list entry; read all new files in one parallel pass, then restore list order.
    let mut slots: Vec<Option<(String, PackageInfo)>> = Vec::with_capacity(names.len());
    let mut to_read = Vec::new();
    for name in &names {
        match old.remove_entry(name) {
            Some(reused) => slots.push(Some(reused)),
            None => {
                slots.push(None);
                to_read.push(resolve(directory, Path::new(name)));
            }
        }
    }
    let mut scanned = scan_packages(&to_read)?.into_iter();
    let entries = slots
        .into_iter()
        .map(|slot| match slot {
            Some((file_name, reused)) => Entry::Reused(file_name, reused),
            None => Entry::Read(scanned.next().expect("one scan per unreused entry")),
        })
        .collect();
    write_repository(info, entries, new_repo)
}

/// Checks every entry in order, embeds licences, encodes and writes the repository atomically.
fn write_repository(
    mut info: RepositoryInfo,
    entries: Vec<Entry>,
    output: &Path,
) -> Result<RepoSummary, RepoToolError> {
    let repository = info.clone();
    let mut checker = RepositoryChecker::new(&repository);
    let mut packages = Vec::with_capacity(entries.len());
    let mut file_names = Vec::with_capacity(entries.len());
    let (mut reused, mut read) = (0, 0);
    for entry in entries {
        match entry {
            Entry::Reused(file_name, package) => {
                checker.check(&file_name, &package)?;
                reused += 1;
                packages.push(package);
                file_names.push(file_name);
            }
            Entry::Read(scanned) => {
                checker.check(&scanned.path.display().to_string(), &scanned.info)?;
                for license in &scanned.licenses {
                    info.add_license(&license.name, &String::from_utf8_lossy(&license.data));
                }
                read += 1;
                file_names.push(scanned.info.canonical_file_name());
                packages.push(scanned.info);
            }
        }
    }
    let bytes = encode_repository(&info, &packages)?;
    write_atomically(output, &bytes).map_err(|source| RepoToolError::Write {
        path: output.to_owned(),
        source,
    })?;
    Ok(RepoSummary {
        output: output.to_owned(),
        checksum: sha256_hex(&bytes),
        package_file_names: file_names,
        reused,
        read,
        licenses: info.licenses.len(),
    })
}

/// The package list: one file name per line, surrounding white space trimmed, empty lines skipped.
pub fn read_package_list(path: &Path) -> Result<Vec<String>, RepoToolError> {
    let text = std::fs::read_to_string(path).map_err(|source| RepoToolError::PackageList {
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Writes `package.list`: one canonical file name per line, each ending in a newline.
pub fn write_package_list(path: &Path, file_names: &[String]) -> Result<(), RepoToolError> {
    let mut text = String::with_capacity(file_names.iter().map(|n| n.len() + 1).sum());
    for name in file_names {
        text.push_str(name);
        text.push('\n');
    }
    write_atomically(path, text.as_bytes()).map_err(|source| RepoToolError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes `repo.sha256`: exactly 64 lowercase hex characters, no newline, as HaikuPorter does.
pub fn write_checksum_file(path: &Path, checksum: &str) -> Result<(), RepoToolError> {
    write_atomically(path, checksum.as_bytes()).map_err(|source| RepoToolError::Write {
        path: path.to_owned(),
        source,
    })
}

fn resolve(directory: Option<&Path>, path: &Path) -> PathBuf {
    match directory {
        Some(dir) => dir.join(path),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_list_round_trip_and_checksum_file_format() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("package.list");
        let names = vec!["a-1-x86_64.hpkg".to_owned(), "b-2.0-3-any.hpkg".to_owned()];
        write_package_list(&list, &names).unwrap();
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "a-1-x86_64.hpkg\nb-2.0-3-any.hpkg\n"
        );
        std::fs::write(&list, "  a-1-x86_64.hpkg \r\n\n\tb-2.0-3-any.hpkg\n").unwrap();
        assert_eq!(read_package_list(&list).unwrap(), names);

        let sha = dir.path().join("repo.sha256");
        let checksum = sha256_hex(b"repo bytes");
        write_checksum_file(&sha, &checksum).unwrap();
        let written = std::fs::read(&sha).unwrap();
        assert_eq!(written.len(), 64);
        assert!(written
            .iter()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn errors_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_package_list(&dir.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let info = dir.path().join("repo.info");
        std::fs::write(&info, "name x\n").unwrap();
        let err = create(None, &info, &[PathBuf::from("p.hpkg")]).unwrap_err();
        assert!(
            err.to_string().contains("repo.info") && err.to_string().contains("identifier"),
            "{err}"
        );
    }
}
