//! The instance's implicit repository: HaikuPorter's single repository (`buildmaster publish`, the
//! top-level keys of the bucket), described by `<state>/repository/repo.info`. Everything in
//! [`crate::publish`] reaches its format through [`RepositoryFormat`] only; this is the one place that
//! says which format it is (Haiku) and what its target's settings are.

use std::sync::Arc;

use crate::formats::{
    self, FormatError, FormatKind, FormatSettings, HaikuSettings, RepositoryFormat, RepositoryTarget,
};
use crate::state::StateDir;

use super::{keys, PublishError};

/// The implicit repository's id, as the gate and the API name it.
pub const ID: &str = "haikuports";

/// The implicit repository's format: HaikuPorter's repository is a Haiku one.
pub const FORMAT: FormatKind = FormatKind::Haiku;

/// How the implicit repository's package file names end (its format's suffix): the files
/// [`super::spool::list`] finds and the keys [`super::keys::package_file_name`] names.
pub const PACKAGE_SUFFIX: &str = FORMAT.package_suffix();

/// `<state>/repository/repo.info`, which describes the implicit repository.
pub fn repo_info_path(state: &StateDir) -> std::path::PathBuf {
    state.repository().join(keys::REPO_INFO)
}

/// The implicit repository: its format and the target its index is rendered for.
#[derive(Clone)]
pub struct ImplicitRepository {
    /// The repository's format.
    pub format: Arc<dyn RepositoryFormat>,
    /// What the format renders for: the id and the settings (`repo.info` in the state directory).
    pub target: RepositoryTarget,
}

impl ImplicitRepository {
    /// The implicit repository of the instance in `state`.
    pub fn of(state: &StateDir) -> Self {
        Self {
            format: formats::for_kind(FORMAT, None),
            target: RepositoryTarget {
                id: ID.into(),
                settings: FormatSettings::Haiku(HaikuSettings {
                    repo_info: repo_info_path(state),
                }),
            },
        }
    }

    /// A format error of a publish step as a publish error: settings the format cannot use (or an
    /// index it refuses to render) refuse the publish; anything else means the index could not be
    /// built.
    pub fn failed(error: FormatError) -> PublishError {
        match error {
            FormatError::Settings { .. } => PublishError::Refused(error.to_string()),
            other => PublishError::Index(other.to_string()),
        }
    }
}
