//! One build again from its job manifest alone, on a builder the operator names (`buildmaster
//! rebuild`): the recorded inputs are placed on that builder by their digests — each source from the
//! source cache (`sources/sha256/<hex>`), each dependency from wherever the master keeps packages
//! (the package record's storage object, the spool, the system packages), accepted only with the
//! manifest's SHA-256 — the builder's ports tree is brought to the manifest's tree revision, and the
//! build runs through the same builder flow as a buildrun's (inputs checked before it starts, without
//! network when the builder says so). Its results go to a directory of the operator's choosing, so
//! they can be compared with the recorded build's without touching the spool.
//!
//! Paths and the build command are the new builder's own ([`inputs::for_builder`]): a manifest's
//! digests name its inputs, not where one builder keeps them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::{Sha256Digest, StorageBackend};
use tokio_util::sync::CancellationToken;

use super::inputs::{self, BuilderSide};
use super::{deps, fleet};
use crate::builders::build::{BuildOutcome, BuildRequest, ResultDirs};
use crate::builders::config::NetworkMode;
use crate::builders::error::BuilderError;
use crate::builders::exec::OutputSink;
use crate::builders::remote::RemoteBuilder;
use crate::builders::state::ReconnectPolicy;
use crate::config::instance::InstanceConfig;
use crate::manifest::JobManifest;
use crate::state::StateDir;

/// Why a rebuild could not run, or failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The manifest file cannot be read or is not a valid manifest.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No configured builder has the name given.
    #[error("no builder is called {name:?} (configured: {known}); name one of [[builders]]")]
    NoSuchBuilder {
        /// The name given.
        name: String,
        /// The names configured.
        known: String,
    },
    /// The builders' configuration is invalid (boxed: the error type stays small).
    #[error(transparent)]
    Config(Box<super::BuildrunError>),
    /// An input of the manifest cannot be supplied (a dependency the master does not have).
    #[error("rebuild of {port}: {message}")]
    Inputs {
        /// The port.
        port: String,
        /// What is missing and where it was looked for.
        message: String,
    },
    /// The builder failed: connecting, placing an input, the build itself, its results (boxed).
    #[error(transparent)]
    Builder(Box<BuilderError>),
}

impl From<super::BuildrunError> for RebuildError {
    fn from(e: super::BuildrunError) -> Self {
        RebuildError::Config(Box::new(e))
    }
}

impl From<BuilderError> for RebuildError {
    fn from(e: BuilderError) -> Self {
        RebuildError::Builder(Box::new(e))
    }
}

/// What to rebuild, where, and where its results go.
pub struct Rebuild<'a> {
    /// The state directory (spool, database, packages).
    pub state: &'a StateDir,
    /// The instance configuration (builders, ports tree sync).
    pub config: &'a InstanceConfig,
    /// A HaikuPorter builders directory instead of `[[builders]]`, if given.
    pub builders_dir: Option<&'a Path>,
    /// Storage: the source cache and stubbed packages.
    pub storage: Option<Arc<dyn StorageBackend>>,
    /// The builder to rebuild on.
    pub builder: &'a str,
    /// Where the results are committed.
    pub out: &'a Path,
}

/// Reads a manifest file (as served by `GET /api/buildruns/{n}/builds/{b}/manifest`), checking its
/// digest.
pub fn read_manifest(path: &Path) -> Result<JobManifest, RebuildError> {
    let fail = |message: String| RebuildError::Manifest {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let manifest: JobManifest = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    if manifest.digest().to_hex() != manifest.inputs_sha256 {
        return Err(fail(format!(
            "its inputs do not match its inputs_sha256 {} (edited or damaged)",
            manifest.inputs_sha256
        )));
    }
    if manifest.results.is_empty() {
        return Err(fail(
            "it names no results (recorded before manifests listed them): nothing to rebuild and compare"
                .into(),
        ));
    }
    Ok(manifest)
}

/// Rebuilds `manifest` as `r` says; returns the build's outcome (its verified results in `r.out`).
pub async fn rebuild(
    r: &Rebuild<'_>,
    manifest: &JobManifest,
    sink: OutputSink<'_>,
    cancel: &CancellationToken,
) -> Result<BuildOutcome, RebuildError> {
    let port = manifest.inputs.port.clone();
    let specs = fleet::builder_specs(r.state, r.config, r.builders_dir)?;
    let known = specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let spec = specs
        .iter()
        .find(|s| s.name == r.builder)
        .cloned()
        .ok_or_else(|| RebuildError::NoSuchBuilder {
            name: r.builder.to_owned(),
            known,
        })?;
    let dirs = ResultDirs {
        staging: r.out.join(".staging"),
        commit: r.out.to_owned(),
    };
    let offline = spec.network == NetworkMode::None;
    // The builder's own toolchain (`[[builders]] toolchain`), refused when it cannot build the tree.
    let toolchain = fleet::toolchain_for(&spec, r.config)?;
    let mut builder = RemoteBuilder::new(
        spec,
        r.storage.clone(),
        fleet::conf_values(r.config),
        dirs,
        ReconnectPolicy::default(),
    );
    if let Some(toolchain) = toolchain {
        builder = builder.with_toolchain(toolchain);
    }
    let side = BuilderSide {
        name: builder.name().to_owned(),
        toolchain: builder.toolchain().clone(),
        storage: r.storage.clone(),
        offline,
    };
    let inputs_error = |message: String| RebuildError::Inputs {
        port: port.clone(),
        message,
    };
    let here = inputs::for_builder(manifest.build.clone(), manifest.inputs.clone(), &side)
        .map_err(inputs_error)?
        .with_results(manifest.results.clone());
    let system_dir = r.config.system_packages(r.state.root());
    let dependencies = here
        .inputs
        .dependencies
        .iter()
        .map(|d| {
            let sha256 = Sha256Digest::from_hex(&d.sha256)
                .ok_or_else(|| format!("{} has no valid SHA-256", d.file_name))?;
            deps::by_digest(r.state, system_dir.as_deref(), &d.file_name, d.size, sha256)
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(inputs_error)?;
    let tree = r.config.ports_tree(r.state.root());
    let request = BuildRequest {
        number: manifest.build.build_number,
        port: port.clone(),
        dependencies,
        inputs: inputs::placed_inputs(
            &here,
            &r.state.root().join(super::run::MADE_INPUTS_DIR),
            side.toolchain.as_ref(),
        )
        .map_err(inputs_error)?,
        results: here.results.clone(),
        ports_tree: super::run::ports_sync(r.config, &tree, here.inputs.tree_revision.as_deref()),
    };
    builder.connect().await?;
    let outcome = builder.build(&request, sink, cancel).await;
    builder.disconnect().await;
    Ok(outcome?)
}
