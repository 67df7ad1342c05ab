//! What the builds verified: the size and SHA-256 a build's results arrived with (checked against the
//! builder's own `sha256sum` while they streamed in, then recorded in `buildrun_results` when the
//! build completed). The publisher checks every new spool file against them before anything is
//! uploaded, so bytes swapped into the spool after the build are refused by name; and the upload
//! hands the same digest to storage, which verifies the bytes as they stream out.
//!
//! A spool file no build produced (delivered by hand, or by a HaikuPorter instance being taken over)
//! has no verified result; it is hashed and published on its own merits, as before.

use buildmaster_storage::Sha256Digest;

use super::PublishError;
use crate::buildrun::store::BuildrunStore;
use crate::state::StateDir;

/// The verified result of the latest build that produced a package file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedResult {
    /// The buildrun whose build produced it (named in refusals).
    pub buildrun: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: Sha256Digest,
}

/// The verified build results, read from the state database's `buildrun_results`.
pub struct BuildResults {
    /// The buildrun tables (only read by the publisher).
    store: BuildrunStore,
    /// The database file, named in errors.
    path: std::path::PathBuf,
}

impl BuildResults {
    /// Opens the buildrun tables of `state`'s database.
    pub fn open(state: &StateDir) -> Result<Self, PublishError> {
        let path = state.database();
        let store = BuildrunStore::open(&path).map_err(|e| PublishError::Refused(e.to_string()))?;
        Ok(Self { store, path })
    }

    /// The verified result for `file_name`, if a build produced it.
    pub fn get(&self, file_name: &str) -> Result<Option<VerifiedResult>, PublishError> {
        let Some((buildrun, row)) = self
            .store
            .latest_result(file_name)
            .map_err(|e| PublishError::Refused(e.to_string()))?
        else {
            return Ok(None);
        };
        let sha256 = Sha256Digest::from_hex(&row.sha256).ok_or_else(|| {
            PublishError::Refused(format!(
                "buildrun {buildrun} recorded a malformed sha256 for {file_name} in {}; rebuild the port",
                self.path.display()
            ))
        })?;
        Ok(Some(VerifiedResult {
            buildrun,
            size: row.size,
            sha256,
        }))
    }
}

/// Why a scanned spool file is not what its build verified, if it is not.
pub fn mismatch(verified: &VerifiedResult, size: u64, sha256: &str) -> Option<String> {
    if verified.size == size && verified.sha256.to_hex() == sha256 {
        return None;
    }
    Some(format!(
        "its bytes are not the ones buildrun {} verified (size {}, sha256 {}; this file: size {size}, sha256 \
         {sha256}): it was replaced after the build. Remove it and build the port again",
        verified.buildrun, verified.size, verified.sha256
    ))
}
