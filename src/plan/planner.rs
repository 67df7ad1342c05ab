//! `plan`: from a request to an ordered plan, as HaikuPorter's build master decides it
//! (`Main._buildMainPort`, `BuildMaster.schedule`), without its recursion and without its quadratic
//! scans.
//!
//! 1. Each requested port, and every port a planned port needs, is evaluated once: not buildable on
//!    this architecture → skipped; any of its packages already exists → skipped (revision bump
//!    required; checked before resolving so an unbuildable request plans no dependencies); its closure
//!    (see [`closure`]) has an unresolvable requirement → skipped; otherwise the ports producing its
//!    missing packages are evaluated too (HaikuPorter's `allDependencies=True`).
//! 2. Failures propagate to every port that needs a failed port (build or run time), naming the
//!    nearest failed dependency.
//! 3. Kahn's algorithm orders the rest; what it cannot order lies on or behind a cycle: cycle members
//!    are skipped naming the cycle, and that failure propagates like any other.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::plan::catalog::{is_active, BuildPolicy, PortCatalog};
use crate::plan::closure::{Closure, ClosureProblem, Resolver};
use crate::plan::existing::ExistingPackages;
use crate::plan::graph::{cycle_through, cyclic_components, topological_order};
use crate::plan::model::{Plan, PlannedBuild, PresentPackage, SkipReason, SkippedPort};
use crate::plan::providers::{is_built, ProviderIndex};
use crate::plan::request::{requested, Request};
use crate::ports::model::Port;

/// One port the planner looked at.
struct Node {
    /// Index into the catalog's ports.
    port: usize,
    /// What building it needs (empty when it failed before resolving).
    closure: Closure,
    /// Nodes it needs built first.
    deps: Vec<usize>,
    /// Nodes whose packages its own packages need at run time only.
    runtime: Vec<usize>,
    /// Why it is not built, if it is not.
    failure: Option<SkipReason>,
}

/// Plans `request` against the ports of `catalog` and the packages that already exist.
pub fn plan<C: PortCatalog + ?Sized>(catalog: &C, existing: &ExistingPackages, request: &Request) -> Plan {
    let ports = catalog.ports();
    let active: Vec<bool> = ports.iter().map(|p| is_active(catalog, p)).collect();
    let positions: HashMap<*const Port, usize> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (p as *const Port, i))
        .collect();
    let index_of = |port: &Port| positions.get(&(port as *const Port)).copied();
    let requests = requested(catalog, &index_of, &active, existing, request);

    let policy = catalog.policy();
    let index = ProviderIndex::new(existing, ports, &active, policy);
    let mut resolver = Resolver::new(ports, existing, index, policy, catalog.builder_prerequires());
    let mut nodes = evaluate(
        ports,
        existing,
        &mut resolver,
        policy,
        requests.iter().filter_map(|r| r.target.as_ref().ok().copied()),
    );
    let names: Vec<String> = nodes.iter().map(|n| ports[n.port].versioned_name()).collect();
    propagate_failures(&mut nodes, &names);
    let deps: Vec<Vec<usize>> = nodes.iter().map(|n| n.deps.clone()).collect();
    let include: Vec<bool> = nodes.iter().map(|n| n.failure.is_none()).collect();
    let (mut order, left) = topological_order(&include, &deps);
    if !left.is_empty() {
        for component in cyclic_components(&left, &deps) {
            for &member in &component {
                let cycle = cycle_through(member, &component, &deps);
                nodes[member].failure = Some(SkipReason::Cycle {
                    ports: cycle.iter().map(|&v| names[v].clone()).collect(),
                });
            }
        }
        propagate_failures(&mut nodes, &names);
        order.retain(|&v| nodes[v].failure.is_none());
    }

    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let builds = order
        .iter()
        .map(|&v| planned_build(&nodes[v], ports, existing, policy, &position))
        .collect();
    let node_of: HashMap<usize, usize> = nodes.iter().enumerate().map(|(v, n)| (n.port, v)).collect();
    let mut reported: HashSet<usize> = HashSet::new();
    let mut skipped = Vec::new();
    for request in requests {
        let reason = match request.target {
            Err(reason) => reason,
            Ok(port) => {
                if !reported.insert(port) {
                    continue;
                }
                match &nodes[node_of[&port]].failure {
                    Some(reason) => reason.clone(),
                    None => continue,
                }
            }
        };
        skipped.push(SkippedPort {
            port: request.label,
            recipe_path: request.recipe_path,
            reason,
        });
    }
    Plan { builds, skipped }
}

/// Evaluates the requested ports and, transitively, every port they need, each once, breadth-first.
fn evaluate<'a>(
    ports: &'a [Port],
    existing: &'a ExistingPackages,
    resolver: &mut Resolver<'a>,
    policy: BuildPolicy,
    requested: impl Iterator<Item = usize>,
) -> Vec<Node> {
    let mut node_of: HashMap<usize, usize> = HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    // Dependencies as port indices until every port has its node.
    let mut dep_ports: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut queue: VecDeque<usize> = requested.collect();
    while let Some(port) = queue.pop_front() {
        if node_of.contains_key(&port) {
            continue;
        }
        node_of.insert(port, nodes.len());
        let (node, deps, runtime) = evaluate_one(ports, existing, resolver, policy, port);
        queue.extend(deps.iter().chain(&runtime).copied());
        nodes.push(node);
        dep_ports.push((deps, runtime));
    }
    for (node, (deps, runtime)) in nodes.iter_mut().zip(dep_ports) {
        node.deps = deps.iter().map(|p| node_of[p]).collect();
        node.runtime = runtime.iter().map(|p| node_of[p]).collect();
    }
    nodes
}

/// Evaluates one port: its node, and the ports it needs at build and at run time.
fn evaluate_one<'a>(
    ports: &'a [Port],
    existing: &'a ExistingPackages,
    resolver: &mut Resolver<'a>,
    policy: BuildPolicy,
    port: usize,
) -> (Node, Vec<usize>, Vec<usize>) {
    let this = &ports[port];
    let mut node = Node {
        port,
        closure: Closure::default(),
        deps: Vec::new(),
        runtime: Vec::new(),
        failure: None,
    };
    if !policy.builds(this.status) {
        node.failure = Some(SkipReason::NotBuildableOnArchitecture {
            status: this.status.as_str().to_owned(),
        });
        return (node, Vec::new(), Vec::new());
    }
    let present: Vec<String> = this
        .packages
        .iter()
        .filter(|p| is_built(policy, this, p))
        .map(|p| p.file_name())
        .filter(|f| existing.contains(f))
        .collect();
    if !present.is_empty() {
        node.failure = Some(SkipReason::AlreadyExists { packages: present });
        return (node, Vec::new(), Vec::new());
    }
    node.closure = resolver.closure(port);
    match node.closure.problem.take() {
        Some(ClosureProblem::Unresolvable {
            requires,
            required_by,
        }) => {
            node.failure = Some(SkipReason::Unresolvable {
                requires,
                required_by,
            });
            (node, Vec::new(), Vec::new())
        }
        Some(ClosureProblem::NeedsItself { via }) => {
            let mut cycle = vec![this.versioned_name()];
            cycle.extend(via.map(|q| ports[q].versioned_name()));
            node.failure = Some(SkipReason::Cycle { ports: cycle });
            (node, Vec::new(), Vec::new())
        }
        None => {
            let mut seen = HashSet::new();
            let deps: Vec<usize> = node
                .closure
                .port_packages
                .iter()
                .map(|&(q, _)| q)
                .filter(|&q| seen.insert(q))
                .collect();
            let runtime = node.closure.runtime_ports.clone();
            (node, deps, runtime)
        }
    }
}

/// Fails every port that needs a failed port, breadth-first from the failures so each names its
/// nearest failed dependency.
fn propagate_failures(nodes: &mut [Node], names: &[String]) {
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (v, node) in nodes.iter().enumerate() {
        for &d in node.deps.iter().chain(&node.runtime) {
            dependents[d].push(v);
        }
    }
    let mut queue: VecDeque<usize> = (0..nodes.len()).filter(|&v| nodes[v].failure.is_some()).collect();
    while let Some(failed) = queue.pop_front() {
        let Some(reason) = nodes[failed].failure.as_ref().map(|r| r.describe(&names[failed])) else {
            continue;
        };
        for &d in &dependents[failed] {
            if nodes[d].failure.is_none() {
                nodes[d].failure = Some(SkipReason::DependencyCannotBeBuilt {
                    dependency: names[failed].clone(),
                    reason: reason.clone(),
                });
                queue.push_back(d);
            }
        }
    }
}

/// The plan entry for a node that is built.
fn planned_build(
    node: &Node,
    ports: &[Port],
    existing: &ExistingPackages,
    policy: BuildPolicy,
    position: &HashMap<usize, usize>,
) -> PlannedBuild {
    let port = &ports[node.port];
    // The closure never lists a package twice.
    let missing_ids: Vec<String> = node
        .closure
        .port_packages
        .iter()
        .map(|&(q, k)| ports[q].packages[k].id())
        .collect();
    let mut after: Vec<usize> = node.deps.iter().map(|d| position[d]).collect();
    after.sort_unstable();
    after.dedup();
    PlannedBuild {
        port: port.clone(),
        results: port
            .packages
            .iter()
            .filter(|p| is_built(policy, port, p))
            .map(|p| p.file_name())
            .collect(),
        present: node
            .closure
            .present
            .iter()
            .map(|&e| PresentPackage {
                file_name: existing.packages[e].file_name.clone(),
                origin: existing.packages[e].origin,
            })
            .collect(),
        missing_ids,
        after,
        target: None,
    }
}
