//! Configuration files. Config structs are the reference documentation: every field's `///` states
//! its meaning and default, and unknown keys are errors that name the key.
//!
//! - [`storage`]: the JSON storage backend config (HaikuPorter's keys, plus `"backend_type": "fs"`).

pub mod storage;

pub use storage::{ConfigError, StorageConfig};
