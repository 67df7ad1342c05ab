//! One Haiku repository index from its packages' entries: the newest version of each name, the checks
//! `package_repo` makes, approved licences embedded in the repository info, the HPKR `repo`, its
//! SHA-256 (`repo.sha256`) and `package.list`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_scan::sha256_hex;
use crate::haiku::repo_checks::{PackageRejected, RepositoryChecker};
use crate::haiku::repo_info::RepositoryInfo;
use crate::haiku::version::Version;

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

/// [`newest_per_name`] by the name and version text inspection keeps outside the entry, so that
/// choosing among thousands of records decodes no entry; versions are parsed only for names that occur
/// more than once (a repository mostly holds one version of each). Versions that do not parse (none
/// should: inspection wrote them) lose to any that do. In the order given, not re-sorted.
pub fn newest_by_version_text<'a, T>(
    items: &[&'a T],
    name: impl Fn(&T) -> &str,
    version: impl Fn(&T) -> &str,
) -> Vec<&'a T> {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        by_name.entry(name(item)).or_default().push(index);
    }
    let mut chosen: Vec<usize> = by_name
        .into_values()
        .map(|indices| match indices[..] {
            [only] => only,
            _ => newest_of(items, &indices, &version),
        })
        .collect();
    chosen.sort_unstable();
    chosen.into_iter().map(|index| items[index]).collect()
}

/// The index (among `indices`, all of one name) of the item with the newest version; the first of
/// equal ones.
fn newest_of<T>(items: &[&T], indices: &[usize], version: impl Fn(&T) -> &str) -> usize {
    let mut best = (indices[0], Version::parse(version(items[indices[0]])));
    for &index in &indices[1..] {
        let parsed = Version::parse(version(items[index]));
        let newer = match (&parsed, &best.1) {
            (Some(candidate), Some(chosen)) => candidate.compare(chosen).is_gt(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if newer {
            best = (index, parsed);
        }
    }
    best.0
}

/// Why an index is refused when packages chosen for it fail `package_repo`'s checks against the
/// `repo.info` at `repo_info`: every package was admitted when it was recorded, so one refused now means
/// `repo.info` changed under it (a typo'd `vendor`, another `architecture`), which would drop *every*
/// package; the message names the line to fix. `None` when nothing was refused.
pub fn refusal(problems: &[PackageRejected], repo_info: &Path) -> Option<String> {
    let first = problems.first()?;
    let what_to_do = match first {
        PackageRejected::VendorMismatch { .. } => format!(
            "check the `vendor` line of {}: it must name the vendor the packages were built with",
            repo_info.display()
        ),
        PackageRejected::ArchitectureMismatch { .. } => format!(
            "check the `architecture` line of {}: it must be the architecture the packages were built for",
            repo_info.display()
        ),
        PackageRejected::Incomplete { .. } | PackageRejected::DuplicateName { .. } => {
            "rebuild the package or remove it from the spool".to_owned()
        }
    };
    let listed: Vec<String> = problems.iter().take(5).map(|p| p.to_string()).collect();
    let more = problems.len().saturating_sub(listed.len());
    Some(format!(
        "{} package(s) in storage would be dropped from the index because they fail the repository's checks \
         against {}: {}{}; {what_to_do}",
        problems.len(),
        repo_info.display(),
        listed.join("; "),
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        },
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_text_of_each_name_is_chosen_in_the_order_given() {
        let items = [
            ("b", "1.10-1"),
            ("a", "2"),
            ("b", "1.9-3"),
            ("a", "2-1"),
            ("c", "x~y"),
        ];
        let refs: Vec<&(&str, &str)> = items.iter().collect();
        let chosen = newest_by_version_text(&refs, |i| i.0, |i| i.1);
        assert_eq!(chosen, [&("b", "1.10-1"), &("a", "2-1"), &("c", "x~y")]);
    }

    #[test]
    fn a_refusal_names_the_repo_info_line() {
        let problems = [PackageRejected::VendorMismatch {
            package: "a-1-1-x86_64.hpkg".into(),
            vendor: "Haiku Project".into(),
            repository_vendor: "Haiku Projcet".into(),
        }];
        let text = refusal(&problems, Path::new("/s/repository/repo.info")).unwrap();
        assert!(
            text.contains("`vendor` line of /s/repository/repo.info"),
            "{text}"
        );
        assert!(text.contains("\"Haiku Projcet\""), "{text}");
        assert!(refusal(&[], Path::new("x")).is_none());
    }
}
