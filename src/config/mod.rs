//! Configuration files. Config structs are the reference documentation: every field's `///` states
//! its meaning and default, and unknown keys are errors that name the key.
//!
//! - [`instance`]: `buildmaster.toml` — ports tree, buildrun policy, the daemon, the builders.
//! - [`storage`]: the JSON storage backend config (HaikuPorter's keys, plus `"backend_type": "fs"`).
//! - [`secrets`]: checks on files that hold secrets; credentials removed from URLs.

pub mod instance;
pub mod secrets;
pub mod storage;

pub use instance::InstanceConfig;
pub use storage::{ConfigError, StorageConfig};
