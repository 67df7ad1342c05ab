//! Build planning: resolving ports' requirements against the published repository, the system
//! packages and the ports about to be built, and deciding what a buildrun builds, in which order, and
//! why every other requested port is not built.
//!
//! # Layout
//! - [`model`]: the plan — builds with their edges, skipped ports with reasons.

pub mod model;
