//! One package as the database knows it: [`Record`], format-neutral, and its lifecycle
//! [`PackageState`].

use crate::formats::InspectedPackage;

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

/// One package's record, the same for every format: what inspection found (identity, size, SHA-256
/// and the format's opaque index entry, which only the format reads) and where the package is in
/// its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// What inspection found; `file_name` is also the object key under `packages/`.
    pub package: InspectedPackage,
    /// Lifecycle state.
    pub state: PackageState,
    /// When the record was created (Unix seconds).
    pub added_at: i64,
    /// When a published index last named this package (Unix seconds), if ever. Prune keeps objects
    /// named by any index published within the grace period.
    pub last_indexed_at: Option<i64>,
}

/// Something that can be stored as a [`Record`]: a record itself, or a format's own view of one
/// (the Haiku format keeps one with the attributes decoded, for the HaikuPorts planner and gate).
pub trait AsRecord {
    /// The record to store; `Err` names why the view cannot be encoded.
    fn as_record(&self) -> Result<std::borrow::Cow<'_, Record>, String>;
}

impl AsRecord for Record {
    fn as_record(&self) -> Result<std::borrow::Cow<'_, Record>, String> {
        Ok(std::borrow::Cow::Borrowed(self))
    }
}
