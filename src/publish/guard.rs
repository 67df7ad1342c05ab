//! The index guard: a publish never replaces the published index with one that silently lost
//! packages. Two checks run before anything is uploaded (and again on the final index, before it is
//! uploaded):
//!
//! - Every package the index would name must pass the repository's checks. The format makes them
//!   while it renders ([`crate::formats::RepositoryFormat::render`]) and refuses the index, naming what
//!   to fix (Haiku: a package in storage that fails them now means `repo.info` changed under it, a
//!   typo'd `vendor` or another `architecture`, which would drop *every* package).
//! - The index may not lose more package names than [`PublishSettings::max_index_drop`] allows
//!   against the published `package.list` (lost database rows, stubs deleted by mistake), unless the
//!   operator passes `--allow-shrink`. A name replaced by a newer version is not a loss.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use buildmaster_storage::{ErrorKind, StorageBackend};

use super::settings::PublishSettings;
use super::{keys, PublishError};
use crate::formats::InspectedPackage;

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

/// Refuses an index naming `index` that loses more package names than allowed against `published`
/// (file names). `name_of` gives the package name of a published file name (from its record, or
/// what the format's file names say); a file it cannot name counts as lost unless the index names
/// that very file.
pub fn refuse_shrink(
    published: Option<&[String]>,
    index: &[&InspectedPackage],
    name_of: &dyn Fn(&str) -> Option<String>,
    settings: &PublishSettings,
) -> Result<(), PublishError> {
    let Some(published) = published else {
        return Ok(());
    };
    let kept_names: HashSet<&str> = index.iter().map(|p| p.name.as_str()).collect();
    let kept_files: HashSet<&str> = index.iter().map(|p| p.file_name.as_str()).collect();
    let lost: Vec<String> = published
        .iter()
        .filter(|file| !kept_files.contains(file.as_str()))
        .map(|file| name_of(file).unwrap_or_else(|| file.clone()))
        .filter(|name| !kept_names.contains(name.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let allowed = settings.max_index_drop(published.len());
    if settings.allow_shrink || lost.len() <= allowed {
        return Ok(());
    }
    let shown: Vec<&str> = lost.iter().take(10).map(String::as_str).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Packages `<name>-<version>-1-x86_64.hpkg` for `(name, version)`.
    fn packages(list: &[(&str, &str)]) -> Vec<InspectedPackage> {
        list.iter()
            .map(|(name, version)| InspectedPackage {
                name: name.to_string(),
                version: format!("{version}-1"),
                architecture: "x86_64".into(),
                size: 1,
                sha256: String::new(),
                file_name: format!("{name}-{version}-1-x86_64.hpkg"),
                entry: String::new(),
            })
            .collect()
    }

    /// The name of each file name of `records`, as a lookup.
    fn known(records: &[InspectedPackage]) -> impl Fn(&str) -> Option<String> + '_ {
        let names: HashMap<&str, &str> = records
            .iter()
            .map(|p| (p.file_name.as_str(), p.name.as_str()))
            .collect();
        move |file| names.get(file).map(|name| name.to_string())
    }

    #[test]
    fn a_newer_version_is_not_a_loss_and_one_withdrawal_is_allowed() {
        let settings = PublishSettings::default();
        let old = packages(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let new = packages(&[("a", "2"), ("b", "1"), ("c", "1")]);
        let records: Vec<InspectedPackage> = old.iter().chain(&new).cloned().collect();
        let published: Vec<String> = old.iter().map(|p| p.file_name.clone()).collect();
        let newer: Vec<&InspectedPackage> = new.iter().collect();
        refuse_shrink(Some(&published), &newer, &known(&records), &settings).unwrap();
        refuse_shrink(Some(&published), &newer[..2], &known(&records), &settings).unwrap();
        refuse_shrink(None, &[], &known(&records), &settings).unwrap();
    }

    #[test]
    fn an_empty_index_replacing_a_published_one_is_refused_unless_allowed() {
        let published = names(&["a-1-1-x86_64.hpkg", "b-1-1-x86_64.hpkg", "c-1-1-x86_64.hpkg"]);
        let records = packages(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let err = refuse_shrink(
            Some(&published),
            &[],
            &known(&records),
            &PublishSettings::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("3 package(s) would disappear (a, b, c"), "{text}");
        assert!(text.contains("--allow-shrink"), "{text}");
        let allowed = PublishSettings {
            allow_shrink: true,
            ..PublishSettings::default()
        };
        refuse_shrink(Some(&published), &[], &known(&records), &allowed).unwrap();
    }

    #[test]
    fn published_files_the_records_lost_count_as_lost() {
        let published = names(&["a-1-1-x86_64.hpkg", "b-1-1-x86_64.hpkg", "c-1-1-x86_64.hpkg"]);
        let kept = packages(&[("a", "2")]);
        let index: Vec<&InspectedPackage> = kept.iter().collect();
        let text = refuse_shrink(Some(&published), &index, &|_| None, &PublishSettings::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("3 package(s) would disappear"), "{text}");
    }
}
