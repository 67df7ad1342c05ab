//! A package record seen with its Haiku attributes decoded: what the HaikuPorts planner, gate and
//! package search read of the implicit repository's records (its requires and provides, summary,
//! version ordering). The database stores the format-neutral [`Record`]; this view converts both ways,
//! and it keeps the shape records had before they became format-neutral, for the callers and
//! fixtures written against it.

use std::borrow::Cow;

use super::entry::HaikuEntry;
use crate::formats::FormatError;
use crate::haiku::package_info::PackageInfo;
use crate::state::{AsRecord, PackageState, Record};

/// A HaikuPorts package record with its attributes decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct PackageRecord {
    /// Canonical file name, `name-VERSION-arch.hpkg`; also the object key under `packages/`.
    pub file_name: String,
    /// Size of the package file in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the package file.
    pub sha256: String,
    /// Every package attribute, with `checksum` set to `sha256`.
    pub info: PackageInfo,
    /// Lifecycle state.
    pub state: PackageState,
    /// When the record was created (Unix seconds).
    pub added_at: i64,
    /// When a published index last named this package (Unix seconds), if ever.
    pub last_indexed_at: Option<i64>,
    /// Licence files (`data/licenses/<name>`, text) of a package with the APPROVE_LICENSE flag.
    pub licenses: Vec<(String, String)>,
}

impl PackageRecord {
    /// The Haiku view of `record`, its entry decoded.
    pub fn from_record(record: &Record) -> Result<Self, FormatError> {
        let entry = HaikuEntry::decode(&record.package)?;
        Ok(Self {
            file_name: record.package.file_name.clone(),
            size: record.package.size,
            sha256: record.package.sha256.clone(),
            info: entry.info,
            state: record.state,
            added_at: record.added_at,
            last_indexed_at: record.last_indexed_at,
            licenses: entry.licenses,
        })
    }
}

impl AsRecord for PackageRecord {
    fn as_record(&self) -> Result<Cow<'_, Record>, String> {
        let entry = HaikuEntry {
            info: self.info.clone(),
            licenses: self.licenses.clone(),
        };
        let mut package = entry.inspected(self.size).map_err(|e| e.to_string())?;
        // The record's own name and digest, as given (a fixture may leave the checksum unset).
        package.file_name.clone_from(&self.file_name);
        package.sha256.clone_from(&self.sha256);
        Ok(Cow::Owned(Record {
            package,
            state: self.state,
            added_at: self.added_at,
            last_indexed_at: self.last_indexed_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::version::Version;

    #[test]
    fn the_view_and_the_stored_record_convert_both_ways() {
        let view = PackageRecord {
            file_name: "a-1.2-1-x86_64.hpkg".into(),
            size: 7,
            sha256: "ab".repeat(32),
            info: PackageInfo {
                name: "a".into(),
                version: Version::parse("1.2-1").unwrap(),
                summary: "the a package".into(),
                ..PackageInfo::default()
            },
            state: PackageState::Stubbed,
            added_at: 5,
            last_indexed_at: Some(9),
            licenses: vec![("MIT".into(), "text".into())],
        };
        let record = view.as_record().unwrap().into_owned();
        assert_eq!(record.package.name, "a");
        assert_eq!(record.package.version, "1.2-1");
        assert_eq!(record.package.file_name, view.file_name);
        assert_eq!(PackageRecord::from_record(&record).unwrap(), view);
    }
}
