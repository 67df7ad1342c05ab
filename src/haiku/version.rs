//! Package versions: the `Version` value (`BPackageVersion`), Haiku's ordering of versions (natural,
//! digit-aware comparison of major/minor/micro, pre-releases before the release, then the revision)
//! and its text form `major[.minor[.micro]][~prerelease][-revision]`.
//!
//! Facts: Haiku's `src/kits/package/PackageVersion.cpp` (`Compare`, `ToString`) and
//! `src/kits/shared/NaturalCompare.cpp` (`NaturalCompare`).

use std::cmp::Ordering;
use std::fmt;

/// A package version (`BPackageVersion`). A version whose `major` is empty is "unset"
/// (Haiku's `InitCheck() != B_OK`): it prints as the empty string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Version {
    /// Major component; non-empty for a set version.
    pub major: String,
    /// Minor component; may be empty.
    pub minor: String,
    /// Micro component; only meaningful (and only written) when `minor` is non-empty.
    pub micro: String,
    /// Pre-release label (shown after `~`); a version with one sorts before the same version without.
    pub prerelease: String,
    /// Packaging revision (shown after `-` when > 0).
    pub revision: u32,
}

impl Version {
    /// A version from its parts.
    pub fn new(major: &str, minor: &str, micro: &str, prerelease: &str, revision: u32) -> Version {
        Version {
            major: major.to_owned(),
            minor: minor.to_owned(),
            micro: micro.to_owned(),
            prerelease: prerelease.to_owned(),
            revision,
        }
    }

    /// Whether the version is set (non-empty major), as Haiku's `BPackageVersion::InitCheck`.
    pub fn is_set(&self) -> bool {
        !self.major.is_empty()
    }

    /// Parses `major[.minor[.micro]][~prerelease][-revision]`, as `BPackageInfo::ParseVersionString`
    /// does with an optional revision: the revision is the text after the last `-`, the pre-release
    /// the text after the first `~`, and the micro keeps any further dots. Returns `None` for an
    /// empty major or a revision that is not a number.
    pub fn parse(text: &str) -> Option<Version> {
        let (rest, revision) = match text.rfind('-') {
            Some(dash) => (&text[..dash], text[dash + 1..].parse::<u32>().ok()?),
            None => (text, 0),
        };
        let (numbers, prerelease) = match rest.find('~') {
            Some(tilde) => (&rest[..tilde], &rest[tilde + 1..]),
            None => (rest, ""),
        };
        let mut parts = numbers.splitn(3, '.');
        let major = parts.next().unwrap_or("");
        let minor = parts.next().unwrap_or("");
        let micro = parts.next().unwrap_or("");
        if major.is_empty() {
            return None;
        }
        Some(Version::new(major, minor, micro, prerelease, revision))
    }

    /// Haiku's `BPackageVersion::Compare`: major, minor and micro compared naturally; then an empty
    /// pre-release sorts after any non-empty one ("R1" is newer than "R1~rc2"); then the revision.
    pub fn compare(&self, other: &Version) -> Ordering {
        natural_compare(&self.major, &other.major)
            .then_with(|| natural_compare(&self.minor, &other.minor))
            .then_with(|| natural_compare(&self.micro, &other.micro))
            .then_with(
                || match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => natural_compare(&self.prerelease, &other.prerelease),
                },
            )
            // Haiku subtracts the revisions as `int`; comparing as u32 agrees for every revision
            // below 2^31, which is all a uint32 attribute written by Haiku's tools holds in practice.
            .then_with(|| self.revision.cmp(&other.revision))
    }
}

impl fmt::Display for Version {
    /// `major[.minor[.micro]][~prerelease][-revision]`, revision only if > 0; empty if unset
    /// (`BPackageVersion::ToString`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_set() {
            return Ok(());
        }
        f.write_str(&self.major)?;
        if !self.minor.is_empty() {
            write!(f, ".{}", self.minor)?;
            if !self.micro.is_empty() {
                write!(f, ".{}", self.micro)?;
            }
        }
        if !self.prerelease.is_empty() {
            write!(f, "~{}", self.prerelease)?;
        }
        if self.revision > 0 {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

/// Haiku's `BPrivate::NaturalCompare`, which lives in [`crate::natural_order`] because non-Haiku code
/// (source lists, manifests) orders by it too; re-exported here for the version code and its callers.
pub use crate::natural_order::natural_compare;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("valid version")
    }

    #[test]
    fn version_ordering_follows_haiku() {
        assert_eq!(v("1.10").compare(&v("1.9")), Ordering::Greater);
        assert_eq!(v("1.2.3").compare(&v("1.2.3")), Ordering::Equal);
        // A pre-release sorts before the release it precedes.
        assert_eq!(v("1.0~rc1").compare(&v("1.0")), Ordering::Less);
        assert_eq!(v("1.0~beta2").compare(&v("1.0~beta10")), Ordering::Less);
        assert_eq!(v("1.0~alpha").compare(&v("1.0~beta")), Ordering::Less);
        // Revision last.
        assert_eq!(v("1.0-2").compare(&v("1.0-10")), Ordering::Less);
        assert_eq!(v("1.0~rc1-9").compare(&v("1.0-1")), Ordering::Less);
        assert_eq!(v("2").compare(&v("1.99")), Ordering::Greater);
        assert_eq!(v("1").compare(&v("1.0")), Ordering::Less);
    }

    #[test]
    fn display_matches_to_string() {
        assert_eq!(v("1.1.1-1").to_string(), "1.1.1-1");
        assert_eq!(
            v("r1~beta1_hrev52295_129-1").to_string(),
            "r1~beta1_hrev52295_129-1"
        );
        assert_eq!(Version::new("1", "", "5", "", 0).to_string(), "1");
        assert_eq!(Version::new("42", "17", "", "", 12).to_string(), "42.17-12");
        assert_eq!(Version::new("1", "2", "3.4", "rc", 0).to_string(), "1.2.3.4~rc");
        assert_eq!(Version::default().to_string(), "");
    }

    #[test]
    fn parse_splits_components() {
        assert_eq!(v("1.2.3.4~rc2-7"), Version::new("1", "2", "3.4", "rc2", 7));
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::parse("1.0-x"), None);
    }
}
