//! Haiku's system licences: the licence names a package may declare without shipping the licence
//! text. Haiku's `package create` (`PackageWriterImpl::_CheckLicenses`) accepts a licence of a package
//! only if it is `Public Domain`, a file in the system's licence directory
//! (`/boot/system/data/licenses`), or shipped in the package as `data/licenses/<name>`; otherwise it
//! refuses the package: "License '…' isn't contained in package!".
//!
//! We do not run on Haiku, so the system licences are a built-in list: the file names of
//! `/boot/system/data/licenses` of Haiku R1 (the 35 licences Haiku's source tree installs there, as
//! `scripts/real-inputs.sh` extracts them). `hpkg create --system-licenses DIR` reads them from a
//! directory instead (a Haiku installation's, or a newer Haiku's).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `kPublicDomainLicenseName`: allowed without a licence file anywhere.
pub const PUBLIC_DOMAIN: &str = "Public Domain";

/// The files of Haiku's `/boot/system/data/licenses`.
pub const HAIKU_SYSTEM_LICENSES: [&str; 35] = [
    "Anti-Grain Geometry",
    "Apache v2",
    "Artistic",
    "Artistic v2.0",
    "BSD (2-clause)",
    "BSD (3-clause)",
    "BSD (4-clause)",
    "Be Sample Code License",
    "Bitstream Charter",
    "CDDL v1",
    "CQuantizer",
    "DEC",
    "GNU GPL font exception",
    "GNU GPL v1",
    "GNU GPL v2",
    "GNU GPL v3",
    "GNU LGPL v2",
    "GNU LGPL v2.1",
    "GNU LGPL v3",
    "ISC",
    "Intel (2xxx firmware)",
    "Intel (ACPICA)",
    "LibJPEG",
    "LibPNG",
    "MAPM",
    "MIT",
    "MIT (no promotion)",
    "MPL v1.1",
    "MPL v2.0",
    "Marvell (firmware)",
    "NewOS",
    "OpenGroup",
    "Public Domain",
    "SIL Open Font License v1.1",
    "Zlib",
];

/// Where the system licence names come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SystemLicenses {
    /// [`HAIKU_SYSTEM_LICENSES`].
    #[default]
    BuiltIn,
    /// The file names in this directory (Haiku's `/boot/system/data/licenses`).
    Directory(PathBuf),
}

impl SystemLicenses {
    /// The system licence names.
    pub fn names(&self) -> std::io::Result<BTreeSet<String>> {
        match self {
            SystemLicenses::BuiltIn => Ok(HAIKU_SYSTEM_LICENSES.iter().map(|s| s.to_string()).collect()),
            SystemLicenses::Directory(dir) => std::fs::read_dir(dir)?
                .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
                .collect(),
        }
    }
}

/// The first licence of `licenses` that is neither `Public Domain`, a system licence, nor shipped in
/// the package tree at `root` as `data/licenses/<name>`.
pub fn missing_license<'a>(
    licenses: &'a [String],
    system: &BTreeSet<String>,
    root: &Path,
) -> Option<&'a str> {
    licenses
        .iter()
        .find(|name| {
            let shipped = !name.is_empty()
                && !name.contains('/')
                && std::fs::symlink_metadata(root.join("data/licenses").join(name.as_str())).is_ok();
            name.as_str() != PUBLIC_DOMAIN && !system.contains(name.as_str()) && !shipped
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_public_domain_and_shipped_licences_pass_others_do_not() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("data/licenses")).unwrap();
        std::fs::write(root.path().join("data/licenses/Own Licence"), "text").unwrap();
        let system = SystemLicenses::BuiltIn.names().unwrap();
        let ok = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            missing_license(&names, &system, root.path()).map(str::to_owned)
        };
        assert_eq!(ok(&["MIT", "GNU GPL v2", "Public Domain", "Own Licence"]), None);
        assert_eq!(ok(&["MIT", "CC BY-SA 4.0"]).as_deref(), Some("CC BY-SA 4.0"));
        assert_eq!(
            ok(&["../licenses/Own Licence"]).as_deref(),
            Some("../licenses/Own Licence")
        );
    }

    #[test]
    fn a_directory_lists_its_file_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Local Licence"), "text").unwrap();
        let names = SystemLicenses::Directory(dir.path().to_owned()).names().unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["Local Licence"]);
    }
}
