//! HaikuPorts-format ports trees (`category/port/port-version.recipe`): finding recipes, evaluating
//! their attributes with bash the way HaikuPorter does, caching the results by recipe content, and
//! choosing each port's active version.
//!
//! # Layout
//! - [`model`]: evaluated ports, their packages and relations — what everything downstream reads.

pub mod model;
