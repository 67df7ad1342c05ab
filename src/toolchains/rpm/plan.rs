//! Planning an RPM recipe tree: each spec's BuildRequires resolved against what the tree's other
//! specs build and the packages the instance's repositories serve; the build order follows the
//! edges to other specs.
//!
//! The plan's shape is Debian's ([`crate::toolchains::debian::plan`]: [`TreePlan`], [`Satisfier`],
//! [`PlanError`]) and so is the ordering ([`order_planned`], the planner's graph code); only matching
//! is RPM's — capabilities and rpm's range comparison ([`crate::formats::rpm::vercmp::satisfies`]).
//! There is no [`Satisfier::Base`] here: `rpmbuild` checks BuildRequires against the build's own
//! dependency rpmdb only (docs/toolchains.md), so every BuildRequires must come from the tree or a
//! repository.

use std::cmp::Ordering;

use crate::formats::rpm::check::describe;
use crate::formats::rpm::entry::Dep;
use crate::formats::rpm::vercmp::{compare_evr, satisfies};
use crate::scheduler::graph::{BuildGraph, GraphError};
use crate::toolchains::debian::plan::{order_planned, PlanError, PlannedSource, Satisfier, TreePlan};

use super::tree::RpmSource;

/// A package a served repository holds, as its index entry says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailableRpm {
    /// Its file name (`greet-data-1.0-1.noarch.rpm`), how the build asks for it.
    pub file_name: String,
    /// Its Provides (the package's own name at its EVR among them).
    pub provides: Vec<Dep>,
}

/// Plans `sources` against the repositories' packages.
pub fn plan_tree(sources: &[RpmSource], repositories: &[AvailableRpm]) -> Result<TreePlan, PlanError> {
    let mut unresolved = Vec::new();
    let mut planned = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let mut satisfiers = Vec::new();
        for wanted in &source.spec.build_requires {
            match satisfy(wanted, index, sources, repositories) {
                Some(found) => satisfiers.push(found),
                None => unresolved.push(format!("{} needs {}", source.spec.name, describe(wanted))),
            }
        }
        planned.push(PlannedSource {
            source: index,
            satisfiers,
        });
    }
    if !unresolved.is_empty() {
        return Err(PlanError::Unresolved(unresolved));
    }
    order_planned(planned, |i| sources[i].spec.name.clone())
}

/// The plan as the scheduler's graph: build `k` is `plan.order[k]`, named by its package, with
/// `duration(source index)` seconds expected.
pub fn build_graph(
    plan: &TreePlan,
    sources: &[RpmSource],
    duration: impl Fn(usize) -> f64,
) -> Result<BuildGraph, GraphError> {
    plan.named_build_graph(|i| sources[i].spec.name.clone(), duration)
}

/// What satisfies one BuildRequires: a binary package of another spec of the tree (a package being
/// rebuilt supersedes its published copy), else the repositories' newest provider, as dnf's would be.
fn satisfy(
    wanted: &Dep,
    own: usize,
    sources: &[RpmSource],
    repositories: &[AvailableRpm],
) -> Option<Satisfier> {
    let provider = |provides: &[Dep]| {
        provides
            .iter()
            .find(|p| p.name == wanted.name && satisfies(p, wanted))
            .cloned()
    };
    let from_tree = sources.iter().enumerate().find_map(|(index, source)| {
        let binary = source
            .spec
            .binaries
            .iter()
            .find(|b| provider(&b.provides).is_some())?;
        (index != own).then(|| Satisfier::Tree {
            source: index,
            binary: binary.name.clone(),
        })
    });
    from_tree.or_else(|| {
        repositories
            .iter()
            .enumerate()
            .filter_map(|(index, rpm)| provider(&rpm.provides).map(|p| (index, p)))
            .max_by(|(_, a), (_, b)| newer(a, b))
            .map(|(index, _)| Satisfier::Repository(index))
    })
}

/// rpm's ordering of two provides by their EVR; an unversioned provide sorts first.
fn newer(a: &Dep, b: &Dep) -> Ordering {
    match (a.evr(), b.evr()) {
        (Some((_, a)), Some((_, b))) => compare_evr(&a, &b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::rpm::entry::DepFlag;
    use crate::toolchains::rpm::spec::{BinaryRpm, SpecInfo};

    fn dep(name: &str, flags: Option<DepFlag>, ver: &str) -> Dep {
        Dep {
            name: name.into(),
            flags,
            epoch: None,
            ver: ver.into(),
            rel: None,
            pre: false,
        }
    }

    fn source(name: &str, build_requires: Vec<Dep>) -> RpmSource {
        RpmSource {
            dir: name.into(),
            spec: SpecInfo {
                name: name.into(),
                epoch: None,
                version: "1".into(),
                release: "1".into(),
                build_requires,
                binaries: vec![BinaryRpm {
                    name: name.into(),
                    arch: "noarch".into(),
                    provides: vec![dep(name, Some(DepFlag::EQ), "1")],
                }],
            },
            lookaside: Vec::new(),
        }
    }

    fn available(file_name: &str, version: &str) -> AvailableRpm {
        AvailableRpm {
            file_name: file_name.into(),
            provides: vec![dep("lib", Some(DepFlag::EQ), version)],
        }
    }

    #[test]
    fn takes_the_newest_matching_repository_package_by_rpm_order() {
        let sources = [source("app", vec![dep("lib", Some(DepFlag::GE), "1.9")])];
        let repos = [
            available("a", "1.10"),
            available("b", "1.9"),
            available("c", "1.2"),
        ];
        let plan = plan_tree(&sources, &repos).unwrap();
        assert_eq!(plan.order[0].satisfiers, [Satisfier::Repository(0)]);
    }

    #[test]
    fn names_what_is_unresolved_and_cycles() {
        let sources = [source("app", vec![dep("lib", Some(DepFlag::GE), "2")])];
        let err = plan_tree(&sources, &[available("a", "1.10")]).unwrap_err();
        assert_eq!(err, PlanError::Unresolved(vec!["app needs lib >= 2".into()]));
        let cycle = [
            source("a", vec![dep("b", None, "")]),
            source("b", vec![dep("a", None, "")]),
        ];
        assert!(matches!(plan_tree(&cycle, &[]), Err(PlanError::Cycle(_))));
    }
}
