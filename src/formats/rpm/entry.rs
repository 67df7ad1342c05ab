//! The RPM index entry: everything `primary.xml`, `filelists.xml` and `other.xml` say about one
//! package, parsed once at inspection and stored (as JSON) with the package's record, so that a
//! publish renders `repodata/` and `check` resolves dependencies without reading any package again.

use serde::{Deserialize, Serialize};

use crate::formats::FormatError;

/// Version of the stored JSON shape. Bumped when a field changes meaning, so that an entry written
/// by another version is refused by [`RpmEntry::from_stored`] instead of being misread.
pub const ENTRY_VERSION: u32 = 1;

/// One package's index entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpmEntry {
    /// [`ENTRY_VERSION`] at the time it was written.
    pub v: u32,
    /// `Name`.
    pub name: String,
    /// `Epoch`; 0 when the header has none (createrepo_c writes `epoch="0"` then too).
    pub epoch: u32,
    /// `Version`.
    pub version: String,
    /// `Release`.
    pub release: String,
    /// `Arch` (`x86_64`, `noarch`).
    pub arch: String,
    /// `Summary`.
    pub summary: String,
    /// `Description`.
    pub description: String,
    /// `Packager`; empty when unset.
    pub packager: String,
    /// `URL`; empty when unset.
    pub url: String,
    /// `License`.
    pub license: String,
    /// `Vendor`; empty when unset.
    pub vendor: String,
    /// `Group`; empty when unset.
    pub group: String,
    /// `Buildhost`; empty when unset.
    pub buildhost: String,
    /// `Sourcerpm` (`hello-1.0-1.src.rpm`); empty when unset.
    pub sourcerpm: String,
    /// `Buildtime`, seconds since the epoch.
    pub build_time: u64,
    /// Sum of the sizes of the installed files (`size installed=`).
    pub installed_size: u64,
    /// Size of the compressed payload (`size archive=`): file size minus the header's end.
    pub archive_size: u64,
    /// Byte offset where the main header starts (`rpm:header-range start=`); dnf and librepo use
    /// the range to fetch only headers (`--download-only` delta logic, `dnf repoquery --location`).
    pub header_start: u64,
    /// Byte offset where the main header ends and the payload begins (`rpm:header-range end=`).
    pub header_end: u64,
    /// `Provides`.
    pub provides: Vec<Dep>,
    /// `Requires`, without `rpmlib(…)` (rpm itself satisfies those, createrepo_c drops them too).
    pub requires: Vec<Dep>,
    /// `Conflicts`.
    pub conflicts: Vec<Dep>,
    /// `Obsoletes`.
    pub obsoletes: Vec<Dep>,
    /// `Recommends` (weak; written to primary, never checked).
    #[serde(default)]
    pub recommends: Vec<Dep>,
    /// `Suggests` (weak).
    #[serde(default)]
    pub suggests: Vec<Dep>,
    /// `Supplements` (weak, reverse).
    #[serde(default)]
    pub supplements: Vec<Dep>,
    /// `Enhances` (weak, reverse).
    #[serde(default)]
    pub enhances: Vec<Dep>,
    /// Every file the package owns, for filelists (and the primary subset, see
    /// [`is_primary_file`]).
    pub files: Vec<PackageFile>,
    /// The newest changelog entries (at most [`super::inspect::CHANGELOG_LIMIT`]), newest first.
    pub changelogs: Vec<Changelog>,
}

/// A dependency or capability: `name [flags epoch:version-release]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dep {
    /// The capability (`bm-libgreet`, `/bin/sh`, `config(x)`).
    pub name: String,
    /// The comparison, if the dependency names a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<DepFlag>,
    /// Epoch of the version, when the dependency states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// Version; empty when the dependency names none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ver: String,
    /// Release, when the dependency states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    /// Needed by a scriptlet before install (`Requires(pre)`, `(post)`, legacy `PreReq`): primary's
    /// `pre="1"`, which dnf uses to order the transaction.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre: bool,
}

/// The comparison of a versioned dependency, spelled as `primary.xml` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepFlag {
    /// `<`
    LT,
    /// `<=`
    LE,
    /// `=`
    EQ,
    /// `>=`
    GE,
    /// `>`
    GT,
}

impl DepFlag {
    /// From rpm's RPMSENSE_LESS (2) / GREATER (4) / EQUAL (8) bits; `None` for an unversioned
    /// dependency (no comparison bit).
    pub fn from_sense(bits: u32) -> Option<Self> {
        match bits & 0b1110 {
            0b0010 => Some(Self::LT),
            0b1010 => Some(Self::LE),
            0b1000 => Some(Self::EQ),
            0b1100 => Some(Self::GE),
            0b0100 => Some(Self::GT),
            _ => None,
        }
    }

    /// The `flags` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LT => "LT",
            Self::LE => "LE",
            Self::EQ => "EQ",
            Self::GE => "GE",
            Self::GT => "GT",
        }
    }
}

/// What kind of entry a file is, as filelists' `type=` attribute says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file, symlink or device: no `type` attribute.
    File,
    /// A directory: `type="dir"`.
    Dir,
    /// A `%ghost` file (owned, not shipped): `type="ghost"`.
    Ghost,
}

/// One file the package owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFile {
    /// Absolute path.
    pub path: String,
    /// Its kind.
    pub kind: FileKind,
}

/// One changelog entry (other.xml).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changelog {
    /// `author` attribute: the name line (`Jane Doe <jane@example.org> - 1.0-1`).
    pub author: String,
    /// `date` attribute, seconds since the epoch.
    pub date: u64,
    /// The text.
    pub text: String,
}

/// Whether `path` belongs in primary.xml's short file list. dnf resolves file dependencies on these
/// from primary alone (filelists is loaded only when a dependency needs another path), so the rule
/// must match createrepo_c's `cr_is_primary`: `/etc/…`, any `…bin/…`, and `/usr/lib/sendmail`.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

impl RpmEntry {
    /// The stored form.
    pub fn to_stored(&self) -> String {
        // Serialising plain strings, integers and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored entry back; `package` names it in the error.
    pub fn from_stored(package: &str, stored: &str) -> Result<Self, FormatError> {
        let entry: Self = serde_json::from_str(stored).map_err(|e| FormatError::Entry {
            package: package.to_string(),
            reason: format!("not an RPM entry: {e}"),
        })?;
        if entry.v != ENTRY_VERSION {
            return Err(FormatError::Entry {
                package: package.to_string(),
                reason: format!(
                    "entry version {} (this buildmaster reads {ENTRY_VERSION}); re-inspect the package",
                    entry.v
                ),
            });
        }
        Ok(entry)
    }

    /// `name-[epoch:]version-release.arch`, as [`crate::formats::Unresolved`] names packages.
    pub fn nevra(&self) -> String {
        if self.epoch == 0 {
            format!("{}-{}-{}.{}", self.name, self.version, self.release, self.arch)
        } else {
            format!(
                "{}-{}:{}-{}.{}",
                self.name, self.epoch, self.version, self.release, self.arch
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_files_follow_createrepo_c() {
        assert!(is_primary_file("/etc/hello.conf"));
        assert!(is_primary_file("/usr/bin/hello"));
        assert!(is_primary_file("/usr/sbin/helloctl"));
        assert!(is_primary_file("/usr/lib/sendmail"));
        assert!(!is_primary_file("/usr/share/hello/greeting.txt"));
        assert!(!is_primary_file("/etc"));
    }

    #[test]
    fn sense_bits_map_to_flags() {
        assert_eq!(DepFlag::from_sense(0), None);
        assert_eq!(DepFlag::from_sense(8 | (1 << 9)), Some(DepFlag::EQ));
        assert_eq!(DepFlag::from_sense(12), Some(DepFlag::GE));
        assert_eq!(DepFlag::from_sense(10), Some(DepFlag::LE));
        assert_eq!(DepFlag::from_sense(2), Some(DepFlag::LT));
        assert_eq!(DepFlag::from_sense(4), Some(DepFlag::GT));
    }
}
