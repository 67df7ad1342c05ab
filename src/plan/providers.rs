//! The provider index: for a requirement, which package satisfies it. Candidates are existing packages
//! and the packages of the tree's ports, indexed by resolvable name; a candidate matches with pkgman's
//! rule ([`solver_matches`]: the operator holds and the requirement is not older than the provider's
//! compatible version).
//!
//! Preference, in order: an existing package (repository before system packages, newest first) over
//! building anything; then a port that is buildable on the target architecture; then the port's active
//! version; then the newest provided version; ties keep tree order. Choices are remembered per distinct
//! requirement, so planning thousands of ports resolves each requirement text once.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::formats::haiku::check::solver_matches;
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::plan::catalog::BuildPolicy;
use crate::plan::existing::ExistingPackages;
use crate::ports::model::{Port, PortPackage};

/// Who supplies a package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Supplier {
    /// An existing package: index into [`ExistingPackages::packages`].
    Existing(usize),
    /// A package a port produces: indices into the port list and the port's packages.
    Port {
        /// Index of the port.
        port: usize,
        /// Index into the port's `packages`.
        package: usize,
    },
}

/// One way to satisfy requirements of one name.
struct Candidate<'a> {
    supplier: Supplier,
    provides: &'a Provides,
    /// 0 existing, 1 buildable port, 2 port that cannot be built here.
    class: u8,
    /// Whether the supplying port is its name's active version (always true for existing packages).
    active: bool,
}

/// Candidates by resolvable name, best first, with a memo of choices.
pub struct ProviderIndex<'a> {
    by_name: HashMap<&'a str, Vec<Candidate<'a>>>,
    chosen: HashMap<&'a ResolvableExpression, Option<Supplier>>,
}

impl<'a> ProviderIndex<'a> {
    /// Indexes `existing` and every package of `ports`; `active[i]` says whether port `i` is its name's
    /// active version. Packages a buildable port does not build on this architecture are left out, as
    /// HaikuPorter leaves them out of the port's packages.
    pub fn new(
        existing: &'a ExistingPackages,
        ports: &'a [Port],
        active: &[bool],
        policy: BuildPolicy,
    ) -> Self {
        let mut by_name: HashMap<&'a str, Vec<Candidate<'a>>> = HashMap::new();
        for (index, package) in existing.packages.iter().enumerate() {
            for provides in &package.provides {
                by_name.entry(&provides.name).or_default().push(Candidate {
                    supplier: Supplier::Existing(index),
                    provides,
                    class: 0,
                    active: true,
                });
            }
        }
        for (port_index, port) in ports.iter().enumerate() {
            let buildable = policy.builds(port.status);
            for (package_index, package) in port.packages.iter().enumerate() {
                if !is_built(policy, port, package) {
                    continue;
                }
                for provides in &package.provides {
                    by_name.entry(&provides.name).or_default().push(Candidate {
                        supplier: Supplier::Port {
                            port: port_index,
                            package: package_index,
                        },
                        provides,
                        class: if buildable { 1 } else { 2 },
                        active: active.get(port_index).copied().unwrap_or(false),
                    });
                }
            }
        }
        for list in by_name.values_mut() {
            // Stable: equal candidates keep insertion order (repository, system, then tree order).
            list.sort_by(|a, b| {
                a.class
                    .cmp(&b.class)
                    .then_with(|| b.active.cmp(&a.active))
                    .then_with(|| compare_versions(b.provides, a.provides))
            });
        }
        Self {
            by_name,
            chosen: HashMap::new(),
        }
    }

    /// The preferred supplier of `requires`, if anything provides it.
    pub fn choose(&mut self, requires: &'a ResolvableExpression) -> Option<Supplier> {
        if let Some(choice) = self.chosen.get(requires) {
            return *choice;
        }
        let choice = self.by_name.get(requires.name.as_str()).and_then(|list| {
            list.iter()
                .find(|c| solver_matches(requires, c.provides))
                .map(|c| c.supplier)
        });
        self.chosen.insert(requires, choice);
        choice
    }
}

/// Orders provided versions; an unversioned provide sorts below any versioned one.
fn compare_versions(a: &Provides, b: &Provides) -> Ordering {
    match (&a.version, &b.version) {
        (Some(a), Some(b)) => a.compare(b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

/// Whether any package of `port` satisfies `requires` (a port's own packages satisfy its own and each
/// other's requirements: a `_devel` package requiring the main package's library).
pub fn port_satisfies(policy: BuildPolicy, port: &Port, requires: &ResolvableExpression) -> Option<usize> {
    port.packages.iter().position(|package| {
        is_built(policy, port, package)
            && package
                .provides
                .iter()
                .any(|p| p.name == requires.name && solver_matches(requires, p))
    })
}

/// Whether `package` counts as one of `port`'s packages: a buildable port builds only the packages
/// that are buildable here; a port that cannot be built keeps all of them, so that a requirement only
/// it provides is reported as "dependency cannot be built" rather than "nothing provides it".
pub fn is_built(policy: BuildPolicy, port: &Port, package: &PortPackage) -> bool {
    !policy.builds(port.status) || policy.builds(package.status)
}
