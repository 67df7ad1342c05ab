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

/// What kind of chunk `NaturalCompare` sees next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChunkKind {
    /// End of the string.
    End,
    /// A run of digits (leading zeros and surrounding white space are skipped).
    Number,
    /// A run of anything else, up to the next digit or white space.
    Text,
}

/// C's `isspace` in the "C" locale.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn chunk_kind(rest: &[u8]) -> ChunkKind {
    match rest.first() {
        None | Some(0) => ChunkKind::End,
        Some(&b) if b.is_ascii_digit() || is_space(b) => ChunkKind::Number,
        Some(_) => ChunkKind::Text,
    }
}

/// Takes the next chunk of `kind` from `rest`: returns the chunk's significant bytes and how many
/// bytes it consumed (always at least one, so the comparison loop makes progress).
fn fetch_chunk(rest: &[u8], kind: ChunkKind) -> (&[u8], usize) {
    if kind == ChunkKind::Text {
        let len = rest
            .iter()
            .position(|&b| b.is_ascii_digit() || is_space(b) || b == 0)
            .unwrap_or(rest.len());
        return (&rest[..len], len);
    }
    // Leading zeros and white space (in any mix) are not significant.
    let skip = rest
        .iter()
        .position(|&b| b != b'0' && !is_space(b))
        .unwrap_or(rest.len());
    let digits = &rest[skip..];
    let len = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let trailing = digits[len..]
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(digits.len() - len);
    (&digits[..len], skip + len + trailing)
}

/// `strcasecmp` (ASCII case folding), reduced to an ordering.
fn case_insensitive_compare(a: &[u8], b: &[u8]) -> Ordering {
    let a = a.iter().take_while(|&&c| c != 0).map(u8::to_ascii_lowercase);
    let b = b.iter().take_while(|&&c| c != 0).map(u8::to_ascii_lowercase);
    a.cmp(b)
}

/// Haiku's `BPrivate::NaturalCompare`: runs of digits compare as numbers (ignoring leading zeros, of
/// any length), other runs compare case-insensitively; when one string has a number where the other
/// has text, the remainders compare case-insensitively.
pub fn natural_compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut index_a, mut index_b) = (0usize, 0usize);
    loop {
        let (rest_a, rest_b) = (&a[index_a..], &b[index_b..]);
        let (kind_a, kind_b) = (chunk_kind(rest_a), chunk_kind(rest_b));
        match (kind_a, kind_b) {
            (ChunkKind::End, ChunkKind::End) => return Ordering::Equal,
            (ChunkKind::End, _) => return Ordering::Less,
            (_, ChunkKind::End) => return Ordering::Greater,
            _ if kind_a != kind_b => return case_insensitive_compare(rest_a, rest_b),
            _ => {}
        }
        let (chunk_a, used_a) = fetch_chunk(rest_a, kind_a);
        let (chunk_b, used_b) = fetch_chunk(rest_b, kind_b);
        index_a += used_a;
        index_b += used_b;
        let order = if kind_a == ChunkKind::Text {
            case_insensitive_compare(chunk_a, chunk_b)
        } else {
            // Numbers compare as digit strings so any length works: longer is larger, then bytewise.
            chunk_a
                .len()
                .cmp(&chunk_b.len())
                .then_with(|| chunk_a.cmp(chunk_b))
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("valid version")
    }

    #[test]
    fn natural_compare_orders_numbers_numerically() {
        assert_eq!(natural_compare("9", "10"), Ordering::Less);
        assert_eq!(natural_compare("010", "10"), Ordering::Equal);
        assert_eq!(natural_compare("1a", "1B"), Ordering::Less);
        assert_eq!(natural_compare("abc", "ABC"), Ordering::Equal);
        assert_eq!(natural_compare("", "0"), Ordering::Less);
        assert_eq!(natural_compare("a", "1"), Ordering::Greater);
        assert_eq!(natural_compare("2017_08_05", "2017_8_5"), Ordering::Equal);
        assert_eq!(
            natural_compare("99999999999999999999", "100000000000000000000"),
            Ordering::Less
        );
        assert_eq!(natural_compare("r1", "r1"), Ordering::Equal);
        assert_eq!(natural_compare("hrev9", "hrev10"), Ordering::Less);
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
