//! A build plan: which ports a buildrun builds, what each needs, and why every other requested port
//! is not built. Produced by the planner, consumed by the buildrun and printed by `buildmaster plan`.

use serde::{Deserialize, Serialize};

use crate::ports::model::Port;

/// A package a build needs that already exists (published repository or system packages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentPackage {
    /// Canonical file name.
    pub file_name: String,
    /// Where it comes from.
    pub origin: PackageOrigin,
}

/// Where an existing package lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageOrigin {
    /// The published repository (a package record in the state database).
    Repository,
    /// The system-packages directory (never pruned from builders).
    System,
}

/// One port to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedBuild {
    /// The port (its recipe, evaluated).
    pub port: Port,
    /// Canonical file names of every package the build produces.
    pub results: Vec<String>,
    /// Packages it needs that already exist: the full BUILD_PREREQUIRES/BUILD_REQUIRES/REQUIRES
    /// closure's present part, as HaikuPorter's `presentDependencyPackages`.
    pub present: Vec<PresentPackage>,
    /// Packages it needs that other builds of this plan produce (`name-version` IDs, HaikuPorter's
    /// `missingPackageIDs`); with [`PlannedBuild::after`] this is the graph's edge set.
    pub missing_ids: Vec<String>,
    /// Indices into [`Plan::builds`] of the builds producing `missing_ids` (each lower than this
    /// build's own index: the list is in a valid build order).
    pub after: Vec<usize>,
    /// What the build tool is given when it is not the port's versioned name: a Debian or RPM
    /// tree's directory (relative to the tree). `None` for HaikuPorts ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl PlannedBuild {
    /// What the build tool builds ([`crate::toolchains::Job::target`]).
    pub fn target(&self) -> String {
        self.target.clone().unwrap_or_else(|| self.port.versioned_name())
    }
}

/// Why a requested port is not built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// No recipe by that name (or version) in the tree.
    NotFound,
    /// The recipe could not be evaluated.
    BrokenRecipe {
        /// The evaluation error.
        message: String,
    },
    /// Not buildable on the target architecture (`Port X is <status> on this architecture.`).
    NotBuildableOnArchitecture {
        /// `broken` or `unsupported`.
        status: String,
    },
    /// A requirement nothing provides.
    Unresolvable {
        /// The requirement as written.
        requires: String,
        /// The package (or the port itself for build requirements) that requires it.
        required_by: String,
    },
    /// A dependency port that cannot be built.
    DependencyCannotBeBuilt {
        /// The dependency port's versioned name.
        dependency: String,
        /// Its own reason, in words.
        reason: String,
    },
    /// A dependency cycle among ports to be built.
    Cycle {
        /// The ports on the cycle, in order.
        ports: Vec<String>,
    },
    /// Some of its packages already exist: packages are immutable, a revision bump is required.
    AlreadyExists {
        /// The existing packages.
        packages: Vec<String>,
    },
}

/// A requested port that is not built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedPort {
    /// The request as given, or the port's versioned name.
    pub port: String,
    /// The recipe, when one was found.
    pub recipe_path: Option<std::path::PathBuf>,
    /// Why.
    pub reason: SkipReason,
}

/// The plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Builds in a valid order (every build after the builds it needs).
    pub builds: Vec<PlannedBuild>,
    /// Requested ports not built, with reasons.
    pub skipped: Vec<SkippedPort>,
}
