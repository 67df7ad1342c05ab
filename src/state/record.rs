//! One package as the database knows it.

use crate::haiku::package_info::PackageInfo;

/// Where a package is in its lifecycle. The order is the order of the publishing pipeline; a record
/// only moves forward, except that a stubbed package can be found real again (an identical rebuild).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackageState {
    /// Parsed and checked from a real file in `packages/`; not yet in storage.
    Spooled,
    /// Uploaded and verified in storage (size and SHA-256); the local file may still be real.
    Uploaded,
    /// Uploaded, verified, and the local file truncated to zero bytes.
    Stubbed,
}

impl PackageState {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spooled => "spooled",
            Self::Uploaded => "uploaded",
            Self::Stubbed => "stubbed",
        }
    }

    /// Parses the database spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "spooled" => Self::Spooled,
            "uploaded" => Self::Uploaded,
            "stubbed" => Self::Stubbed,
            _ => return None,
        })
    }

    /// Whether the package is safely in storage (and so may be named by an index).
    pub fn is_stored(self) -> bool {
        self >= Self::Uploaded
    }
}

/// A package record.
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
    /// When a published index last named this package (Unix seconds), if ever. Prune keeps objects
    /// named by any index published within the grace period.
    pub last_indexed_at: Option<i64>,
    /// Licence files (`data/licenses/<name>`, text) of a package with the APPROVE_LICENSE flag, kept so
    /// the index can embed them without reading the (stubbed) package again.
    pub licenses: Vec<(String, String)>,
}
