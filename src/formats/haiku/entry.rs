//! What inspection keeps of a `.hpkg` for its repository's index: every package attribute (the
//! `checksum` set to the file's SHA-256, as a repository entry carries it) and the licence texts of a
//! package whose licence must be approved (`repo.info` embeds them). Kept as JSON in the record's
//! entry, so a publish never reads a package again.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::formats::{FormatError, InspectedPackage};
use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_scan::scan_package;

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
}

/// Inspects `path`: the hash streamed, the header and sections decoded (positional reads), licences
/// read only when the package asks for approval. The file must carry its canonical name (`pkgman`
/// downloads it by that name; a file named otherwise was renamed or mislabelled).
pub fn inspect(path: &Path) -> Result<InspectedPackage, FormatError> {
    let invalid = |reason: String| FormatError::Invalid {
        path: path.to_path_buf(),
        format: "haiku",
        reason,
    };
    let scanned = scan_package(path).map_err(|e| invalid(e.source.to_string()))?;
    let file_name = scanned.info.canonical_file_name();
    let given = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if given != file_name {
        return Err(invalid(format!(
            "its attributes name it {file_name} (name, version and architecture); rename the file or \
             rebuild the package"
        )));
    }
    let entry = HaikuEntry {
        info: scanned.info,
        // Licence texts are text files; the index carries them as strings, as `package_repo` does.
        licenses: scanned
            .licenses
            .iter()
            .map(|l| (l.name.clone(), String::from_utf8_lossy(&l.data).into_owned()))
            .collect(),
    };
    Ok(InspectedPackage {
        name: entry.info.name.clone(),
        version: entry.info.version.to_string(),
        architecture: entry.info.architecture.name().to_string(),
        size: scanned.size,
        sha256: entry.info.checksum.clone(),
        file_name,
        entry: serde_json::to_string(&entry).map_err(|e| invalid(e.to_string()))?,
    })
}
