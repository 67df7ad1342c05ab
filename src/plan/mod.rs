//! Build planning: resolving ports' requirements against the published repository, the system
//! packages and the ports about to be built, and deciding what a buildrun builds, in which order, and
//! why every other requested port is not built. See `docs/planning.md`.
//!
//! # Layout
//! - [`model`]: the plan — builds with their edges, skipped ports with reasons.
//! - [`builder_prerequires`]: what HaikuPorter needs on every builder (scriptlet prerequirements, the
//!   `haiku` package) besides a recipe's requirements.
//! - [`catalog`]: what the planner needs from an evaluated ports tree ([`PortCatalog`]).
//! - [`existing`]: packages that already exist (database records, the spool, system packages).
//! - [`providers`]: which package satisfies a requirement, with pkgman's matching and our preferences.
//! - [`closure`]: one port's BUILD_PREREQUIRES/BUILD_REQUIRES/builder prerequirements/REQUIRES closure.
//! - [`graph`]: topological order and cycle detection, iterative.
//! - [`request`]: [`Request`] (ports, everything, update) and how it maps to ports.
//! - [`planner`]: [`plan`], tying it together.
//! - [`instance`]: planning for an instance (config + state directory), as `buildmaster plan` does.
//! - [`recipe_tree`]: which kind of tree an instance builds (`[ports] kind`: HaikuPorts, Debian, RPM).
//! - [`foreign`]: Debian and RPM trees planned into the same [`model::Plan`] a buildrun runs.
//! - [`system_index`]: the system-packages directory, indexed once in the state database.
//! - [`revision`]: the processed ports-tree revision and the files changed since (`--update`).
//! - [`words`]: skip reasons in HaikuPorter's words.
//! - [`suggest`]: "did you mean" for a requested port the tree does not have.

pub mod builder_prerequires;
pub mod catalog;
pub mod closure;
pub mod existing;
pub mod foreign;
mod foreign_formats;
pub mod graph;
pub mod instance;
pub mod model;
pub mod planner;
pub mod providers;
pub mod recipe_tree;
pub mod request;
pub mod revision;
pub mod suggest;
pub mod system_index;
pub mod words;

pub use catalog::PortCatalog;
pub use existing::{ExistingError, ExistingPackage, ExistingPackages};
pub use planner::plan;
pub use request::Request;
pub use revision::{get_processed_revision, set_processed_revision};
