//! Decoded entries kept between renders of a repository's index in one process (the daemon, a
//! benchmark): a publish that changed ten packages of 10,000 decodes ten JSON entries, not 10,000.
//!
//! A record's entry never changes under its file name and digest, but the cache does not rely on it:
//! a kept entry is used only when the entry text is byte-for-byte the one it was decoded from (a
//! comparison costs far less than a decode), so a render is the same with or without the cache.
//! Each render keeps only the entries it used, per repository, so the cache holds at most one copy
//! of each repository's current packages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::entry::HaikuEntry;
use crate::formats::{FormatError, InspectedPackage};

/// An entry's text and what it decoded to.
struct Decoded {
    text: String,
    entry: Arc<HaikuEntry>,
}

/// Per repository id, per canonical file name.
type Cache = HashMap<String, HashMap<String, Decoded>>;

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The decoded entries of `packages` (in their order), for the repository `repository`: kept ones
/// whose text is unchanged, the others decoded now. Afterwards the repository's cache holds exactly
/// these packages' entries.
pub fn entries<'a>(
    repository: &str,
    packages: impl ExactSizeIterator<Item = &'a InspectedPackage>,
) -> Result<Vec<Arc<HaikuEntry>>, FormatError> {
    // A poisoned lock only means another render panicked mid-way; its map holds whole, valid pairs.
    let mut cache = cache().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut kept = cache.remove(repository).unwrap_or_default();
    let mut now: HashMap<String, Decoded> = HashMap::with_capacity(packages.len());
    let mut out = Vec::with_capacity(packages.len());
    for package in packages {
        let decoded = match kept.remove(&package.file_name) {
            Some(decoded) if decoded.text == package.entry => decoded,
            _ => Decoded {
                text: package.entry.clone(),
                entry: Arc::new(HaikuEntry::decode(package)?),
            },
        };
        out.push(decoded.entry.clone());
        now.insert(package.file_name.clone(), decoded);
    }
    cache.insert(repository.to_string(), now);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::package_info::PackageInfo;
    use crate::haiku::version::Version;

    fn package(name: &str, summary: &str) -> InspectedPackage {
        HaikuEntry {
            info: PackageInfo {
                name: name.into(),
                version: Version::parse("1-1").unwrap(),
                summary: summary.into(),
                ..PackageInfo::default()
            },
            licenses: Vec::new(),
        }
        .inspected(1)
        .unwrap()
    }

    #[test]
    fn a_kept_entry_is_reused_only_while_its_text_is_unchanged() {
        let repository = "decoded-test-reuse";
        let first = [package("a", "one"), package("b", "one")];
        let before = entries(repository, first.iter()).unwrap();
        let again = entries(repository, first.iter()).unwrap();
        assert!(
            Arc::ptr_eq(&before[0], &again[0]),
            "an unchanged entry is not decoded again"
        );

        // Same file name, other text (a fixture reusing a name): decoded afresh, never the kept one.
        let changed = [package("a", "two")];
        let after = entries(repository, changed.iter()).unwrap();
        assert_eq!(after[0].info.summary, "two");
        assert_eq!(*after[0], HaikuEntry::decode(&changed[0]).unwrap());
    }

    #[test]
    fn a_render_keeps_only_the_entries_it_used() {
        let repository = "decoded-test-evict";
        let both = [package("a", "one"), package("b", "one")];
        let kept_b = entries(repository, both.iter()).unwrap()[1].clone();
        entries(repository, both[..1].iter()).unwrap();
        let b_again = entries(repository, both[1..].iter()).unwrap();
        assert!(
            !Arc::ptr_eq(&kept_b, &b_again[0]),
            "b left the cache when a render did not use it"
        );
    }

    #[test]
    fn an_entry_that_does_not_decode_is_an_error_naming_the_package() {
        let mut bad = package("a", "one");
        bad.entry = "{".into();
        let error = entries("decoded-test-bad", std::iter::once(&bad)).unwrap_err();
        assert!(error.to_string().contains(&bad.file_name), "{error}");
    }
}
