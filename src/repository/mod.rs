//! Repository-level logic above the file formats.
//!
//! - [`check`]: `buildmaster repo check`, HaikuPorter's consistency report: is every `requires` of
//!   every package resolvable within the repository plus the system packages?

pub mod check;
