//! Haiku installability, the one resolver every Haiku check uses: every package's `requires` must be
//! matched (with Haiku's resolvable semantics, compatible versions included) by a `provides` of some
//! package in the repository or among the system packages. This is HaikuPorter's repository
//! consistency report, as a function whose result serves people (text) and scripts (JSON).
//!
//! Callers: [`super::HaikuFormat`]'s [`RepositoryFormat::check`](crate::formats::RepositoryFormat::check)
//! (the `[[repositories]]` gates and `repositories check`), `buildmaster repo check`
//! ([`check_repository_file`]: an HPKR file as `package_repo` writes it), the HaikuPorts repository's
//! gate and scratch builds, and the planner ([`solver_matches`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::haiku::attributes::ResolvableOperator;
use crate::haiku::hpkg_reader::read_package;
use crate::haiku::hpkr_reader::read_repository;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::resolvable::{Provides, ResolvableExpression};

/// One unresolvable requirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// Canonical file name of the package that requires it.
    pub package: String,
    /// The requirement as written (`lib:libfoo >= 1.2`).
    pub requires: String,
}

/// The result of a check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Packages in the repository.
    pub packages: usize,
    /// Packages read from the system-packages directory.
    pub system_packages: usize,
    /// Every requirement nothing provides, ordered by package.
    pub unresolved: Vec<Unresolved>,
}

/// Why the check could not run.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CheckError {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Why `repo check` of a repository file could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckFileError {
    /// The HPKR repository file is unreadable or malformed (the reader's error names the offset).
    #[error("cannot read repository {}: {error}", path.display())]
    Repository {
        /// The repository file.
        path: PathBuf,
        /// What the HPKR reader found.
        error: crate::haiku::format_error::FormatError,
    },
    /// A file of the system-packages directory is unreadable.
    #[error(transparent)]
    SystemPackages(#[from] CheckError),
}

/// Whether `provides` satisfies `requires` the way pkgman's dependency solver decides it: the
/// operator holds between the provided and the required version, and when the provider declares a
/// compatible version, the required version is not older than it (an ABI break in between).
///
/// This is deliberately not `BPackageResolvableExpression::Matches` ([`ResolvableExpression::matches`]),
/// which demands an exact version match from providers without a compatible version; the solver that
/// decides installability treats `provides x = 2.0` as satisfying `requires x >= 1.5`.
pub fn solver_matches(requires: &ResolvableExpression, provides: &Provides) -> bool {
    let (Some(operator), Some(required)) = (
        requires.operator,
        requires.version.as_ref().filter(|v| v.is_set()),
    ) else {
        return true;
    };
    let Some(provided) = provides.version.as_ref().filter(|v| v.is_set()) else {
        return false;
    };
    let compare = provided.compare(required);
    let holds = match operator {
        ResolvableOperator::Less => compare.is_lt(),
        ResolvableOperator::LessEqual => compare.is_le(),
        ResolvableOperator::Equal => compare.is_eq(),
        ResolvableOperator::NotEqual => compare.is_ne(),
        ResolvableOperator::GreaterEqual => compare.is_ge(),
        ResolvableOperator::Greater => compare.is_gt(),
    };
    holds
        && provides
            .compatible_version
            .as_ref()
            .filter(|c| c.is_set())
            .is_none_or(|compatible| required.compare(compatible).is_ge())
}

/// Reads the `.hpkg` files of a system-packages directory.
pub fn system_packages(dir: &Path) -> Result<Vec<PackageInfo>, CheckError> {
    let fail = |path: &Path, message: String| CheckError {
        path: path.into(),
        message,
    };
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for path in paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "hpkg"))
    {
        let package = read_package(&path).map_err(|e| fail(&path, e.to_string()))?;
        out.push(package.info);
    }
    Ok(out)
}

/// `buildmaster repo check`: the packages of the HPKR repository file `repo` against themselves plus
/// the `.hpkg` files of `system` (if given).
pub fn check_repository_file(repo: &Path, system: Option<&Path>) -> Result<CheckReport, CheckFileError> {
    let repository = read_repository(repo).map_err(|error| CheckFileError::Repository {
        path: repo.to_path_buf(),
        error,
    })?;
    let system = match system {
        Some(dir) => system_packages(dir)?,
        None => Vec::new(),
    };
    Ok(check(&repository.packages, &system))
}

/// Checks `repository` packages against themselves plus `system`.
pub fn check(repository: &[PackageInfo], system: &[PackageInfo]) -> CheckReport {
    let mut providers: HashMap<&str, Vec<&Provides>> = HashMap::new();
    for provides in repository.iter().chain(system).flat_map(|p| &p.provides) {
        providers
            .entry(provides.name.as_str())
            .or_default()
            .push(provides);
    }
    let mut unresolved = Vec::new();
    for package in repository {
        for requires in &package.requires {
            let satisfied = providers
                .get(requires.name.as_str())
                .is_some_and(|list| list.iter().any(|p| solver_matches(requires, p)));
            if !satisfied {
                unresolved.push(Unresolved {
                    package: package.canonical_file_name(),
                    requires: requires.to_string(),
                });
            }
        }
    }
    CheckReport {
        packages: repository.len(),
        system_packages: system.len(),
        unresolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::version::Version;

    fn package(name: &str, provides: &[(&str, &str)], requires: &[ResolvableExpression]) -> PackageInfo {
        PackageInfo {
            name: name.into(),
            version: Version::parse("1.0-1").unwrap(),
            provides: provides
                .iter()
                .map(|(n, v)| Provides {
                    name: (*n).into(),
                    version: Version::parse(v),
                    compatible_version: None,
                })
                .collect(),
            requires: requires.to_vec(),
            ..Default::default()
        }
    }

    fn requires(
        name: &str,
        op: crate::haiku::attributes::ResolvableOperator,
        v: &str,
    ) -> ResolvableExpression {
        ResolvableExpression {
            name: name.into(),
            operator: Some(op),
            version: Version::parse(v),
            base: false,
        }
    }

    #[test]
    fn finds_unresolvable_requirements_with_version_semantics() {
        use crate::haiku::attributes::ResolvableOperator::GreaterEqual;
        let repo = vec![
            package(
                "app",
                &[("app", "1.0-1")],
                &[
                    requires("lib:libfoo", GreaterEqual, "1.2"),
                    requires("haiku", GreaterEqual, "1"),
                ],
            ),
            package("libfoo", &[("lib:libfoo", "1.1")], &[]),
        ];
        let system = vec![package("haiku", &[("haiku", "1.0")], &[])];
        let report = check(&repo, &system);
        assert_eq!(report.unresolved.len(), 1, "{report:?}");
        assert!(report.unresolved[0].requires.starts_with("lib:libfoo"));
        let repo2 = vec![repo[0].clone(), package("libfoo", &[("lib:libfoo", "1.3")], &[])];
        assert!(check(&repo2, &system).unresolved.is_empty());
        assert_eq!(
            check(&repo2, &[]).unresolved.len(),
            1,
            "haiku is only provided by the system packages"
        );
    }
}
