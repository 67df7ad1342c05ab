//! The index guard: a publish never replaces the published index with one that silently lost
//! packages. Two checks run before anything is uploaded (and again on the final index, before it is
//! uploaded):
//!
//! - Every package the index would name must pass the repository's checks against `repo.info`. A
//!   package already in storage that fails them now means `repo.info` changed under it (a typo'd
//!   `vendor`, another `architecture`): that drops *every* package, so the publish is refused with the
//!   key to fix, instead of leaving the package out.
//! - The index may not lose more package names than [`PublishSettings::max_index_drop`] allows
//!   against the published `package.list` (lost database rows, stubs deleted by mistake), unless the
//!   operator passes `--allow-shrink`. A name replaced by a newer version is not a loss.

use std::collections::BTreeSet;
use std::path::Path;

use buildmaster_storage::{ErrorKind, StorageBackend};

use super::settings::PublishSettings;
use super::{keys, PublishError};
use crate::haiku::repo_checks::PackageRejected;

/// Largest `package.list` read back from storage (a 100,000-package repository's is about 5 MB).
const MAX_PACKAGE_LIST_BYTES: u64 = 64 * 1024 * 1024;

/// The canonical file names of the index clients see now: the bucket's `package.list`, or the
/// one written next to the last index published from this state directory when the bucket has none
/// (an index published by HaikuPorter). `None` before the first publish.
pub async fn published_names(
    storage: &dyn StorageBackend,
    local_package_list: &Path,
) -> Result<Option<Vec<String>>, PublishError> {
    let text = match storage
        .get_bytes(&keys::top(keys::PACKAGE_LIST), MAX_PACKAGE_LIST_BYTES)
        .await
    {
        Ok(bytes) => bytes,
        Err(e) if e.kind == ErrorKind::NotFound => match std::fs::read(local_package_list) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PublishError::io(local_package_list, e)),
        },
        Err(e) => return Err(e.into()),
    };
    Ok(Some(
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

/// Refuses when packages the index would name fail the repository's checks. `problems` are the
/// checker's findings for packages already chosen for the index.
pub fn refuse_failed_checks(problems: &[PackageRejected], repo_info: &Path) -> Result<(), PublishError> {
    let Some(first) = problems.first() else {
        return Ok(());
    };
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
    Err(PublishError::Refused(format!(
        "{} package(s) in storage would be dropped from the index because they fail the repository's checks \
         against {}: {}{}; {what_to_do}. Nothing was uploaded and the published index is unchanged",
        problems.len(),
        repo_info.display(),
        listed.join("; "),
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        },
    )))
}

/// Refuses an index that loses more package names than allowed against `published`.
pub fn refuse_shrink(
    published: Option<&[String]>,
    index: &[String],
    settings: &PublishSettings,
) -> Result<(), PublishError> {
    let Some(published) = published else {
        return Ok(());
    };
    let kept: BTreeSet<&str> = index.iter().map(|f| package_name(f)).collect();
    let lost: Vec<&str> = published
        .iter()
        .map(|f| package_name(f))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|name| !kept.contains(name))
        .collect();
    let allowed = settings.max_index_drop(published.len());
    if settings.allow_shrink || lost.len() <= allowed {
        return Ok(());
    }
    let shown: Vec<&str> = lost.iter().take(10).copied().collect();
    Err(PublishError::Refused(format!(
        "the new index would name {} packages where the published one names {}: {} package(s) would \
         disappear ({}{}), more than the {allowed} one publish may withdraw. Causes: package records lost from \
         the state database (run `buildmaster recover`), stubs deleted from the spool, or a `repo.info` change. \
         If the withdrawal is intended, publish with --allow-shrink. Nothing was uploaded and the published \
         index is unchanged",
        index.len(),
        published.len(),
        lost.len(),
        shown.join(", "),
        if lost.len() > shown.len() { ", …" } else { "" },
    )))
}

/// The package name of a canonical file name `name-version-arch.hpkg` (Haiku package names have no
/// `-`; versions may).
fn package_name(file_name: &str) -> &str {
    file_name.split('-').next().unwrap_or(file_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_newer_version_is_not_a_loss_and_one_withdrawal_is_allowed() {
        let settings = PublishSettings::default();
        let published = names(&["a-1-1-x86_64.hpkg", "b-1-1-x86_64.hpkg", "c-1-1-x86_64.hpkg"]);
        let newer = names(&["a-2-1-x86_64.hpkg", "b-1-1-x86_64.hpkg", "c-1-1-x86_64.hpkg"]);
        refuse_shrink(Some(&published), &newer, &settings).unwrap();
        refuse_shrink(Some(&published), &newer[..2], &settings).unwrap();
        refuse_shrink(None, &[], &settings).unwrap();
    }

    #[test]
    fn an_empty_index_replacing_a_published_one_is_refused_unless_allowed() {
        let published = names(&["a-1-1-x86_64.hpkg", "b-1-1-x86_64.hpkg", "c-1-1-x86_64.hpkg"]);
        let err = refuse_shrink(Some(&published), &[], &PublishSettings::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("3 package(s) would disappear (a, b, c"), "{text}");
        assert!(text.contains("--allow-shrink"), "{text}");
        let allowed = PublishSettings {
            allow_shrink: true,
            ..PublishSettings::default()
        };
        refuse_shrink(Some(&published), &[], &allowed).unwrap();
    }

    #[test]
    fn failed_checks_name_the_repo_info_key() {
        let problems = [PackageRejected::VendorMismatch {
            package: "a-1-1-x86_64.hpkg".into(),
            vendor: "Haiku Project".into(),
            repository_vendor: "Haiku Projcet".into(),
        }];
        let text = refuse_failed_checks(&problems, Path::new("/s/repository/repo.info"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("`vendor` line of /s/repository/repo.info"),
            "{text}"
        );
        assert!(text.contains("\"Haiku Projcet\""), "{text}");
        refuse_failed_checks(&[], Path::new("x")).unwrap();
    }
}
