//! `repo check` for pushed repositories: every dependency of a repository's packages must be satisfied
//! by its own packages or by its base repositories' (a Debian suite's `main` on top of Debian itself, an
//! add-on RPM repository on top of the distribution's), as the format's resolver says. Gates use it
//! before packages are served.

use crate::formats::Unresolved;

use super::config::Repository;
use super::records::Records;
use super::{keys, Formats, RepoError};

/// The unresolvable dependencies of `repository`'s packages against itself and `bases` (which must
/// share its format).
pub fn check_repository(
    records: &Records,
    formats: &Formats,
    repository: &Repository,
    bases: &[&Repository],
) -> Result<(usize, Vec<Unresolved>), RepoError> {
    let format = formats.get(repository.format())?;
    let packages = keys::indexed(repository, records.linked(repository.id())?);
    let mut base = Vec::new();
    for other in bases {
        if other.format() != repository.format() {
            return Err(RepoError::Refused(format!(
                "base repository {} is a {} repository; {} is {}",
                other.id(),
                other.format().as_str(),
                repository.id(),
                repository.format().as_str()
            )));
        }
        base.extend(keys::indexed(other, records.linked(other.id())?));
    }
    Ok((packages.len(), format.check(&packages, &base)?))
}
