//! The repository a tested package would be promoted into, as a test on a builder sees it: the
//! pool files it already serves. A package whose dependency no package of its own push provides
//! gets it from there — the repository as it would be after promotion — streamed from the served
//! storage into the builder's cache by the builders' cache flow, as a Debian or RPM buildrun's
//! present packages are ([`crate::buildrun::served`]); the master keeps no copy to send.
//!
//! Bound to each repository's test when the push service opens ([`bind_served`]); a test without
//! it (a scratch build's) installs only what was built with the package.

use std::sync::Arc;

use buildmaster_storage::StorageBackend;

use crate::repos::config::Repository;
use crate::repos::records::{PoolPackage, Records};
use crate::state::StateDir;

/// One repository's served packages: where its records are and the storage its pool is in.
/// Compared by database and repository (a policy is the same whichever storage client it holds).
#[derive(Clone)]
pub struct ServedPool {
    /// The instance's state (the records of what each repository links).
    state: StateDir,
    /// The repository's id.
    repository: String,
    /// The served storage, holding the pool files.
    storage: Arc<dyn StorageBackend>,
}

impl std::fmt::Debug for ServedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedPool")
            .field("state", &self.state.root())
            .field("repository", &self.repository)
            .field("storage", &self.storage.describe())
            .finish()
    }
}

impl PartialEq for ServedPool {
    fn eq(&self, other: &Self) -> bool {
        self.state.root() == other.state.root() && self.repository == other.repository
    }
}

impl Eq for ServedPool {}

impl ServedPool {
    /// The repository's id.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The storage the pool files stream from.
    pub fn storage(&self) -> &Arc<dyn StorageBackend> {
        &self.storage
    }

    /// Every package the repository links now, entries included.
    pub fn linked(&self) -> Result<Vec<PoolPackage>, String> {
        Records::open(&self.state.database())
            .and_then(|records| records.linked(&self.repository))
            .map_err(|e| format!("the packages repository {} serves: {e}", self.repository))
    }
}

/// Gives every test on a builder of `repositories` its repository's served packages, in the
/// instance's `state` and the served `storage`.
pub fn bind_served(repositories: &mut [Repository], state: &StateDir, storage: &Arc<dyn StorageBackend>) {
    for repository in repositories {
        let id = repository.id().to_owned();
        if let Some(test) = repository
            .policy
            .test
            .as_mut()
            .and_then(|check| check.on_builder.as_mut())
        {
            test.served = Some(ServedPool {
                state: state.clone(),
                repository: id,
                storage: storage.clone(),
            });
        }
    }
}
