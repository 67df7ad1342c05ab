//! What a ports tree is made of once its recipes are evaluated: ports (one per recipe file), the
//! packages each recipe produces, and their declared relations. Everything downstream — the resolver,
//! the planner, the buildrun — reads these types and never a recipe file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::haiku::version::Version;

/// How a package stands on the target architecture, from its `ARCHITECTURES` entry
/// (`x86_64` stable, `?x86_64` untested, `!x86_64` broken, not listed: unsupported). HaikuPorter's
/// `Status` values, in the same order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchStatus {
    /// Listed plainly: builds and works.
    Stable,
    /// Listed with `?`: may build; built unless untested ports are excluded.
    Untested,
    /// Listed with `!`: known not to build.
    Broken,
    /// Not listed at all.
    Unsupported,
}

impl ArchStatus {
    /// Whether a port with this status is built (HaikuPorter builds stable and untested ports).
    pub fn is_buildable(self) -> bool {
        matches!(self, ArchStatus::Stable | ArchStatus::Untested)
    }

    /// The word HaikuPorter uses in "Port X is <status> on this architecture."
    pub fn as_str(self) -> &'static str {
        match self {
            ArchStatus::Stable => "stable",
            ArchStatus::Untested => "untested",
            ArchStatus::Broken => "broken",
            ArchStatus::Unsupported => "unsupported",
        }
    }
}

/// One package a recipe produces: the main package (no suffix) or a subpackage (`_devel`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPackage {
    /// Package name: port name + secondary-arch suffix + subpackage suffix (`libfoo_x86_devel`).
    pub name: String,
    /// `portVersion` plus `REVISION`.
    pub version: Version,
    /// The package's architecture: the target architecture, or `any` (`ARCHITECTURES="any"`).
    pub architecture: String,
    /// Status on the target architecture (subpackages may restrict the port's own).
    pub status: ArchStatus,
    /// `PROVIDES[_suffix]`.
    pub provides: Vec<Provides>,
    /// `REQUIRES[_suffix]`.
    pub requires: Vec<ResolvableExpression>,
}

impl PortPackage {
    /// HaikuPorter's package ID, `name-version` (the unit of "missing package" bookkeeping).
    pub fn id(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// The canonical file name the build produces, `name-version-arch.hpkg`.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.hpkg", self.name, self.version, self.architecture)
    }
}

/// One evaluated recipe: a version of a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Port name, the recipe directory's name (`libfoo`).
    pub name: String,
    /// `portVersion`, from the recipe's file name (`1.2.3`).
    pub version: String,
    /// `REVISION`.
    pub revision: u32,
    /// Category directory (`dev-libs`).
    pub category: String,
    /// The recipe, relative to the tree root (`dev-libs/libfoo/libfoo-1.2.3.recipe`).
    pub recipe_path: PathBuf,
    /// Secondary architecture this port is evaluated for (`x86`), if any; its packages carry
    /// `_x86` in their names.
    pub secondary_arch: Option<String>,
    /// Status of the main package on the target architecture.
    pub status: ArchStatus,
    /// Packages, main package first.
    pub packages: Vec<PortPackage>,
    /// `BUILD_REQUIRES`.
    pub build_requires: Vec<ResolvableExpression>,
    /// `BUILD_PREREQUIRES`.
    pub build_prerequires: Vec<ResolvableExpression>,
}

impl Port {
    /// HaikuPorter's port specifier and build-tool argument, `name-version` (with the secondary-arch
    /// suffix for secondary-arch ports: `libfoo_x86-1.2.3`).
    pub fn versioned_name(&self) -> String {
        match &self.secondary_arch {
            Some(arch) => format!("{}_{}-{}", self.name, arch, self.version),
            None => format!("{}-{}", self.name, self.version),
        }
    }

    /// `name-version-revision`, as HaikuPorter's status shows it.
    pub fn revisioned_name(&self) -> String {
        format!("{}-{}", self.versioned_name(), self.revision)
    }
}

/// A recipe that could not be evaluated: reported, never fatal to the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeProblem {
    /// The recipe, relative to the tree root.
    pub recipe_path: PathBuf,
    /// What went wrong (bash's own message for syntax errors, the attribute for bad values).
    pub message: String,
}
