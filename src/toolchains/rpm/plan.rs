//! Planning an RPM recipe tree: each spec's BuildRequires resolved against what the tree's other
//! specs build and the packages the instance's repositories serve; the build order follows the
//! edges to other specs.
//!
//! The plan's shape is Debian's ([`crate::toolchains::debian::plan`]: [`TreePlan`], [`Satisfier`],
//! [`PlanError`]) and the ordering the planner's graph code ([`crate::plan::graph`]); only matching
//! is RPM's — capabilities and rpm's range comparison ([`crate::formats::rpm::vercmp::satisfies`]).
//! There is no [`Satisfier::Base`] here: `rpmbuild` checks BuildRequires against the build's own
//! dependency rpmdb only (docs/toolchains.md), so every BuildRequires must come from the tree or a
//! repository.

use std::cmp::Ordering;

use crate::formats::rpm::entry::{Dep, DepFlag};
use crate::formats::rpm::vercmp::{compare_evr, satisfies};
use crate::plan::graph::{cyclic_components, topological_order};
use crate::scheduler::graph::{Build, BuildGraph, GraphError};
use crate::toolchains::debian::plan::{tree_deps, PlanError, PlannedSource, Satisfier, TreePlan};

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
    let deps: Vec<Vec<usize>> = planned.iter().map(tree_deps).collect();
    let (order, left) = topological_order(&vec![true; sources.len()], &deps);
    if !left.is_empty() {
        let cycle = cyclic_components(&left, &deps).into_iter().next().unwrap_or(left);
        return Err(PlanError::Cycle(
            cycle.iter().map(|&i| sources[i].spec.name.clone()).collect(),
        ));
    }
    let mut planned: Vec<Option<PlannedSource>> = planned.into_iter().map(Some).collect();
    Ok(TreePlan {
        order: order.iter().filter_map(|&i| planned[i].take()).collect(),
    })
}

/// The plan as the scheduler's graph: build `k` is `plan.order[k]`, named by its package, with
/// `duration(source index)` seconds expected.
pub fn build_graph(
    plan: &TreePlan,
    sources: &[RpmSource],
    duration: impl Fn(usize) -> f64,
) -> Result<BuildGraph, GraphError> {
    let position: std::collections::HashMap<usize, usize> = plan
        .order
        .iter()
        .enumerate()
        .map(|(k, p)| (p.source, k))
        .collect();
    let builds = plan
        .order
        .iter()
        .map(|planned| Build {
            name: sources[planned.source].spec.name.clone(),
            duration: duration(planned.source),
            deps: tree_deps(planned).iter().map(|s| position[s]).collect(),
        })
        .collect();
    BuildGraph::new(builds)
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

/// A dependency as a spec writes it, for error messages.
fn describe(dep: &Dep) -> String {
    let Some(flag) = dep.flags else {
        return dep.name.clone();
    };
    let op = match flag {
        DepFlag::LT => "<",
        DepFlag::LE => "<=",
        DepFlag::EQ => "=",
        DepFlag::GE => ">=",
        DepFlag::GT => ">",
    };
    let epoch = dep.epoch.map(|e| format!("{e}:")).unwrap_or_default();
    let release = dep.rel.as_ref().map(|r| format!("-{r}")).unwrap_or_default();
    format!("{} {op} {epoch}{}{release}", dep.name, dep.ver)
}
