//! `[scratch]` in buildmaster.toml: how long scratch builds are kept and where their verdict goes.

use serde::Deserialize;

/// Default TTL of a scratch build, in hours (Koji keeps scratch builds' tasks for days, not weeks).
pub const DEFAULT_TTL_HOURS: f64 = 72.0;

fn default_ttl_hours() -> f64 {
    DEFAULT_TTL_HOURS
}

/// `[scratch]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchSection {
    /// Hours after its start when a scratch build's staged objects and directory are deleted (by
    /// `buildmaster scratch --prune` and at the start of every scratch build). Fractions allowed.
    /// Default 72.
    #[serde(default = "default_ttl_hours")]
    pub ttl_hours: f64,
    /// URL the verdict is POSTed to as JSON (`state`, `sha`, `ref`, `context`, `description`,
    /// `pipeline`); a failed call is logged, never fatal. Default none.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

impl Default for ScratchSection {
    fn default() -> Self {
        ScratchSection {
            ttl_hours: DEFAULT_TTL_HOURS,
            webhook_url: None,
        }
    }
}

impl ScratchSection {
    /// The TTL in seconds (a negative or NaN setting counts as 0: expire at once).
    pub fn ttl_seconds(&self) -> i64 {
        let secs = self.ttl_hours * 3600.0;
        if secs.is_finite() && secs > 0.0 {
            secs as i64
        } else {
            0
        }
    }
}
