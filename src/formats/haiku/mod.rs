//! Haiku repositories (`pkgman`): `.hpkg` inspection and the HPKR `repo`, `repo.info`, `repo.sha256`
//! and `package.list` of one architecture, behind the same seam as Debian and RPM.
//!
//! [`HaikuFormat`] is the [`RepositoryFormat`] for a `[[repositories]]` entry with
//! `[repositories.haiku]`: one architecture per repository, described by its `repo.info`, packages at
//! `packages/<canonical file name>` under the repository's root (the only place `pkgman` fetches them
//! from, so the publisher copies each package there from the shared pool, server-side). Several Haiku
//! architectures live beside each other in one bucket this way, an `any` package uploaded once.
//!
//! The instance's implicit HaikuPorts repository (`buildmaster publish`, top-level keys) is a Haiku
//! repository too: [`crate::publish`] reaches it only through [`RepositoryFormat`] (its target's
//! `repo.info` is `<state>/repository/repo.info`), and its records hold the same entries.
//!
//! # Layout
//! - [`check`]: installability, the one Haiku resolver (`repo check`, the gates, the planner).
//! - [`decoded`]: entries decoded once per process and reused while their text is unchanged.
//! - [`entry`]: what inspection keeps of a package (its attributes and approved licence texts).
//! - [`index`]: choosing, checking and encoding the packages of one repository index.
//! - [`published`]: the packages a published HPKR `repo` names, read back (recover, prune).
//! - [`record`]: a package record seen with its Haiku attributes, for the HaikuPorts planner, gate and
//!   package search.

pub mod check;
pub mod decoded;
pub mod entry;
pub mod index;
pub mod published;
pub mod record;

use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;

use super::{
    FormatError, FormatKind, FormatSettings, HaikuSettings, IndexFile, IndexRole, IndexedPackage,
    InspectedPackage, RepositoryFormat, RepositoryTarget, Sign, Unresolved,
};
use crate::haiku::attributes::Architecture;
use crate::haiku::repo_info::RepositoryInfo;
use entry::HaikuEntry;

/// Where `pkgman` fetches a package from, relative to the repository's base URL.
pub const PACKAGES_DIR: &str = "packages";

/// The Haiku repository format. Stateless: a repository's `repo.info` is read when it is needed.
#[derive(Clone, Copy, Debug, Default)]
pub struct HaikuFormat;

impl HaikuFormat {
    /// The Haiku settings of `target`, or why it is not a Haiku repository.
    fn settings(target: &RepositoryTarget) -> Result<&HaikuSettings, FormatError> {
        match &target.settings {
            FormatSettings::Haiku(settings) => Ok(settings),
            _ => Err(FormatError::Settings {
                id: target.id.clone(),
                reason: "not a Haiku repository".into(),
            }),
        }
    }

    /// The `repo.info` of `target`, parsed, and its text as written (uploaded unchanged, as
    /// HaikuPorter does).
    pub fn repo_info(target: &RepositoryTarget) -> Result<(RepositoryInfo, Vec<u8>), FormatError> {
        let path = &Self::settings(target)?.repo_info;
        let settings_error = |reason: String| FormatError::Settings {
            id: target.id.clone(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| {
            settings_error(format!(
                "cannot read its repo_info {} ({e}); write one (name, vendor, summary, priority, identifier, \
                 architecture; see docs/publishing.md)",
                path.display()
            ))
        })?;
        let info = RepositoryInfo::load(path)
            .map_err(|e| settings_error(format!("repo_info {}: {e}", path.display())))?;
        Ok((info, text))
    }
}

impl RepositoryFormat for HaikuFormat {
    fn kind(&self) -> FormatKind {
        FormatKind::Haiku
    }

    fn inspect(&self, path: &Path) -> Result<InspectedPackage, FormatError> {
        entry::inspect(path)
    }

    fn is_arch_independent(&self, architecture: &str) -> bool {
        architecture == Architecture::Any.name()
    }

    fn accepts(&self, target: &RepositoryTarget, architecture: &str) -> bool {
        // `source` packages enter a repository of any architecture too (`package_repo`'s rule), but
        // only where they are pushed to: they are not spread like `any`.
        Self::repo_info(target).is_ok_and(|(info, _)| {
            architecture == info.architecture.name()
                || architecture == Architecture::Any.name()
                || architecture == Architecture::Source.name()
        })
    }

    fn admit(&self, target: &RepositoryTarget, package: &InspectedPackage) -> Result<(), String> {
        let (info, _) = Self::repo_info(target).map_err(|e| e.to_string())?;
        let entry = HaikuEntry::decode(package).map_err(|e| e.to_string())?;
        index::admit(&info, &package.file_name, &entry.info).map_err(|e| e.to_string())
    }

    fn fixed_path(&self, package: &InspectedPackage) -> Option<String> {
        Some(format!("{PACKAGES_DIR}/{}", package.file_name))
    }

    fn admit_all(
        &self,
        target: &RepositoryTarget,
        packages: &[&InspectedPackage],
    ) -> Result<Vec<Result<(), String>>, FormatError> {
        let (info, _) = Self::repo_info(target)?;
        let path = &Self::settings(target)?.repo_info;
        Ok(packages
            .iter()
            .map(|package| {
                let entry = HaikuEntry::decode(package).map_err(|e| e.to_string())?;
                index::admit(&info, &package.file_name, &entry.info).map_err(|e| {
                    format!(
                        "{e} (the repository is described by {}); rebuild the package for this repository, or \
                         correct repo.info if it is the one that is wrong",
                        path.display()
                    )
                })
            })
            .collect())
    }

    fn check_settings(&self, target: &RepositoryTarget) -> Result<(), FormatError> {
        Self::repo_info(target).map(drop)
    }

    fn inspect_verified(
        &self,
        path: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<InspectedPackage, FormatError> {
        entry::inspect_verified(path, size, sha256)
    }

    fn indexed<'a>(&self, packages: &[&'a InspectedPackage]) -> Vec<&'a InspectedPackage> {
        index::newest_by_version_text(packages, |p| &p.name, |p| &p.version)
    }

    fn indexed_packages(&self, index: &[u8]) -> Result<Vec<InspectedPackage>, FormatError> {
        published::packages(index)
    }

    fn package_name_of_file<'a>(&self, file_name: &'a str) -> Option<&'a str> {
        // `name-version-arch.hpkg`: Haiku package names have no `-` (versions may).
        file_name.split('-').next().filter(|name| !name.is_empty())
    }

    fn index_digest(&self, files: &[IndexFile]) -> String {
        // `repo.sha256` holds the SHA-256 of `repo`, the digest pkgman checks and operators compare.
        files
            .iter()
            .find(|f| f.path == "repo.sha256")
            .map(|f| String::from_utf8_lossy(&f.bytes).trim().to_string())
            .unwrap_or_default()
    }

    fn render(
        &self,
        target: &RepositoryTarget,
        packages: &[IndexedPackage],
        _signer: Option<&dyn Sign>,
        _now: SystemTime,
    ) -> Result<Vec<IndexFile>, FormatError> {
        let (info, info_text) = Self::repo_info(target)?;
        let entries = decoded::entries(&target.id, packages.iter().map(|p| &p.package))?;
        let candidates: Vec<index::Candidate<'_>> = packages
            .iter()
            .zip(&entries)
            .map(|(package, entry)| index::Candidate {
                file_name: &package.package.file_name,
                info: &entry.info,
                licenses: &entry.licenses,
            })
            .collect();
        let chosen: Vec<index::Candidate<'_>> =
            index::newest_per_name(&candidates, |c| c.info, |c| c.file_name)
                .into_iter()
                .copied()
                .collect();
        let built = index::build_index(info, &chosen).map_err(|reason| FormatError::Settings {
            id: target.id.clone(),
            reason,
        })?;
        // Every package was admitted when it was recorded; one refused now means the repo.info
        // changed since. Publishing without it would silently drop a package: refuse instead.
        if let Some(reason) = index::refusal(&built.rejected, &Self::settings(target)?.repo_info) {
            return Err(FormatError::Settings {
                id: target.id.clone(),
                reason,
            });
        }
        let text = |path: &str, bytes: Vec<u8>, role| IndexFile {
            path: path.into(),
            bytes: Bytes::from(bytes),
            role,
        };
        // HaikuPorter's order: repo.info, repo, repo.sha256; package.list is ours and unread by
        // clients. pkgman reads repo.sha256 first and then repo: repo.sha256 is the root, last.
        Ok(vec![
            text("package.list", built.package_list(), IndexRole::Data),
            text("repo.info", info_text, IndexRole::Data),
            text("repo", built.repo, IndexRole::Data),
            text("repo.sha256", built.repo_sha256.into_bytes(), IndexRole::Root),
        ])
    }

    fn check(
        &self,
        packages: &[IndexedPackage],
        base: &[IndexedPackage],
    ) -> Result<Vec<Unresolved>, FormatError> {
        let decode = |list: &[IndexedPackage]| {
            list.iter()
                .map(|p| HaikuEntry::decode(&p.package).map(|e| e.info))
                .collect::<Result<Vec<_>, _>>()
        };
        let report = check::check(&decode(packages)?, &decode(base)?);
        // The solver names packages by canonical file name; the seam names them name_version_arch.
        let label: std::collections::HashMap<&str, String> = packages
            .iter()
            .map(|p| (p.package.file_name.as_str(), super::unresolved_label(&p.package)))
            .collect();
        Ok(report
            .unresolved
            .into_iter()
            .map(|u| Unresolved {
                package: label.get(u.package.as_str()).cloned().unwrap_or(u.package),
                dependency: u.requires,
            })
            .collect())
    }
}
