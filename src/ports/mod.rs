//! HaikuPorts-format ports trees (`category/port/port-version.recipe`): finding recipes, evaluating
//! their attributes with bash the way HaikuPorter does, caching the results by recipe content, and
//! choosing each port's active version.
//!
//! # Layout
//! - [`model`]: evaluated ports, their packages and relations — what everything downstream reads.
//! - [`tree`]: [`PortsTree::load`] and its options, figures and errors — the entry point.
//! - [`scan`]: finding `category/port/port-version.recipe` files.
//! - [`evaluate`] (+ `evaluator.sh`): the pool of long-lived bash workers that source recipes.
//! - [`recipe_keys`]: HaikuPorter's recipe attributes and how the values bash printed are read.
//! - [`validate`]: HaikuPorter's recipe checks and per-package keys (inherited, defaulted).
//! - [`attributes`]: recipe keys → ports, packages, provides and requires.
//! - [`cache`]: the SQLite recipe cache keyed by recipe content and evaluation context.
//! - [`built`]: ports as built from an evaluation, and the key they are cached under.
//! - [`active`]: each port's active version.
//! - [`progress`]: [`EvalProgress`], how a front end hears of evaluation progress (nothing is drawn here).
//! - [`generate`]: a seeded generator of HaikuPorts-shaped trees for tests and benchmarks.

pub mod active;
pub mod attributes;
pub mod built;
pub mod cache;
pub mod evaluate;
pub mod generate;
pub mod model;
pub mod progress;
pub mod recipe_keys;
pub mod scan;
pub mod tree;
pub mod validate;

pub use progress::{EvalProgress, NoEvalProgress};
pub use tree::{EvalOptions, EvalStats, PortsError, PortsTree, DEFAULT_RECIPE_TIMEOUT};
