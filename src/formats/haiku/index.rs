//! One Haiku repository index from its packages' entries: the newest version of each name, the checks
//! `package_repo` makes, approved licences embedded in the repository info, the HPKR `repo`, its
//! SHA-256 (`repo.sha256`) and `package.list`.

use std::collections::BTreeMap;

use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_scan::sha256_hex;
use crate::haiku::repo_checks::{PackageRejected, RepositoryChecker};
use crate::haiku::repo_info::RepositoryInfo;

/// A package that may go into an index.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its canonical file name (`packages/<file_name>`).
    pub file_name: &'a str,
    /// Its attributes, `checksum` set.
    pub info: &'a PackageInfo,
    /// Licence texts to embed when the package asks for approval.
    pub licenses: &'a [(String, String)],
}

/// An encoded index.
#[derive(Debug)]
pub struct BuiltIndex {
    /// The HPKR `repo` file.
    pub repo: Vec<u8>,
    /// Lowercase hex SHA-256 of `repo` (the whole content of `repo.sha256`).
    pub repo_sha256: String,
    /// Canonical file names in the index, in index order.
    pub file_names: Vec<String>,
    /// Packages `package_repo` would refuse, left out (callers refuse to publish such an index).
    pub rejected: Vec<PackageRejected>,
}

impl BuiltIndex {
    /// `package.list`: one canonical file name per line.
    pub fn package_list(&self) -> Vec<u8> {
        package_list(&self.file_names)
    }
}

/// The newest version of each package name among `items` (an index names one version per name; older
/// ones stay downloadable until pruned), ordered by file name. Generic so that the HaikuPorts
/// publisher's records and pushed packages' entries are chosen by one rule.
pub fn newest_per_name<'a, T>(
    items: impl IntoIterator<Item = &'a T>,
    info: impl Fn(&T) -> &PackageInfo,
    file_name: impl Fn(&T) -> &str,
) -> Vec<&'a T> {
    let mut newest: BTreeMap<&str, &'a T> = BTreeMap::new();
    for item in items {
        let name = info(item).name.as_str();
        match newest.get_mut(name) {
            Some(current) => {
                if info(item).version.compare(&info(current).version).is_gt() {
                    *current = item;
                }
            }
            None => {
                newest.insert(name, item);
            }
        }
    }
    let mut chosen: Vec<&'a T> = newest.into_values().collect();
    chosen.sort_by(|a, b| file_name(a).cmp(file_name(b)));
    chosen
}

/// `package.list`: one canonical file name per line.
pub fn package_list(file_names: &[String]) -> Vec<u8> {
    file_names
        .iter()
        .flat_map(|n| [n.as_bytes(), b"\n"].concat())
        .collect()
}

/// Whether `info` (the package `file_name`) may enter a repository described by `repository`:
/// complete attributes, the repository's vendor and architecture (or `any`/`source`).
pub fn admit(
    repository: &RepositoryInfo,
    file_name: &str,
    info: &PackageInfo,
) -> Result<(), PackageRejected> {
    RepositoryChecker::new(repository).check(file_name, info)
}

/// Encodes the index of `chosen` (already one version per name) for `info`. Packages that fail
/// `package_repo`'s checks are left out and returned in [`BuiltIndex::rejected`].
pub fn build_index(mut info: RepositoryInfo, chosen: &[Candidate<'_>]) -> Result<BuiltIndex, String> {
    let mut checker = RepositoryChecker::new(&info);
    let mut accepted = Vec::with_capacity(chosen.len());
    let mut rejected = Vec::new();
    for candidate in chosen {
        match checker.check(candidate.file_name, candidate.info) {
            Ok(()) => accepted.push(*candidate),
            Err(e) => rejected.push(e),
        }
    }
    for candidate in accepted.iter().filter(|c| c.info.approve_license()) {
        for (name, text) in candidate.licenses {
            info.add_license(name, text);
        }
    }
    let infos: Vec<PackageInfo> = accepted.iter().map(|c| c.info.clone()).collect();
    let repo = crate::haiku::hpkr_writer::encode_repository(&info, &infos).map_err(|e| e.to_string())?;
    Ok(BuiltIndex {
        repo_sha256: sha256_hex(&repo),
        repo,
        file_names: accepted.iter().map(|c| c.file_name.to_string()).collect(),
        rejected,
    })
}
