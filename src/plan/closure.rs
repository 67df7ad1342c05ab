//! One port's dependency closure, as HaikuPorter's `DependencyResolver` computes it for the build
//! master (`stopAtHpkgs=False`, `Port.buildRequiresTypes`): the port's BUILD_PREREQUIRES and
//! BUILD_REQUIRES, the builder prerequirements HaikuPorter adds to every build (its scriptlet
//! prerequirements and the `haiku` package, see [`crate::plan::builder_prerequires`]), then transitively
//! the REQUIRES of every package chosen for them — existing packages and other ports' packages alike.
//!
//! Two deliberate differences from HaikuPorter, both in `docs/planning.md`:
//! - the port's own packages' REQUIRES are checked too (HaikuPorter only finds an unresolvable runtime
//!   requirement after building, when the package is already uninstallable); they never become build
//!   edges, because nothing needs them while building;
//! - a dependency port's own build requirements are not walked here (HaikuPorter's DependencyInfo
//!   nodes carry them): they are that port's business when it is planned, and keeping them out keeps
//!   `present` to what this build installs.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::haiku::resolvable::ResolvableExpression;
use crate::plan::catalog::BuildPolicy;
use crate::plan::existing::ExistingPackages;
use crate::plan::providers::{is_built, port_satisfies, ProviderIndex, Supplier};
use crate::ports::model::Port;

/// What building one port needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Closure {
    /// Existing packages the build installs (indices into [`ExistingPackages::packages`]), in the
    /// order the walk found them.
    pub present: Vec<usize>,
    /// Other ports' packages the build installs: `(port, package)` indices.
    pub port_packages: Vec<(usize, usize)>,
    /// Other ports whose packages this port's own packages require at run time only.
    pub runtime_ports: Vec<usize>,
    /// What went wrong, if the closure cannot be completed.
    pub problem: Option<ClosureProblem>,
}

/// Why a closure cannot be completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClosureProblem {
    /// Nothing provides a requirement.
    Unresolvable {
        /// The requirement as written.
        requires: String,
        /// Who requires it: the port (`name-version`), or a package's `name-version`.
        required_by: String,
    },
    /// Building the port needs a package only the port itself produces; `via` is the other port whose
    /// package leads back, if the requirement is not the port's own.
    NeedsItself {
        /// The other port on the way, if any.
        via: Option<usize>,
    },
}

/// What one requirement of a package resolved to.
#[derive(Clone, Copy)]
enum Resolution<'a> {
    /// This supplier.
    To(Supplier),
    /// Nothing provides it.
    Nothing(&'a ResolvableExpression),
}

/// Resolves requirements for many closures, remembering each package's resolved REQUIRES (they do
/// not depend on which port is being planned), and marks visited packages with a per-walk stamp in a
/// dense array instead of a fresh set per port.
pub struct Resolver<'a> {
    ports: &'a [Port],
    existing: &'a ExistingPackages,
    index: ProviderIndex<'a>,
    policy: BuildPolicy,
    /// Required by every build besides its recipe's requirements.
    builder_prerequires: &'a [ResolvableExpression],
    /// Dense id of port `q`'s first package: existing packages come first.
    port_base: Vec<usize>,
    /// Each package's REQUIRES, resolved on first use.
    requires: Vec<Option<Rc<[Resolution<'a>]>>>,
    /// The walk that last visited each package.
    visited: Vec<u32>,
    walk: u32,
}

impl<'a> Resolver<'a> {
    /// A resolver over `ports` and `existing`, choosing with `index`; every closure also holds the
    /// providers of `builder_prerequires`.
    pub fn new(
        ports: &'a [Port],
        existing: &'a ExistingPackages,
        index: ProviderIndex<'a>,
        policy: BuildPolicy,
        builder_prerequires: &'a [ResolvableExpression],
    ) -> Self {
        let mut port_base = Vec::with_capacity(ports.len());
        let mut next = existing.packages.len();
        for port in ports {
            port_base.push(next);
            next += port.packages.len();
        }
        Self {
            ports,
            existing,
            index,
            policy,
            builder_prerequires,
            port_base,
            requires: vec![None; next],
            visited: vec![0; next],
            walk: 0,
        }
    }

    fn dense(&self, supplier: Supplier) -> usize {
        match supplier {
            Supplier::Existing(e) => e,
            Supplier::Port { port, package } => self.port_base[port] + package,
        }
    }

    /// The resolved REQUIRES of `supplier`'s package. A port's packages satisfy each other's
    /// requirements first.
    fn requires_of(&mut self, supplier: Supplier) -> Rc<[Resolution<'a>]> {
        let dense = self.dense(supplier);
        if let Some(known) = &self.requires[dense] {
            return known.clone();
        }
        let (ports, existing, policy) = (self.ports, self.existing, self.policy);
        let resolved: Rc<[Resolution<'a>]> = match supplier {
            Supplier::Existing(e) => existing.packages[e]
                .requires
                .iter()
                .map(|r| {
                    self.index
                        .choose(r)
                        .map_or(Resolution::Nothing(r), Resolution::To)
                })
                .collect(),
            Supplier::Port { port: q, package: k } => ports[q].packages[k]
                .requires
                .iter()
                .map(|r| {
                    port_satisfies(policy, &ports[q], r)
                        .map(|package| Supplier::Port { port: q, package })
                        .or_else(|| self.index.choose(r))
                        .map_or(Resolution::Nothing(r), Resolution::To)
                })
                .collect(),
        };
        self.requires[dense] = Some(resolved.clone());
        resolved
    }

    /// Computes the closure of `ports[port]`.
    pub fn closure(&mut self, port: usize) -> Closure {
        let (ports, existing) = (self.ports, self.existing);
        let this = &ports[port];
        let mut out = Closure::default();
        if let Some(problem) =
            check_own_requires(ports, &mut self.index, self.policy, port, &mut out.runtime_ports)
        {
            out.problem = Some(problem);
            return out;
        }
        self.walk += 1;
        // Each entry keeps the port whose package required it, to name a cycle back to this port.
        let mut queue: VecDeque<(Supplier, Option<usize>)> = VecDeque::new();
        let wanted = (this.build_prerequires.iter())
            .chain(&this.build_requires)
            .chain(self.builder_prerequires);
        for requires in wanted {
            match self.index.choose(requires) {
                Some(supplier) => queue.push_back((supplier, None)),
                None => {
                    out.problem = Some(ClosureProblem::Unresolvable {
                        requires: requires.to_string(),
                        required_by: this.versioned_name(),
                    });
                    return out;
                }
            }
        }
        while let Some((supplier, via)) = queue.pop_front() {
            let dense = self.dense(supplier);
            if self.visited[dense] == self.walk {
                continue;
            }
            self.visited[dense] = self.walk;
            match supplier {
                Supplier::Existing(e) => out.present.push(e),
                Supplier::Port { port: q, .. } if q == port => {
                    out.problem = Some(ClosureProblem::NeedsItself { via });
                    return out;
                }
                Supplier::Port { port: q, package: k } => out.port_packages.push((q, k)),
            }
            for resolution in self.requires_of(supplier).iter() {
                match *resolution {
                    Resolution::To(next) => {
                        let from = match supplier {
                            Supplier::Port { port: q, .. } => Some(q),
                            Supplier::Existing(_) => via,
                        };
                        queue.push_back((next, from));
                    }
                    Resolution::Nothing(requires) => {
                        let required_by = match supplier {
                            Supplier::Existing(e) => existing.packages[e].file_name.clone(),
                            Supplier::Port { port: q, package: k } => ports[q].packages[k].id(),
                        };
                        out.problem = Some(ClosureProblem::Unresolvable {
                            requires: requires.to_string(),
                            required_by,
                        });
                        return out;
                    }
                }
            }
        }
        out
    }
}

/// Checks that every REQUIRES of the port's own packages is satisfied by the port itself, an
/// existing package or another port (collected in `runtime_ports`).
fn check_own_requires<'a>(
    ports: &'a [Port],
    index: &mut ProviderIndex<'a>,
    policy: BuildPolicy,
    port: usize,
    runtime_ports: &mut Vec<usize>,
) -> Option<ClosureProblem> {
    let this = &ports[port];
    for package in this.packages.iter().filter(|p| is_built(policy, this, p)) {
        for requires in &package.requires {
            if port_satisfies(policy, this, requires).is_some() {
                continue;
            }
            match index.choose(requires) {
                None => {
                    return Some(ClosureProblem::Unresolvable {
                        requires: requires.to_string(),
                        required_by: package.id(),
                    })
                }
                Some(Supplier::Port { port: q, .. }) if q != port && !runtime_ports.contains(&q) => {
                    runtime_ports.push(q)
                }
                Some(_) => {}
            }
        }
    }
    None
}
