//! `repo.info` in `buildmaster recover --from bucket`: the bucket holds the repository description
//! every publish uploaded next to the index, so a lost state directory gets it back byte for byte and
//! the next `publish` needs nothing re-created by hand.
//!
//! A `repo.info` already in the state directory is never overwritten: identical, it is kept; different,
//! recover refuses before it changes anything. The operator may have edited it on purpose (a new
//! `baseurl`) or restored an old copy from a backup, and only they can say which one the repository
//! should be described by; a silent overwrite would lose their edit, a silent keep would republish a
//! description that differs from the one clients hold.

use std::path::PathBuf;

use buildmaster_storage::ErrorKind;

use super::{keys, repository, PublishError, Publisher};
use crate::fsutil::write_atomically;

/// What recover did with `<state>/repository/repo.info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoInfoRecovery {
    /// Written from the bucket's `repo.info` (the state directory had none).
    Restored(PathBuf),
    /// The state directory already had it: identical to the bucket's, or the bucket has none.
    AlreadyPresent(PathBuf),
    /// The bucket holds no `repo.info` (an index published by another tool without one): the operator
    /// must write it before the next publish.
    NotInBucket(PathBuf),
    /// Recovering from `<state>/repository/` itself (`--from local`): `repo.info` is already there.
    Local,
}

/// What to do with `repo.info`, decided before recover changes anything.
pub struct RepoInfoPlan {
    /// `<state>/repository/repo.info`.
    path: PathBuf,
    /// The bucket's bytes, when they must be written (no local file yet).
    write: Option<Vec<u8>>,
    /// The outcome once applied.
    outcome: RepoInfoRecovery,
}

/// Reads the bucket's `repo.info` and compares it with the local one; refuses when both exist and
/// differ (nothing has been changed at that point).
pub async fn plan(p: &Publisher) -> Result<RepoInfoPlan, PublishError> {
    let path = repository::repo_info_path(&p.state);
    let bucket = match p
        .storage
        .get_bytes(&keys::top(keys::REPO_INFO), MAX_REPO_INFO_BYTES)
        .await
    {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let local = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(PublishError::io(&path, e)),
    };
    let (write, outcome) = match (bucket, local) {
        (None, Some(_)) => (None, RepoInfoRecovery::AlreadyPresent(path.clone())),
        (None, None) => (None, RepoInfoRecovery::NotInBucket(path.clone())),
        (Some(bucket), None) => (Some(bucket), RepoInfoRecovery::Restored(path.clone())),
        (Some(bucket), Some(local)) if bucket == local => {
            (None, RepoInfoRecovery::AlreadyPresent(path.clone()))
        }
        (Some(_), Some(_)) => {
            return Err(PublishError::Refused(format!(
                "{} differs from the '{}' published in {}; recover does not overwrite it. To describe the \
                 repository as published, remove {} and run recover again; to keep yours, move it aside, run \
                 recover, and put it back (the next publish uploads it). Nothing was changed",
                path.display(),
                keys::REPO_INFO,
                p.storage.describe(),
                path.display()
            )))
        }
    };
    Ok(RepoInfoPlan { path, write, outcome })
}

impl RepoInfoPlan {
    /// The plan for `--from local`, which leaves `repo.info` alone.
    pub fn local() -> Self {
        Self {
            path: PathBuf::new(),
            write: None,
            outcome: RepoInfoRecovery::Local,
        }
    }

    /// Writes the bucket's `repo.info` if the plan says so (atomically, so a crash leaves no partial
    /// file for the next recover to refuse).
    pub fn apply(self) -> Result<RepoInfoRecovery, PublishError> {
        if let Some(bytes) = &self.write {
            write_atomically(&self.path, bytes).map_err(|e| PublishError::io(&self.path, e))?;
        }
        Ok(self.outcome)
    }
}

/// The largest `repo.info` read from the bucket. HaikuPorts' is under 1 KiB; the bound only keeps a
/// wrong object (an index uploaded under the wrong key) from being read whole into memory.
const MAX_REPO_INFO_BYTES: u64 = 1 << 20;
