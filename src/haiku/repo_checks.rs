//! The checks `package_repo` applies to every package it puts into a repository, in Haiku's order
//! (`RepositoryWriterImpl::_RegisterCurrentPackageInfo`): the package info must be complete
//! (`BPackageInfo::InitCheck`), its name must not already be in the repository, its vendor must
//! equal the repository's (case-insensitively), and its architecture must equal the repository's or
//! be `any` or `source`.

use std::collections::HashSet;

use crate::haiku::attributes::Architecture;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::repo_info::RepositoryInfo;

/// A package `package_repo` would refuse; `package` names it (file name or canonical name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageRejected {
    /// `BPackageInfo::InitCheck` fails: a required attribute is missing.
    #[error("package {package}: package info is incomplete (missing {missing}); rebuild the package")]
    Incomplete {
        /// The package.
        package: String,
        /// The first missing attribute.
        missing: &'static str,
    },
    /// Another package of the repository already has this name.
    #[error(
        "package {package}: a package named {name:?} is already in the repository; list only one version"
    )]
    DuplicateName {
        /// The package.
        package: String,
        /// The duplicated name.
        name: String,
    },
    /// The vendor differs from the repository's.
    #[error(
        "package {package}: vendor {vendor:?} does not match the repository vendor {repository_vendor:?}"
    )]
    VendorMismatch {
        /// The package.
        package: String,
        /// The package's vendor.
        vendor: String,
        /// The repository's vendor.
        repository_vendor: String,
    },
    /// The architecture differs from the repository's and is neither `any` nor `source`.
    #[error(
        "package {package}: architecture {architecture} does not fit a {repository_architecture} repository"
    )]
    ArchitectureMismatch {
        /// The package.
        package: String,
        /// The package's architecture.
        architecture: Architecture,
        /// The repository's architecture.
        repository_architecture: Architecture,
    },
}

/// The first attribute `BPackageInfo::InitCheck` finds missing, if any.
pub fn missing_attribute(info: &PackageInfo) -> Option<&'static str> {
    let checks: [(&'static str, bool); 9] = [
        ("name", info.name.is_empty()),
        ("summary", info.summary.is_empty()),
        ("description", info.description.is_empty()),
        ("vendor", info.vendor.is_empty()),
        ("packager", info.packager.is_empty()),
        ("version", !info.version.is_set()),
        ("copyrights", info.copyrights.is_empty()),
        ("licenses", info.licenses.is_empty()),
        ("provides", info.provides.is_empty()),
    ];
    checks
        .into_iter()
        .find(|(_, missing)| *missing)
        .map(|(name, _)| name)
}

/// Accumulates the names already in the repository and checks each new package in order.
#[derive(Debug)]
pub struct RepositoryChecker<'a> {
    repository: &'a RepositoryInfo,
    names: HashSet<String>,
}

impl<'a> RepositoryChecker<'a> {
    /// A checker for packages going into `repository`.
    pub fn new(repository: &'a RepositoryInfo) -> RepositoryChecker<'a> {
        RepositoryChecker {
            repository,
            names: HashSet::new(),
        }
    }

    /// Checks `info` (labelled `package` in errors) and records its name.
    pub fn check(&mut self, package: &str, info: &PackageInfo) -> Result<(), PackageRejected> {
        if let Some(missing) = missing_attribute(info) {
            return Err(PackageRejected::Incomplete {
                package: package.to_owned(),
                missing,
            });
        }
        if !self.names.insert(info.name.clone()) {
            return Err(PackageRejected::DuplicateName {
                package: package.to_owned(),
                name: info.name.clone(),
            });
        }
        if !info.vendor.eq_ignore_ascii_case(&self.repository.vendor) {
            return Err(PackageRejected::VendorMismatch {
                package: package.to_owned(),
                vendor: info.vendor.clone(),
                repository_vendor: self.repository.vendor.clone(),
            });
        }
        let architecture = info.architecture;
        if architecture != self.repository.architecture
            && architecture != Architecture::Any
            && architecture != Architecture::Source
        {
            return Err(PackageRejected::ArchitectureMismatch {
                package: package.to_owned(),
                architecture,
                repository_architecture: self.repository.architecture,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::resolvable::Provides;
    use crate::haiku::version::Version;

    fn complete(name: &str) -> PackageInfo {
        PackageInfo {
            name: name.into(),
            summary: "s".into(),
            description: "d".into(),
            vendor: "Haiku Project".into(),
            packager: "p".into(),
            architecture: Architecture::X86_64,
            version: Version::new("1", "", "", "", 1),
            copyrights: vec!["c".into()],
            licenses: vec!["MIT".into()],
            provides: vec![Provides {
                name: name.into(),
                ..Provides::default()
            }],
            ..PackageInfo::default()
        }
    }

    fn repo() -> RepositoryInfo {
        RepositoryInfo {
            vendor: "haiku project".into(),
            architecture: Architecture::X86_64,
            ..RepositoryInfo::default()
        }
    }

    #[test]
    fn checks_apply_in_haikus_order() {
        let repo = repo();
        let mut checker = RepositoryChecker::new(&repo);
        checker.check("a.hpkg", &complete("a")).unwrap();
        // Incomplete wins over the duplicate name.
        let mut incomplete = complete("a");
        incomplete.licenses.clear();
        assert!(matches!(
            checker.check("x", &incomplete),
            Err(PackageRejected::Incomplete {
                missing: "licenses",
                ..
            })
        ));
        assert!(matches!(
            checker.check("b.hpkg", &complete("a")),
            Err(PackageRejected::DuplicateName { .. })
        ));
        let mut vendor = complete("v");
        vendor.vendor = "Someone".into();
        let err = checker.check("v.hpkg", &vendor).unwrap_err();
        assert!(err.to_string().starts_with("package v.hpkg: vendor"), "{err}");
        let mut arch = complete("w");
        arch.architecture = Architecture::X86Gcc2;
        assert!(matches!(
            checker.check("w", &arch),
            Err(PackageRejected::ArchitectureMismatch { .. })
        ));
        for (name, architecture) in [("any", Architecture::Any), ("src", Architecture::Source)] {
            let mut ok = complete(name);
            ok.architecture = architecture;
            checker.check(name, &ok).unwrap();
        }
    }
}
