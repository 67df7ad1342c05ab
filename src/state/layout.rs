//! The state directory's layout. `packages/` and `repository/` are laid out as in a HaikuPorter
//! instance, so an operator can point buildmaster at an existing one.

use std::path::{Path, PathBuf};

/// A command that works on an existing instance was pointed at a state directory that does not exist
/// (most often: `--state-dir` forgotten, so the default `./buildmaster-state` was taken). Nothing is
/// created, so a forgotten option never leaves an empty instance, or an empty index, behind.
#[derive(Debug, thiserror::Error)]
#[error(
    "the state directory {} does not exist: name the instance's with --state-dir DIR or \
     BUILDMASTER_STATE_DIR (`buildmaster serve` and `buildmaster recover` create a new one)",
    .0.display()
)]
pub struct StateDirMissing(pub PathBuf);

/// Paths inside an instance's state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directories that must exist.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.packages())?;
        std::fs::create_dir_all(self.repository())
    }

    /// Checks that the state directory exists, for commands that work on an existing instance.
    pub fn require_existing(&self) -> Result<(), StateDirMissing> {
        if self.root.is_dir() {
            Ok(())
        } else {
            Err(StateDirMissing(self.root.clone()))
        }
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Built packages: real files until uploaded and verified, zero-byte stubs after.
    pub fn packages(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// The local copy of the published index: `repo`, `repo.info`, `repo.sha256`, `package.list`.
    pub fn repository(&self) -> PathBuf {
        self.root.join("repository")
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("buildmaster.sqlite")
    }

    /// Buildrun output in HaikuPorter's frontend layout: `buildruns/<N>/{status.json, master.log,
    /// builders/, builds/, records/}`, `buildruns/last_buildrun`, `buildruns/buildruns.txt`.
    pub fn output(&self) -> PathBuf {
        self.root.join("output")
    }

    /// Evaluated recipes, cached by recipe content.
    pub fn recipe_cache(&self) -> PathBuf {
        self.root.join("recipe-cache.sqlite")
    }

    /// The lock file held while publishing or pruning.
    pub fn publish_lock(&self) -> PathBuf {
        self.root.join("publish.lock")
    }
}
