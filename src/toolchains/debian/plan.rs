//! Planning a Debian recipe tree: each source's build dependencies resolved against what the
//! tree's other sources build, the base (the packages already in the build root), and the packages
//! the instance's repositories serve; the build order follows the edges to other sources.
//!
//! The ordering is the planner's own graph code ([`crate::plan::graph`]) and the result converts
//! into the scheduler's [`BuildGraph`]; only dependency resolution is Debian's. Resolution takes,
//! per clause, the first alternative that something satisfies, looking in the tree first (a package
//! being rebuilt supersedes its published copy), then the base, then the repositories — the same
//! first-alternative rule sbuild applies to build dependencies.

use crate::formats::debian::relation::{Op, Relation};
use crate::formats::debian::version::Version;
use crate::plan::graph::{cyclic_components, topological_order};
use crate::scheduler::graph::{Build, BuildGraph, GraphError};

use super::tree::SourcePackage;

/// A binary package that exists outside the tree: in the base root or in a served repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailableBinary {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: Version,
}

/// What satisfies one build-dependency clause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Satisfier {
    /// A binary package that source `source` (an index into the tree) builds: that source is built
    /// first and its `.deb` streamed to this build.
    Tree {
        /// Index of the source in the tree slice.
        source: usize,
        /// The binary package.
        binary: String,
    },
    /// Already installed in the build root.
    Base(String),
    /// A served repository's package (an index into `repositories`), streamed to the build.
    Repository(usize),
}

/// One source's planned build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSource {
    /// Index of the source in the tree slice.
    pub source: usize,
    /// One satisfier per build-dependency clause, in clause order.
    pub satisfiers: Vec<Satisfier>,
}

/// A plan: the sources in build order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreePlan {
    /// Sources in an order where every tree dependency comes first.
    pub order: Vec<PlannedSource>,
}

/// Why a tree cannot be planned. Both name the sources so the tree can be fixed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Clauses that nothing satisfies.
    #[error("unresolvable build dependencies: {}", .0.join("; "))]
    Unresolved(Vec<String>),
    /// Sources that build-depend on each other in a cycle (Debian breaks these with a bootstrap
    /// profile or a binary upload; the planner cannot).
    #[error("build-dependency cycle among sources: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// Plans `sources` for a builder of architecture `host`, with the base root's packages and the
/// repositories' packages.
pub fn plan_tree(
    sources: &[SourcePackage],
    host: &str,
    base: &[AvailableBinary],
    repositories: &[AvailableBinary],
) -> Result<TreePlan, PlanError> {
    let mut unresolved = Vec::new();
    let mut planned = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let mut satisfiers = Vec::new();
        for clause in &source.build_depends {
            match clause
                .iter()
                .find_map(|wanted| satisfy(wanted, index, sources, host, base, repositories))
            {
                Some(found) => satisfiers.push(found),
                None => unresolved.push(format!("{} needs {}", source.name, describe(clause))),
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
    order_planned(planned, |i| sources[i].name.clone())
}

/// Orders `planned` (one entry per source, in tree order) so that every tree dependency comes
/// first, with the planner's graph code; a cycle is refused naming its sources (`name(index)`).
/// Shared by every toolchain whose plan has this shape (Debian, RPM).
pub fn order_planned(
    planned: Vec<PlannedSource>,
    name: impl Fn(usize) -> String,
) -> Result<TreePlan, PlanError> {
    let deps: Vec<Vec<usize>> = planned.iter().map(tree_deps).collect();
    let (order, left) = topological_order(&vec![true; planned.len()], &deps);
    if !left.is_empty() {
        let cycle = cyclic_components(&left, &deps).into_iter().next().unwrap_or(left);
        return Err(PlanError::Cycle(cycle.into_iter().map(name).collect()));
    }
    let mut planned: Vec<Option<PlannedSource>> = planned.into_iter().map(Some).collect();
    Ok(TreePlan {
        order: order.iter().filter_map(|&i| planned[i].take()).collect(),
    })
}

impl TreePlan {
    /// The plan as the scheduler's graph: build `k` is `order[k]`, named by its source, with
    /// `duration(source index)` seconds expected.
    pub fn build_graph(
        &self,
        sources: &[SourcePackage],
        duration: impl Fn(usize) -> f64,
    ) -> Result<BuildGraph, GraphError> {
        self.named_build_graph(|i| sources[i].name.clone(), duration)
    }

    /// The plan as the scheduler's graph, each build named `name(source index)`: for toolchains
    /// whose sources are not [`SourcePackage`]s.
    pub fn named_build_graph(
        &self,
        name: impl Fn(usize) -> String,
        duration: impl Fn(usize) -> f64,
    ) -> Result<BuildGraph, GraphError> {
        let position: std::collections::HashMap<usize, usize> = self
            .order
            .iter()
            .enumerate()
            .map(|(k, p)| (p.source, k))
            .collect();
        let builds = self
            .order
            .iter()
            .map(|planned| Build {
                name: name(planned.source),
                duration: duration(planned.source),
                deps: tree_deps(planned).iter().map(|s| position[s]).collect(),
            })
            .collect();
        BuildGraph::new(builds)
    }
}

/// The tree sources a planned source needs built first, without repeats, in order.
pub fn tree_deps(planned: &PlannedSource) -> Vec<usize> {
    let mut deps: Vec<usize> = planned
        .satisfiers
        .iter()
        .filter_map(|s| match s {
            Satisfier::Tree { source, .. } => Some(*source),
            _ => None,
        })
        .collect();
    deps.sort_unstable();
    deps.dedup();
    deps
}

/// The first satisfier of one alternative: another source of the tree, the base, a repository.
fn satisfy(
    wanted: &Relation,
    own: usize,
    sources: &[SourcePackage],
    host: &str,
    base: &[AvailableBinary],
    repositories: &[AvailableBinary],
) -> Option<Satisfier> {
    let version_ok = |version: &Version| {
        wanted
            .version
            .as_ref()
            .is_none_or(|(op, bound)| op.holds(version, bound))
    };
    let from_tree = sources.iter().enumerate().find_map(|(index, source)| {
        let built = source
            .binaries
            .iter()
            .any(|b| b.name == wanted.name && b.built_for(host).is_some());
        (index != own && built && version_ok(&source.version)).then(|| Satisfier::Tree {
            source: index,
            binary: wanted.name.clone(),
        })
    });
    let matches = |b: &&AvailableBinary| b.name == wanted.name && version_ok(&b.version);
    from_tree
        .or_else(|| base.iter().find(matches).map(|b| Satisfier::Base(b.name.clone())))
        .or_else(|| {
            // Of several matching versions, the newest, as apt's candidate would be.
            repositories
                .iter()
                .enumerate()
                .filter(|(_, b)| matches(b))
                .max_by(|(_, a), (_, b)| a.version.cmp(&b.version))
                .map(|(index, _)| Satisfier::Repository(index))
        })
}

/// A clause as Debian writes it, for error messages.
fn describe(clause: &[Relation]) -> String {
    clause
        .iter()
        .map(|r| match &r.version {
            Some((op, v)) => format!("{} ({} {v})", r.name, spelling(*op)),
            None => r.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// An operator as deb-control(5) writes it.
fn spelling(op: Op) -> &'static str {
    match op {
        Op::Earlier => "<<",
        Op::EarlierEqual => "<=",
        Op::Equal => "=",
        Op::LaterEqual => ">=",
        Op::Later => ">>",
    }
}

/// The packages installed in a build root, read from its dpkg status file
/// (`var/lib/dpkg/status`): every stanza whose `Status` ends in `installed`.
pub fn installed_from_dpkg_status(text: &str) -> Result<Vec<AvailableBinary>, String> {
    let mut installed = Vec::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let field = |name: &str| {
            paragraph
                .lines()
                .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
                .map(str::trim)
        };
        let (Some(name), Some(version), Some(status)) = (field("Package"), field("Version"), field("Status"))
        else {
            return Err(format!(
                "a status stanza lacks Package, Version or Status: {paragraph:.80}"
            ));
        };
        if status.ends_with(" installed") {
            installed.push(AvailableBinary {
                name: name.to_owned(),
                version: Version::parse(version)?,
            });
        }
    }
    Ok(installed)
}
