//! What inspection keeps of a `.hpkg` for its repository's index: every package attribute (the
//! `checksum` set to the file's SHA-256, as a repository entry carries it) and the licence texts of a
//! package whose licence must be approved (`repo.info` embeds them). Kept as JSON in the record's
//! entry, so a publish never reads a package again.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::formats::{FormatError, InspectedPackage};
use crate::haiku::hpkg_reader::LicenseFile;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_scan::{decode_known, io_error, scan_package};

/// A Haiku package's index entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaikuEntry {
    /// Every attribute of the package, `checksum` included.
    pub info: PackageInfo,
    /// `(name, text)` of each `data/licenses/<name>` of an APPROVE_LICENSE package; empty otherwise.
    pub licenses: Vec<(String, String)>,
}

impl HaikuEntry {
    /// Reads the entry back from an inspected package.
    pub fn decode(package: &InspectedPackage) -> Result<HaikuEntry, FormatError> {
        serde_json::from_str(&package.entry).map_err(|e| FormatError::Entry {
            package: package.file_name.clone(),
            reason: e.to_string(),
        })
    }

    /// The inspected package this entry describes (a file of `size` bytes, named canonically).
    pub fn inspected(&self, size: u64) -> Result<InspectedPackage, FormatError> {
        let file_name = self.info.canonical_file_name();
        Ok(InspectedPackage {
            name: self.info.name.clone(),
            version: self.info.version.to_string(),
            architecture: self.info.architecture.name().to_string(),
            size,
            sha256: self.info.checksum.to_ascii_lowercase(),
            entry: serde_json::to_string(self).map_err(|e| FormatError::Entry {
                package: file_name.clone(),
                reason: e.to_string(),
            })?,
            file_name,
        })
    }
}

fn invalid(path: &Path, reason: String) -> FormatError {
    FormatError::Invalid {
        path: path.to_path_buf(),
        format: "haiku",
        reason,
    }
}

/// Inspects `path`: the hash streamed, the header and sections decoded (positional reads), licences
/// read only when the package asks for approval. The file must carry its canonical name (`pkgman`
/// downloads it by that name; a file named otherwise was renamed or mislabelled).
pub fn inspect(path: &Path) -> Result<InspectedPackage, FormatError> {
    let scanned = scan_package(path).map_err(|e| invalid(path, e.source.to_string()))?;
    named_entry(path, scanned.size, scanned.info, &scanned.licenses)
}

/// Inspects `path`, whose size and SHA-256 a build verified, without hashing it: the size is the one
/// decoded (the header is checked against it), and only the header, the chunk table and the chunks of
/// its two sections are read (and licence files of an APPROVE_LICENSE package). Its checksum is the
/// verified digest; the upload, which hands that digest to storage, is the file's one full read.
pub fn inspect_verified(path: &Path, size: u64, sha256: &str) -> Result<InspectedPackage, FormatError> {
    let decoded = std::fs::File::open(path)
        .map_err(|e| io_error(path, e))
        .and_then(|file| decode_known(path, file, size, sha256.to_ascii_lowercase()))
        .map_err(|e| invalid(path, e.source.to_string()))?;
    named_entry(path, size, decoded.info, &decoded.licenses)
}

/// The inspected package of `info` read from `path`, which must carry its canonical name.
fn named_entry(
    path: &Path,
    size: u64,
    info: PackageInfo,
    licenses: &[LicenseFile],
) -> Result<InspectedPackage, FormatError> {
    let expected = info.canonical_file_name();
    let given = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if given != expected {
        return Err(FormatError::Misnamed {
            path: path.to_path_buf(),
            expected,
        });
    }
    let entry = HaikuEntry {
        info,
        // Licence texts are text files; the index carries them as strings, as `package_repo` does.
        licenses: licenses
            .iter()
            .map(|l| (l.name.clone(), String::from_utf8_lossy(&l.data).into_owned()))
            .collect(),
    };
    entry.inspected(size)
}
