//! Debian version numbers (`[epoch:]upstream[-revision]`) and dpkg's ordering of them.
//!
//! The ordering is dpkg's `verrevcmp` (lib/dpkg/version.c), as described in deb-version(7): epochs
//! compare numerically; upstream and revision compare as alternating non-digit and digit runs, where
//! in non-digit runs `~` sorts before everything (even the end of the string), then the end, then
//! letters, then other characters by ASCII; digit runs compare numerically.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Debian version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The epoch; 0 when absent (`1.0` and `0:1.0` are the same version).
    pub epoch: u64,
    /// The upstream part (between the epoch's `:` and the last `-`).
    pub upstream: String,
    /// The Debian revision after the last `-`; empty when absent (dpkg orders an absent revision
    /// like an empty one).
    pub revision: String,
}

impl Version {
    /// Parses `text` as dpkg does, refusing what dpkg refuses (empty parts, bad characters, an
    /// epoch that is not a number) so that a package with a version apt cannot order is never
    /// published.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the version is empty".into());
        }
        if text.chars().any(char::is_whitespace) {
            return Err(format!("version {text:?} contains whitespace"));
        }
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) => {
                let epoch = epoch
                    .parse::<u64>()
                    .map_err(|_| format!("version {text:?}: the epoch {epoch:?} is not a number"))?;
                (epoch, rest)
            }
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(format!("version {text:?} has an empty upstream part"));
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "version {text:?}: the upstream part must start with a digit"
            ));
        }
        if rest.contains('-') && revision.is_empty() {
            return Err(format!("version {text:?} has an empty revision after '-'"));
        }
        let allowed =
            |c: char, extra: &str| c.is_ascii_alphanumeric() || ".+~".contains(c) || extra.contains(c);
        if let Some(c) = upstream.chars().find(|&c| !allowed(c, "-:")) {
            return Err(format!(
                "version {text:?}: {c:?} is not allowed in the upstream part"
            ));
        }
        if let Some(c) = revision.chars().find(|&c| !allowed(c, "")) {
            return Err(format!("version {text:?}: {c:?} is not allowed in the revision"));
        }
        Ok(Self {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// The version as it appears in a file name: without the epoch (Debian pool convention;
    /// `:` is also awkward in object keys and URLs).
    pub fn without_epoch(&self) -> String {
        if self.revision.is_empty() {
            self.upstream.clone()
        } else {
            format!("{}-{}", self.upstream, self.revision)
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.without_epoch())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// dpkg's weight of one character in a non-digit run; `None` (end of the run) weighs 0.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: compares one upstream or revision part.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit run: compare character weights until both reach a digit.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run: skip leading zeros, then the longer run is larger, else the first difference.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    /// Cases from dpkg's test suite (lib/dpkg/t/t-version.c) and deb-version(7), each checked with
    /// `dpkg --compare-versions` (dpkg 1.21).
    #[test]
    fn dpkg_ordering() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~~a", Less),
            ("1.0~~a", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1.0-1", "1.0", Greater),
            ("1.0", "1.0-0", Equal),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("1.0-1+b1", "1.0-1", Greater),
            ("1.2.10", "1.2.9", Greater),
            ("1.002", "1.2", Equal),
            ("1.01", "1.1", Equal),
            ("2.0.0", "2.0", Greater),
            ("1.0-a", "1.0-A", Greater),
            ("1.2-3-4", "1.2-3", Greater),
            ("7.6p2-4", "7.6-0", Greater),
            ("1.0.3-3", "1.0-1", Greater),
            ("1.3", "1.2.2-2", Greater),
            ("1.3", "1.2.2", Greater),
            ("0-pre", "0-pre", Equal),
            ("0-pre", "0-pree", Less),
            ("1.1.6r2-2", "1.1.6r-1", Greater),
            ("2.6b2-1", "2.6b-2", Greater),
            ("98.1-pre2-b6-2", "98.1p5-1", Greater),
            ("0.4a6-2", "0.4-1", Greater),
            ("1:3.0.5-2", "1:3.0.5.1", Less),
            ("10.3", "1:0.4", Less),
            ("1:1.25-4", "1:1.25-8", Less),
            ("0:1.18.36", "1.18.36", Equal),
            ("1.18.36", "1.18.35", Greater),
            ("0:1.18.36", "1.18.35", Greater),
            ("9:1.18.36:5.4-20", "10:0.5.1-22", Less),
            ("9:1.18.36:5.4-20", "9:1.18.36:5.5-1", Less),
            ("9:1.18.36:5.4-20", " 9:1.18.37:4.3-22", Less),
            ("1.18.36-0.17.35-18", "1.18.36-19", Greater),
            ("1:1.2.13-3", "1:1.2.13-3.1", Less),
            ("2.0.7pre1-4", "2.0.7r-1", Less),
            ("0.2", "1.0-0", Less),
            ("1.0", "1.0-0+b1", Less),
            ("1.0", "1.0-0~", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn parts_and_display() {
        let v = Version::parse("2:1.2-3-4").unwrap();
        assert_eq!(
            (v.epoch, v.upstream.as_str(), v.revision.as_str()),
            (2, "1.2-3", "4")
        );
        assert_eq!(v.to_string(), "2:1.2-3-4");
        assert_eq!(v.without_epoch(), "1.2-3-4");
        assert_eq!(Version::parse("0:1.0").unwrap().to_string(), "1.0");
    }

    #[test]
    fn refuses_what_dpkg_refuses() {
        for bad in [
            "", "a1.0", "1.0-", "x:1.0", "1:", "1.0 2", "1.0_1", "1.0-1:2", "-1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
