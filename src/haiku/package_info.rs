//! The package model: every attribute a package's attribute section (or one repository entry) can
//! carry (`haiku-formats.md` §1.5–1.6, Haiku's `BPackageInfo`), as plain data. Readers fill it in file
//! order; writers serialise it in the canonical order. It also knows the canonical file name.

use crate::haiku::attributes::{
    Architecture, WritableFileUpdateType, PACKAGE_FLAG_APPROVE_LICENSE, PACKAGE_FLAG_SYSTEM_PACKAGE,
};
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::haiku::version::Version;

/// A global writable file (`package:global-writable-file` and children; `BGlobalWritableFileInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct GlobalWritableFile {
    /// Path relative to the installation location, e.g. `settings/foo.conf`.
    pub path: String,
    /// Whether the path is a directory (`is-writable-directory` = 1).
    pub is_directory: bool,
    /// How an included file is updated; `None` when the package does not ship the file.
    pub update_type: Option<WritableFileUpdateType>,
}

/// A per-user settings file (`package:user-settings-file` and children; `BUserSettingsFileInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct UserSettingsFile {
    /// Path relative to the user's settings directory.
    pub path: String,
    /// Whether the path is a directory (`is-writable-directory` = 1).
    pub is_directory: bool,
    /// Path of a template inside the package to copy from; empty if none.
    pub template: String,
}

/// A user the package needs (`package:user` and children; `BUserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Real name; empty if not given.
    pub real_name: String,
    /// Home directory; empty if not given.
    pub home: String,
    /// Login shell; empty if not given.
    pub shell: String,
    /// Supplementary groups, in file order.
    pub groups: Vec<String>,
}

/// Everything a package declares about itself (`BPackageInfo`). Lists keep file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PackageInfo {
    /// `package:name`.
    pub name: String,
    /// `package:summary`: one line.
    pub summary: String,
    /// `package:description`: may span lines.
    pub description: String,
    /// `package:vendor`; must match the repository's vendor (case-insensitively) to enter a repo.
    pub vendor: String,
    /// `package:packager`.
    pub packager: String,
    /// `package:base-package`: the package this one extends (e.g. `foo` for `foo_devel`); may be empty.
    pub base_package: String,
    /// `package:flags`: a bit set of [`PACKAGE_FLAG_APPROVE_LICENSE`] and
    /// [`PACKAGE_FLAG_SYSTEM_PACKAGE`]; other bits are kept as read.
    pub flags: u32,
    /// `package:architecture`.
    pub architecture: Architecture,
    /// `package:version.*`.
    pub version: Version,
    /// `package:copyright`, each one entry.
    pub copyrights: Vec<String>,
    /// `package:license`: licence names (texts live in `data/licenses/<name>`).
    pub licenses: Vec<String>,
    /// `package:url`: home pages.
    pub urls: Vec<String>,
    /// `package:source-url`: where the sources come from.
    pub source_urls: Vec<String>,
    /// `package:provides`.
    pub provides: Vec<Provides>,
    /// `package:requires`.
    pub requires: Vec<ResolvableExpression>,
    /// `package:supplements`.
    pub supplements: Vec<ResolvableExpression>,
    /// `package:conflicts`.
    pub conflicts: Vec<ResolvableExpression>,
    /// `package:freshens`.
    pub freshens: Vec<ResolvableExpression>,
    /// `package:replaces`: names of packages this one replaces.
    pub replaces: Vec<String>,
    /// `package:global-writable-file`.
    pub global_writable_files: Vec<GlobalWritableFile>,
    /// `package:user-settings-file`.
    pub user_settings_files: Vec<UserSettingsFile>,
    /// `package:user`.
    pub users: Vec<User>,
    /// `package:group`: group names the package needs.
    pub groups: Vec<String>,
    /// `package:post-install-script`: paths of scripts run after installation.
    pub post_install_scripts: Vec<String>,
    /// `package:pre-uninstall-script`: paths of scripts run before removal.
    pub pre_uninstall_scripts: Vec<String>,
    /// `package:checksum`: lowercase hex SHA-256 of the .hpkg; set in repository entries only.
    pub checksum: String,
    /// `package:install-path`; usually empty.
    pub install_path: String,
}

impl PackageInfo {
    /// Whether the user must approve the licence (`B_PACKAGE_FLAG_APPROVE_LICENSE`).
    pub fn approve_license(&self) -> bool {
        self.flags & PACKAGE_FLAG_APPROVE_LICENSE != 0
    }

    /// Whether this is a system package (`B_PACKAGE_FLAG_SYSTEM_PACKAGE`).
    pub fn system_package(&self) -> bool {
        self.flags & PACKAGE_FLAG_SYSTEM_PACKAGE != 0
    }

    /// `name-VERSION-arch.hpkg` (`BPackageInfo::CanonicalFileName`): the download file name and the
    /// object key under `packages/`.
    pub fn canonical_file_name(&self) -> String {
        format!("{}-{}-{}.hpkg", self.name, self.version, self.architecture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_file_name_uses_version_text_and_arch_name() {
        let info = PackageInfo {
            name: "example".into(),
            architecture: Architecture::X86Gcc2,
            version: Version::new("42", "17", "", "", 12),
            ..PackageInfo::default()
        };
        assert_eq!(info.canonical_file_name(), "example-42.17-12-x86_gcc2.hpkg");
    }

    #[test]
    fn flag_accessors() {
        let info = PackageInfo {
            flags: PACKAGE_FLAG_APPROVE_LICENSE,
            ..PackageInfo::default()
        };
        assert!(info.approve_license());
        assert!(!info.system_package());
    }
}
