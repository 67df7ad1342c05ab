//! The bucket layout HaikuPorter established and `pkgman` reads:
//! `repo`, `repo.info`, `repo.sha256`, `package.list` at the top, packages under `packages/`, pruned
//! packages under `packages/.obsolete/`.

use buildmaster_storage::ObjectKey;

use super::repository::PACKAGE_SUFFIX;

/// Directory of package objects.
pub const PACKAGES: &str = "packages/";
/// Directory of pruned package objects awaiting deletion.
pub const OBSOLETE: &str = "packages/.obsolete/";
/// The HPKR index.
pub const REPO: &str = "repo";
/// Repository description.
pub const REPO_INFO: &str = "repo.info";
/// SHA-256 of `repo`.
pub const REPO_SHA256: &str = "repo.sha256";
/// Canonical file names of the packages in `repo`, one per line.
pub const PACKAGE_LIST: &str = "package.list";
/// The publish lock object.
pub const LOCK: &str = "buildmaster.lock";

/// `packages/<file_name>`.
pub fn package(file_name: &str) -> Result<ObjectKey, buildmaster_storage::KeyError> {
    ObjectKey::new(format!("{PACKAGES}{file_name}"))
}

/// `packages/.obsolete/<file_name>`.
pub fn obsolete(file_name: &str) -> Result<ObjectKey, buildmaster_storage::KeyError> {
    ObjectKey::new(format!("{OBSOLETE}{file_name}"))
}

/// A fixed top-level key.
pub fn top(name: &str) -> ObjectKey {
    ObjectKey::new(name).expect("layout keys are valid")
}

/// The package file name of a key directly under `packages/` (not under `.obsolete/`), if it is one
/// (it ends in the implicit repository's [`PACKAGE_SUFFIX`]).
pub fn package_file_name(key: &ObjectKey) -> Option<&str> {
    let name = key.as_str().strip_prefix(PACKAGES)?;
    (!name.contains('/') && name.ends_with(PACKAGE_SUFFIX)).then_some(name)
}

/// The package file name of a key directly under `packages/.obsolete/`, if it is one.
pub fn obsolete_file_name(key: &ObjectKey) -> Option<&str> {
    let name = key.as_str().strip_prefix(OBSOLETE)?;
    (!name.contains('/') && name.ends_with(PACKAGE_SUFFIX)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ObjectKey {
        ObjectKey::new(s).unwrap()
    }

    #[test]
    fn package_keys_are_the_implicit_repositorys_package_files_directly_under_their_directory() {
        let package = key("packages/a-1-1-x86_64.hpkg");
        assert_eq!(package_file_name(&package), Some("a-1-1-x86_64.hpkg"));
        assert_eq!(obsolete_file_name(&package), None);
        let old = key("packages/.obsolete/a-1-1-x86_64.hpkg");
        assert_eq!(obsolete_file_name(&old), Some("a-1-1-x86_64.hpkg"));
        assert_eq!(package_file_name(&old), None, "not directly under packages/");
        // Another format's package, or anything else, is no package of this repository.
        for other in [
            "packages/a_1_amd64.deb",
            "packages/a-1-1.x86_64.rpm",
            "packages/a.hpkg.tmp",
            "repo",
        ] {
            assert_eq!(package_file_name(&key(other)), None, "{other}");
        }
        assert_eq!(obsolete_file_name(&key("packages/.obsolete/a_1_amd64.deb")), None);
    }
}
