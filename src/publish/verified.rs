//! What the builds verified: the size and SHA-256 a build's results arrived with (checked against the
//! builder's own `sha256sum` while they streamed in, then recorded in `buildrun_results` when the
//! build completed).
//!
//! A spool file a build produced is not hashed again at ingest: its size is compared with the verified
//! one (a `stat`), and the repository's format inspects it with the verified digest
//! ([`crate::formats::RepositoryFormat::inspect_verified`]: Haiku reads only its header, chunk table
//! and the chunks of its two sections); its checksum is the verified digest. The upload is the one full read of its
//! bytes, and hands that digest to storage, which hashes them as they stream and refuses to store
//! them if they differ: bytes swapped into the spool after the build are refused by name either way
//! (a different size at ingest, other bytes of the same size at upload), before the index changes.
//!
//! A spool file no build produced (delivered by hand, or by a HaikuPorter instance being taken over)
//! has no verified result; it is hashed at ingest and published on its own merits, as before.

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

/// Why a spool file of `size` bytes is not what its build verified.
pub fn size_mismatch(verified: &VerifiedResult, size: u64) -> String {
    format!(
        "its bytes are not the ones buildrun {} verified (size {}, sha256 {}; this file: size {size}): it was \
         replaced after the build. Remove it and build the port again",
        verified.buildrun, verified.size, verified.sha256
    )
}

/// Why a spool file of the verified size was refused by storage as it streamed (`refusal`: storage's
/// words, which name the digest the bytes had).
pub fn content_mismatch(verified: &VerifiedResult, refusal: &str) -> String {
    format!(
        "its bytes are not the ones buildrun {} verified (size {}, sha256 {}; storage refused this file's \
         bytes as they streamed: {refusal}): it was replaced after the build, and nothing was stored. Remove it \
         and build the port again",
        verified.buildrun, verified.size, verified.sha256
    )
}
