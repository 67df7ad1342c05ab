//! Installability across staged pipelines: which open pipelines can be promoted together so that
//! every package of each resolves against its repository as it would be after promotion (what is
//! linked now, plus the other promotable pipelines' packages) plus the repository's bases — each
//! package checked on its own, with the format's resolver.
//!
//! A fixpoint: start from every pipeline whose other blocking checks are green, drop those with an
//! unresolved dependency (unless installability does not block in one of their repositories, or is
//! waived), and repeat until nothing is dropped. So a package whose dependency is pushed later turns
//! green with it, and two packages that need each other are promoted together.

use std::collections::{BTreeMap, BTreeSet};

use crate::formats::{IndexedPackage, Unresolved};
use crate::repos::config::Repository;
use crate::repos::records::Records;
use crate::repos::{keys, Formats, RepoError};

use super::policy::{CheckKind, Mode};
use super::store::StagedPackage;

/// One open pipeline as the evaluation sees it.
pub struct OpenPipeline<'a> {
    /// Its number.
    pub id: i64,
    /// Its staged packages.
    pub packages: &'a [StagedPackage],
    /// Whether its other blocking checks (lint, tests) passed or were waived.
    pub eligible: bool,
    /// File names whose installability failure is waived.
    pub waived: BTreeSet<String>,
}

/// What the evaluation found.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Pipelines that can be promoted now.
    pub promotable: BTreeSet<i64>,
    /// Per (pipeline, file name): each unresolved dependency with the repository it was checked in.
    pub unresolved: BTreeMap<(i64, String), Vec<(String, Unresolved)>>,
}

/// Evaluates `open` against the repositories as they would be after promotion.
pub fn evaluate(
    records: &Records,
    formats: &Formats,
    repositories: &[Repository],
    open: &[OpenPipeline<'_>],
) -> Result<Evaluation, RepoError> {
    let by_id: BTreeMap<&str, &Repository> = repositories.iter().map(|r| (r.id(), r)).collect();
    let targets: BTreeSet<&str> = open
        .iter()
        .flat_map(|p| {
            p.packages
                .iter()
                .flat_map(|s| s.targets.iter().map(String::as_str))
        })
        .collect();
    // What each target repository offers without any staged package: its links and its bases'.
    let mut present: BTreeMap<&str, Vec<IndexedPackage>> = BTreeMap::new();
    for &id in &targets {
        let repository = by_id.get(id).ok_or_else(|| {
            RepoError::UnknownRepository(format!(
                "a staged package targets {id}, which is no longer configured"
            ))
        })?;
        let mut packages = keys::indexed(repository, records.linked(id)?);
        for base in &repository.policy.base {
            let base_repository = by_id.get(base.as_str()).ok_or_else(|| {
                RepoError::UnknownRepository(format!("{id}: base repository {base} is not configured"))
            })?;
            packages.extend(keys::indexed(base_repository, records.linked(base)?));
        }
        present.insert(id, packages);
    }
    let staged_in = |pipelines: &dyn Fn(i64) -> bool, target: &str| -> Vec<IndexedPackage> {
        open.iter()
            .filter(|p| pipelines(p.id))
            .flat_map(|p| p.packages.iter())
            .filter(|s| s.targets.iter().any(|t| t == target))
            .map(as_indexed)
            .collect()
    };
    let mut promotable: BTreeSet<i64> = open.iter().filter(|p| p.eligible).map(|p| p.id).collect();
    loop {
        let mut failing = BTreeSet::new();
        for &target in &targets {
            let repository = by_id[target];
            if repository.policy.mode(CheckKind::Installability) != Mode::Block {
                continue;
            }
            let format = formats.get(repository.format())?;
            let candidates = staged_in(&|id| promotable.contains(&id), target);
            for problem in format.check(&candidates, &present[target])? {
                for pipeline in open.iter().filter(|p| promotable.contains(&p.id)) {
                    let hit = pipeline.packages.iter().any(|s| {
                        label(s) == problem.package && !pipeline.waived.contains(&s.package.file_name)
                    });
                    if hit {
                        failing.insert(pipeline.id);
                    }
                }
            }
        }
        if failing.is_empty() {
            break;
        }
        promotable.retain(|id| !failing.contains(id));
    }
    // Diagnostics for every open pipeline, against what would be promoted with it.
    let mut unresolved: BTreeMap<(i64, String), Vec<(String, Unresolved)>> = BTreeMap::new();
    for pipeline in open {
        for &target in &targets {
            let repository = by_id[target];
            if repository.policy.mode(CheckKind::Installability) == Mode::Off {
                continue;
            }
            let own: Vec<IndexedPackage> = pipeline
                .packages
                .iter()
                .filter(|s| s.targets.iter().any(|t| t == target))
                .map(as_indexed)
                .collect();
            if own.is_empty() {
                continue;
            }
            let mut offered = present[target].clone();
            offered.extend(staged_in(
                &|id| id != pipeline.id && promotable.contains(&id),
                target,
            ));
            let format = formats.get(repository.format())?;
            for problem in format.check(&own, &offered)? {
                if let Some(staged) = pipeline.packages.iter().find(|s| label(s) == problem.package) {
                    unresolved
                        .entry((pipeline.id, staged.package.file_name.clone()))
                        .or_default()
                        .push((target.to_string(), problem));
                }
            }
        }
    }
    Ok(Evaluation {
        promotable,
        unresolved,
    })
}

/// A staged package as a format's check sees it (no href: checks do not fetch).
fn as_indexed(staged: &StagedPackage) -> IndexedPackage {
    IndexedPackage {
        package: staged.package.clone(),
        href: String::new(),
    }
}

/// How the formats' checks name a package in [`Unresolved::package`].
fn label(staged: &StagedPackage) -> String {
    crate::formats::unresolved_label(&staged.package)
}
