//! Stage → gate → promote: packages pushed into a gated instance land in a **staging** storage that no
//! client reads (a bucket without website access), their checks run, and only a green pipeline
//! **promotes** them — the same bytes copied into the served bucket (server-side where both buckets
//! share a service), linked and published. Nothing is rebuilt or uploaded again.
//!
//! - [`policy`]: `[repositories.policy]` — which checks run and which block.
//! - [`store`]: pipelines, staged packages, check results (state database).
//! - [`waivers`]: who lets a package through which failing check in which repository, until when, why.
//! - [`promotion`]: repositories promoted by hand, and the promote request.
//! - [`audit`]: the append-only audit log.
//! - [`command_check`]: lint and test commands run on a staged package.
//! - [`builder_tests`]: a package's own tests run on a builder with it installed.
//! - [`installability`]: which pipelines can be promoted together.
//! - [`flow`]: a gated push, re-evaluation after a push or a waiver, promotion.
//! - [`same_bytes`]: promotion's copy of a staged object into the served storage, checked.
//! - [`buildrun`]: the HaikuPorts repository's gate (`[publish.policy]`): which built packages'
//!   pipelines can be promoted.
//! - [`haikuports_publish`]: the HaikuPorts repository's gated publish — staging, checks, promotion.

pub mod audit;
pub mod builder_tests;
pub mod buildrun;
pub mod command_check;
pub mod flow;
pub mod haikuports_publish;
pub mod installability;
pub mod policy;
pub mod promotion;
pub mod same_bytes;
pub mod store;
pub mod waivers;

use std::path::PathBuf;

use serde::Deserialize;

/// `[gate]` in buildmaster.toml.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    /// Storage JSON (HaikuPorter's format, like `STORAGE_BACKEND_CONFIG`) of the staging storage:
    /// a bucket clients cannot read (no website access), ideally on the same S3 service as the served
    /// bucket so that promotion is a server-side copy.
    pub staging: PathBuf,
    /// Repository ids (globs) whose green pipelines wait for a promote request
    /// (`POST /api/pipelines/{id}/promote`, a token with the `promote` right) instead of being
    /// promoted at once ([`promotion`]). Default none: every green pipeline is promoted.
    #[serde(default)]
    pub manual_promotion: Vec<String>,
}
