//! What the planner needs from an evaluated ports tree: every port, the recipes that failed, each
//! name's active version, and how a request or a set of changed files maps to ports. The ports
//! module's tree implements it; tests implement it over hand-made ports.

use std::path::PathBuf;

use crate::haiku::resolvable::ResolvableExpression;
use crate::plan::builder_prerequires::HAIKUPORTER_BUILDER_PREREQUIRES;
use crate::ports::model::{ArchStatus, Port, RecipeProblem};

/// An evaluated ports tree as the planner sees it.
pub trait PortCatalog {
    /// Every evaluated port (every version, every secondary architecture).
    fn ports(&self) -> &[Port];
    /// Recipes that could not be evaluated.
    fn problems(&self) -> &[RecipeProblem];
    /// The active version for a name (`name`, or `name_<secondary-arch>`), if any version is buildable.
    fn active(&self, name: &str) -> Option<&Port>;
    /// A request as the operator writes it: `name` (the active version) or `name-version`.
    fn find(&self, spec: &str) -> Option<&Port>;
    /// The active ports whose recipe directories contain any of the changed files (paths relative to the
    /// tree root).
    fn ports_for_files(&self, changed: &[PathBuf]) -> Vec<&Port>;
    /// Which statuses are built. Default: stable and untested, as HaikuPorter's buildmaster.
    fn policy(&self) -> BuildPolicy {
        BuildPolicy { allow_untested: true }
    }
    /// What every build needs on its builder besides the recipe's requirements, resolved and shipped
    /// like BUILD_PREREQUIRES. Default: HaikuPorter's scriptlet prerequirements and the `haiku` package
    /// (see [`crate::plan::builder_prerequires`]); hand-made test trees may need none.
    fn builder_prerequires(&self) -> &[ResolvableExpression] {
        &HAIKUPORTER_BUILDER_PREREQUIRES
    }
}

/// Which architecture statuses are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildPolicy {
    /// Whether untested (`?arch`) ports are built (`[ports] allow_untested`).
    pub allow_untested: bool,
}

impl BuildPolicy {
    /// Whether a port or package with `status` is built.
    pub fn builds(self, status: ArchStatus) -> bool {
        status == ArchStatus::Stable || (status == ArchStatus::Untested && self.allow_untested)
    }
}

/// A catalog with an instance's build policy (`[ports] allow_untested`).
pub struct WithPolicy<'a, C: PortCatalog + ?Sized> {
    /// The tree.
    pub catalog: &'a C,
    /// The policy.
    pub policy: BuildPolicy,
}

impl<C: PortCatalog + ?Sized> PortCatalog for WithPolicy<'_, C> {
    fn ports(&self) -> &[Port] {
        self.catalog.ports()
    }

    fn problems(&self) -> &[RecipeProblem] {
        self.catalog.problems()
    }

    fn active(&self, name: &str) -> Option<&Port> {
        self.catalog.active(name)
    }

    fn find(&self, spec: &str) -> Option<&Port> {
        self.catalog.find(spec)
    }

    fn ports_for_files(&self, changed: &[PathBuf]) -> Vec<&Port> {
        self.catalog.ports_for_files(changed)
    }

    fn policy(&self) -> BuildPolicy {
        self.policy
    }

    fn builder_prerequires(&self) -> &[ResolvableExpression] {
        self.catalog.builder_prerequires()
    }
}

/// The key a port's active version is looked up by: its name with the secondary-arch suffix.
pub fn active_key(port: &Port) -> String {
    match &port.secondary_arch {
        Some(arch) => format!("{}_{}", port.name, arch),
        None => port.name.clone(),
    }
}

/// Whether `port` is the active version of its name in `catalog`.
pub fn is_active<C: PortCatalog + ?Sized>(catalog: &C, port: &Port) -> bool {
    catalog
        .active(&active_key(port))
        .is_some_and(|active| std::ptr::eq(active, port) || active.recipe_path == port.recipe_path)
}

impl PortCatalog for crate::ports::PortsTree {
    fn ports(&self) -> &[Port] {
        &self.ports
    }

    fn problems(&self) -> &[RecipeProblem] {
        &self.problems
    }

    fn active(&self, name: &str) -> Option<&Port> {
        crate::ports::PortsTree::active(self, name)
    }

    fn find(&self, spec: &str) -> Option<&Port> {
        crate::ports::PortsTree::find(self, spec)
    }

    fn ports_for_files(&self, changed: &[PathBuf]) -> Vec<&Port> {
        crate::ports::PortsTree::ports_for_files(self, changed)
    }
}
