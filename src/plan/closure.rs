//! One port's dependency closure, as HaikuPorter's `DependencyResolver` computes it for the build
//! master (`stopAtHpkgs=False`): the port's BUILD_PREREQUIRES and BUILD_REQUIRES, then transitively the
//! REQUIRES of every package chosen for them — existing packages and other ports' packages alike.
//!
//! Two deliberate differences from HaikuPorter, both in `docs/planning.md`:
//! - the port's own packages' REQUIRES are checked too (HaikuPorter only finds an unresolvable runtime
//!   requirement after building, when the package is already uninstallable); they never become build
//!   edges, because nothing needs them while building;
//! - a dependency port's own build requirements are not walked here (HaikuPorter's DependencyInfo
//!   nodes carry them): they are that port's business when it is planned, and keeping them out keeps
//!   `present` to what this build installs.

use std::collections::{HashSet, VecDeque};

use crate::haiku::resolvable::ResolvableExpression;
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

/// Who a requirement in the walk belongs to, kept as indices so a name is only formatted on error.
#[derive(Clone, Copy)]
enum Owner {
    /// The port being planned (its build requirements).
    ThisPort,
    /// An existing package.
    Existing(usize),
    /// Another port's package.
    Package(usize, usize),
}

/// Computes the closure of `ports[port]`.
pub fn closure<'a>(
    ports: &'a [Port],
    existing: &'a ExistingPackages,
    index: &mut ProviderIndex<'a>,
    port: usize,
) -> Closure {
    let this = &ports[port];
    let mut out = Closure::default();
    if let Some(problem) = check_own_requires(ports, index, port, &mut out.runtime_ports) {
        out.problem = Some(problem);
        return out;
    }
    let mut queue: VecDeque<(&'a ResolvableExpression, Owner)> = this
        .build_prerequires
        .iter()
        .chain(&this.build_requires)
        .map(|r| (r, Owner::ThisPort))
        .collect();
    let mut seen: HashSet<Supplier> = HashSet::new();
    while let Some((requires, owner)) = queue.pop_front() {
        let supplier = match owner {
            // A dependency's packages satisfy each other's requirements first.
            Owner::Package(q, _) => port_satisfies(&ports[q], requires)
                .map(|package| Supplier::Port { port: q, package })
                .or_else(|| index.choose(requires)),
            _ => index.choose(requires),
        };
        let Some(supplier) = supplier else {
            let required_by = match owner {
                Owner::ThisPort => this.versioned_name(),
                Owner::Existing(e) => existing.packages[e].file_name.clone(),
                Owner::Package(q, k) => ports[q].packages[k].id(),
            };
            out.problem = Some(ClosureProblem::Unresolvable {
                requires: requires.to_string(),
                required_by,
            });
            return out;
        };
        if !seen.insert(supplier) {
            continue;
        }
        match supplier {
            Supplier::Existing(e) => {
                out.present.push(e);
                queue.extend(
                    existing.packages[e]
                        .requires
                        .iter()
                        .map(|r| (r, Owner::Existing(e))),
                );
            }
            Supplier::Port { port: q, .. } if q == port => {
                let via = match owner {
                    Owner::Package(other, _) => Some(other),
                    _ => None,
                };
                out.problem = Some(ClosureProblem::NeedsItself { via });
                return out;
            }
            Supplier::Port { port: q, package: k } => {
                out.port_packages.push((q, k));
                queue.extend(
                    ports[q].packages[k]
                        .requires
                        .iter()
                        .map(|r| (r, Owner::Package(q, k))),
                );
            }
        }
    }
    out
}

/// Checks that every REQUIRES of the port's own packages is satisfied by the port itself, an
/// existing package or another port (collected in `runtime_ports`).
fn check_own_requires<'a>(
    ports: &'a [Port],
    index: &mut ProviderIndex<'a>,
    port: usize,
    runtime_ports: &mut Vec<usize>,
) -> Option<ClosureProblem> {
    let this = &ports[port];
    for package in this.packages.iter().filter(|p| is_built(this, p)) {
        for requires in &package.requires {
            if port_satisfies(this, requires).is_some() {
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
