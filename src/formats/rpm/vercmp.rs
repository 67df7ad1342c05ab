//! RPM version ordering (`rpmvercmp`, EVR comparison) and whether a Provides satisfies a Requires,
//! exactly as rpm (lib/rpmvercmp.c, lib/rpmds.c) and libsolv's RPM mode decide it: `check` must
//! agree with dnf about what installs, or it would pass repositories dnf refuses.

use std::cmp::Ordering;

use super::entry::{Dep, DepFlag};

/// rpm's `rpmvercmp`: alternating numeric and alphabetic segments, separators ignored, numbers
/// compared as numbers (leading zeros dropped), a numeric segment newer than an alphabetic one,
/// `~` sorting before everything (even the end: `1.0~rc1 < 1.0`) and `^` after the end but before
/// anything else (`1.0 < 1.0^git1 < 1.0.1`).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let is_sep = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    loop {
        while one.first().is_some_and(is_sep) {
            one = &one[1..];
        }
        while two.first().is_some_and(is_sep) {
            two = &two[1..];
        }
        if one.is_empty() && two.is_empty() {
            return Ordering::Equal;
        }
        let (c1, c2) = (one.first().copied(), two.first().copied());
        if c1 == Some(b'~') || c2 == Some(b'~') {
            if c1 != Some(b'~') {
                return Ordering::Greater;
            }
            if c2 != Some(b'~') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if c1 == Some(b'^') || c2 == Some(b'^') {
            if c1.is_none() {
                return Ordering::Less;
            }
            if c2.is_none() {
                return Ordering::Greater;
            }
            if c1 != Some(b'^') {
                return Ordering::Greater;
            }
            if c2 != Some(b'^') {
                return Ordering::Less;
            }
            one = &one[1..];
            two = &two[1..];
            continue;
        }
        if one.is_empty() || two.is_empty() {
            break;
        }
        let numeric = one[0].is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let len1 = one.iter().take_while(|c| class(c)).count();
        let len2 = two.iter().take_while(|c| class(c)).count();
        let (seg1, seg2) = (&one[..len1], &two[..len2]);
        if seg2.is_empty() {
            // Segments of different kinds: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            let s1 = trim_zeros(seg1);
            let s2 = trim_zeros(seg2);
            s1.len().cmp(&s2.len()).then_with(|| s1.cmp(s2))
        } else {
            seg1.cmp(seg2)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        one = &one[len1..];
        two = &two[len2..];
    }
    // One ran out: the one with segments left is newer.
    if one.is_empty() {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    &digits[zeros..]
}

/// An epoch-version-release to compare.
#[derive(Clone, Copy, Debug)]
pub struct Evr<'a> {
    /// Epoch; a missing epoch is 0, as rpm ≥ 4.10 and libsolv treat it.
    pub epoch: u32,
    /// Version.
    pub version: &'a str,
    /// Release; `None` in a dependency that names none (`>= 1.0`), which then matches any release.
    pub release: Option<&'a str>,
}

/// rpm's `rpmdsCompareEVR`: epoch, then version, then release only when both state one.
pub fn compare_evr(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(ra), Some(rb)) if !ra.is_empty() && !rb.is_empty() => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

impl Dep {
    /// The EVR this dependency names, if it is versioned.
    pub fn evr(&self) -> Option<(DepFlag, Evr<'_>)> {
        let flag = self.flags?;
        Some((
            flag,
            Evr {
                epoch: self.epoch.unwrap_or(0),
                version: &self.ver,
                release: self.rel.as_deref(),
            },
        ))
    }
}

fn has_less(flag: DepFlag) -> bool {
    matches!(flag, DepFlag::LT | DepFlag::LE)
}
fn has_greater(flag: DepFlag) -> bool {
    matches!(flag, DepFlag::GT | DepFlag::GE)
}
fn has_equal(flag: DepFlag) -> bool {
    matches!(flag, DepFlag::LE | DepFlag::EQ | DepFlag::GE)
}

/// Whether capability `provide` satisfies dependency `require` (same name assumed): rpm's
/// `rpmdsCompare` — an unversioned side matches everything, otherwise the two ranges overlap.
pub fn satisfies(provide: &Dep, require: &Dep) -> bool {
    let (Some((pf, pevr)), Some((rf, revr))) = (provide.evr(), require.evr()) else {
        return true;
    };
    match compare_evr(&pevr, &revr) {
        Ordering::Less => has_greater(pf) || has_less(rf),
        Ordering::Greater => has_less(pf) || has_greater(rf),
        Ordering::Equal => {
            (has_equal(pf) && has_equal(rf))
                || (has_less(pf) && has_less(rf))
                || (has_greater(pf) && has_greater(rf))
        }
    }
}

/// Splits a dependency version string `[epoch:]version[-release]` as rpm does (the last `-`
/// starts the release). A malformed epoch is kept in the version, so it compares as text instead
/// of being silently dropped.
pub fn split_evr(evr: &str) -> (Option<u32>, String, Option<String>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().ok(), rest),
        _ => (None, evr),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_string(), Some(r.to_string())),
        None => (epoch, rest.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rpm's own cases, from tests/rpmvercmp.at (rpm 4.18).
    #[test]
    fn rpmvercmp_matches_rpm_test_suite() {
        use Ordering::*;
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0", "1.0", Greater),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1", "2.0", Greater),
            ("2.0.1a", "2.0.1a", Equal),
            ("2.0.1a", "2.0.1", Greater),
            ("2.0.1", "2.0.1a", Less),
            ("5.5p1", "5.5p1", Equal),
            ("5.5p1", "5.5p2", Less),
            ("5.5p2", "5.5p1", Greater),
            ("5.5p10", "5.5p10", Equal),
            ("5.5p1", "5.5p10", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("10.1xyz", "10xyz", Greater),
            ("xyz10", "xyz10", Equal),
            ("xyz10", "xyz10.1", Less),
            ("xyz10.1", "xyz10", Greater),
            ("xyz.4", "xyz.4", Equal),
            ("xyz.4", "8", Less),
            ("8", "xyz.4", Greater),
            ("xyz.4", "2", Less),
            ("2", "xyz.4", Greater),
            ("5.5p2", "5.6p1", Less),
            ("5.6p1", "5.5p2", Greater),
            ("5.6p1", "6.5p1", Less),
            ("6.5p1", "5.6p1", Greater),
            ("6.0.rc1", "6.0", Greater),
            ("6.0", "6.0.rc1", Less),
            ("10b2", "10a1", Greater),
            ("10a2", "10b2", Less),
            ("1.0aa", "1.0aa", Equal),
            ("1.0a", "1.0aa", Less),
            ("1.0aa", "1.0a", Greater),
            ("10.0001", "10.0001", Equal),
            ("10.0001", "10.1", Equal),
            ("10.1", "10.0001", Equal),
            ("10.0001", "10.0039", Less),
            ("10.0039", "10.0001", Greater),
            ("4.999.9", "5.0", Less),
            ("5.0", "4.999.9", Greater),
            ("20101121", "20101121", Equal),
            ("20101121", "20101122", Less),
            ("20101122", "20101121", Greater),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("2_0", "2.0", Equal),
            ("a", "a", Equal),
            ("a+", "a+", Equal),
            ("a+", "a_", Equal),
            ("a_", "a+", Equal),
            ("+a", "+a", Equal),
            ("+a", "_a", Equal),
            ("_a", "+a", Equal),
            ("+_", "+_", Equal),
            ("_+", "+_", Equal),
            ("_+", "_", Equal),
            ("+", "_", Equal),
            ("_", "+", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0~rc1", Greater),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc2", "1.0~rc1", Greater),
            ("1.0~rc1~git123", "1.0~rc1~git123", Equal),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0~rc1", "1.0~rc1~git123", Greater),
            ("1.0^", "1.0^", Equal),
            ("1.0^", "1.0", Greater),
            ("1.0", "1.0^", Less),
            ("1.0^git1", "1.0^git1", Equal),
            ("1.0^git1", "1.0", Greater),
            ("1.0", "1.0^git1", Less),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git2", "1.0^git1", Greater),
            ("1.0^git1", "1.01", Less),
            ("1.01", "1.0^git1", Greater),
            ("1.0^20160101", "1.0^20160101", Equal),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0.1", "1.0^20160101", Greater),
            ("1.0^20160101^git1", "1.0^20160101^git1", Equal),
            ("1.0^20160102", "1.0^20160101^git1", Greater),
            ("1.0^20160101^git1", "1.0^20160102", Less),
            ("1.0~rc1^git1", "1.0~rc1^git1", Equal),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0~rc1", "1.0~rc1^git1", Less),
            ("1.0^git1~pre", "1.0^git1~pre", Equal),
            ("1.0^git1", "1.0^git1~pre", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), *want, "rpmvercmp({a:?}, {b:?})");
        }
    }

    fn dep(name: &str, flag: Option<DepFlag>, evr: &str) -> Dep {
        let (epoch, ver, rel) = split_evr(evr);
        Dep {
            name: name.into(),
            flags: flag,
            epoch,
            ver,
            rel,
            pre: false,
        }
    }

    #[test]
    fn ranges_overlap_as_rpmds_compare_says() {
        use DepFlag::*;
        let provide = dep("libgreet", Some(EQ), "1.2-1");
        assert!(satisfies(&provide, &dep("libgreet", Some(GE), "1.0")));
        assert!(satisfies(&provide, &dep("libgreet", Some(EQ), "1.2")));
        assert!(satisfies(&provide, &dep("libgreet", Some(EQ), "1.2-1")));
        assert!(!satisfies(&provide, &dep("libgreet", Some(EQ), "1.2-2")));
        assert!(!satisfies(&provide, &dep("libgreet", Some(LT), "1.2")));
        assert!(satisfies(&provide, &dep("libgreet", Some(LE), "1.2")));
        assert!(!satisfies(&provide, &dep("libgreet", Some(GT), "1.2")));
        assert!(!satisfies(&provide, &dep("libgreet", Some(GE), "1.10")));
        // An epoch beats any version; a missing epoch is 0.
        assert!(!satisfies(&provide, &dep("libgreet", Some(GE), "1:0.1")));
        assert!(satisfies(
            &dep("libgreet", Some(EQ), "2:0.1-1"),
            &dep("libgreet", Some(GE), "1:9")
        ));
        // Unversioned on either side matches.
        assert!(satisfies(
            &dep("libgreet", None, ""),
            &dep("libgreet", Some(GE), "9")
        ));
        assert!(satisfies(&provide, &dep("libgreet", None, "")));
        // Open ranges on both sides overlap.
        assert!(satisfies(&dep("x", Some(GE), "2"), &dep("x", Some(LT), "3")));
        assert!(!satisfies(&dep("x", Some(GE), "3"), &dep("x", Some(LT), "3")));
        // Pre-release: 1.0~rc1 does not satisfy >= 1.0.
        assert!(!satisfies(
            &dep("x", Some(EQ), "1.0~rc1-1"),
            &dep("x", Some(GE), "1.0")
        ));
    }

    #[test]
    fn evr_strings_split_like_rpm() {
        assert_eq!(split_evr("1.0"), (None, "1.0".into(), None));
        assert_eq!(
            split_evr("2:1.0-3.el9"),
            (Some(2), "1.0".into(), Some("3.el9".into()))
        );
        assert_eq!(split_evr("1.0-a-b"), (None, "1.0-a".into(), Some("b".into())));
        assert_eq!(split_evr("x:1"), (None, "x:1".into(), None));
    }
}
