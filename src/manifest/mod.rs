//! The job manifest: every input of one build by name, SHA-256 and size — the ports tree revision and
//! recipe, each source from the source cache, each dependency package, the build command's argument
//! vector, working directory and environment — and where each file goes on the builder.
//!
//! It is recorded with the build ([`store`]), served by the API
//! (`GET /api/buildruns/{n}/builds/{b}/manifest`), and its [`JobManifest::builder_inputs`] is what the
//! builder checks before the build starts: a missing or different file fails the build naming it, and
//! nothing is fetched from anywhere else.
//!
//! Serialised as JSON with a fixed field order (struct declaration order; sources by index,
//! dependencies by file name, environment by name), so equal inputs give equal bytes and
//! [`JobManifest::digest`] — the SHA-256 of the inputs part — changes exactly when an input does.
//! The build's identity (buildrun, build number, builder) is kept beside the inputs, not in the
//! digest: the same inputs rebuilt on another builder with the same paths have the same digest. The
//! paths on the builder (`placed_as`, the command's argument vector and directory) are inputs too, so
//! a builder laid out differently gives another digest for the same files — a rebuild compares the
//! files by their own SHA-256, not the manifests' digests (`buildmaster rebuild`).
//!
//! # Layout
//! - this file: the types, their checks, JSON and digest.
//! - [`store`]: the `build_manifests` table of the state database.

pub mod store;

use std::collections::BTreeMap;

use buildmaster_storage::Sha256Digest;
use serde::{Deserialize, Serialize};

/// Version of the manifest's shape; bumped when a field changes meaning.
pub const MANIFEST_FORMAT: u32 = 1;

/// Words that mark an environment variable as a secret: a manifest is served to anyone who can read
/// the API, so such a variable is refused rather than recorded.
const SECRET_MARKERS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE",
    "API_KEY",
];

/// Which build a manifest belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildIdentity {
    /// The buildrun.
    pub buildrun: u64,
    /// The build number (global, as HaikuPorter's).
    pub build_number: u64,
    /// The builder it runs on.
    pub builder: String,
}

/// One source archive, from the source cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// HaikuPorter's source index (`1`, `2`, …).
    pub source_index: String,
    /// The file name the build tool expects (`SOURCE_FILENAME` or from the URI).
    pub file_name: String,
    /// The URI the recipe names (for HaikuPorter's `<file>.uri` beside the file; never fetched on the builder).
    pub uri: String,
    /// Lowercase hex SHA-256; the cache key is `sources/sha256/<this>`.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Absolute path on the builder.
    pub placed_as: String,
}

/// One dependency package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageInput {
    /// Canonical file name (`libfoo-1.2-1-x86_64.hpkg`).
    pub file_name: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Absolute path on the builder.
    pub placed_as: String,
}

/// The command the builder runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildCommand {
    /// The argument vector (never a shell line).
    pub argv: Vec<String>,
    /// The directory it runs in.
    pub work_dir: String,
    /// Every environment variable set for it, by name (no secrets: refused by [`JobManifest::new`]).
    pub env: BTreeMap<String, String>,
}

/// Everything a build consumes: what the digest covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobInputs {
    /// The port's `name-version`.
    pub port: String,
    /// The recipe, relative to the ports tree.
    pub recipe: String,
    /// The ports tree's git revision, when the tree is a git checkout.
    pub tree_revision: Option<String>,
    /// Sources, by index.
    pub sources: Vec<SourceInput>,
    /// Dependency packages, by file name.
    pub dependencies: Vec<PackageInput>,
    /// The build command.
    pub command: BuildCommand,
}

/// A build's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Which build.
    pub build: BuildIdentity,
    /// Lowercase hex SHA-256 of the canonical JSON of `inputs` ([`JobManifest::digest`]).
    pub inputs_sha256: String,
    /// What the build consumes.
    pub inputs: JobInputs,
    /// Canonical file names of the packages the build must produce: what a rebuild from this
    /// manifest fetches and compares. An output, not an input, so not in the digest; absent in
    /// manifests recorded before it existed.
    #[serde(default)]
    pub results: Vec<String>,
}

/// Which kind of file a builder input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A source archive.
    Source,
    /// A dependency package.
    Dependency,
}

/// One file the builder must have, byte for byte, before the build starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuilderInput {
    /// What it is.
    pub kind: InputKind,
    /// Its name for messages (`source 1 (foo-1.0.tar.gz)`, `libbar-2-1-x86_64.hpkg`).
    pub name: String,
    /// Absolute path on the builder.
    pub path: String,
    /// Its SHA-256.
    pub sha256: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A manifest that must not be recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// An environment variable whose name marks it as a secret.
    #[error("build of {port}: environment variable {name} looks like a secret and would be published in the job \
             manifest; pass secrets to the builder another way (its own configuration), not in the build environment")]
    SecretInEnvironment {
        /// The port.
        port: String,
        /// The variable.
        name: String,
    },
    /// An input whose digest is not 64 hex digits.
    #[error("build of {port}: input {input} has no valid SHA-256 ({value:?})")]
    BadDigest {
        /// The port.
        port: String,
        /// The input.
        input: String,
        /// What was given.
        value: String,
    },
    /// Two inputs placed at the same path.
    #[error("build of {port}: two inputs would be placed at {path}")]
    SamePath {
        /// The port.
        port: String,
        /// The path.
        path: String,
    },
}

impl JobManifest {
    /// A manifest of `inputs` for `build`: inputs put in their canonical order, checked (no secret in
    /// the environment, every digest valid, no two files at one path), and digested.
    pub fn new(build: BuildIdentity, mut inputs: JobInputs) -> Result<JobManifest, ManifestError> {
        let port = inputs.port.clone();
        if let Some(name) = inputs.command.env.keys().find(|name| looks_secret(name)) {
            return Err(ManifestError::SecretInEnvironment {
                port,
                name: name.clone(),
            });
        }
        inputs
            .sources
            .sort_by(|a, b| crate::natural_order::natural_compare(&a.source_index, &b.source_index));
        inputs.dependencies.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        let mut manifest = JobManifest {
            format: MANIFEST_FORMAT,
            build,
            inputs_sha256: String::new(),
            inputs,
            results: Vec::new(),
        };
        let mut paths = std::collections::HashSet::new();
        for input in manifest.builder_inputs_checked()? {
            if !paths.insert(input.path.clone()) {
                return Err(ManifestError::SamePath {
                    port,
                    path: input.path,
                });
            }
        }
        manifest.inputs_sha256 = manifest.digest().to_hex();
        Ok(manifest)
    }

    /// The same manifest, naming the packages the build must produce.
    pub fn with_results(mut self, mut results: Vec<String>) -> JobManifest {
        results.sort();
        self.results = results;
        self
    }

    /// SHA-256 of the canonical JSON of the inputs.
    pub fn digest(&self) -> Sha256Digest {
        // Serialising plain structs, strings and integers cannot fail.
        let json = serde_json::to_vec(&self.inputs).unwrap_or_default();
        Sha256Digest::of(&json)
    }

    /// The manifest as JSON (fields in their fixed order).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Every file the builder must have before the build starts: sources, then dependencies.
    pub fn builder_inputs(&self) -> Vec<BuilderInput> {
        // Digests were checked when the manifest was made (and are checked again when one is read).
        self.builder_inputs_checked().unwrap_or_default()
    }

    fn builder_inputs_checked(&self) -> Result<Vec<BuilderInput>, ManifestError> {
        let digest = |input: String, value: &str| {
            Sha256Digest::from_hex(value)
                .filter(|_| value.len() == 64)
                .ok_or_else(|| ManifestError::BadDigest {
                    port: self.inputs.port.clone(),
                    input,
                    value: value.to_owned(),
                })
        };
        let mut out = Vec::new();
        for source in &self.inputs.sources {
            let name = format!("source {} ({})", source.source_index, source.file_name);
            out.push(BuilderInput {
                kind: InputKind::Source,
                sha256: digest(name.clone(), &source.sha256)?,
                name,
                path: source.placed_as.clone(),
                size: source.size,
            });
        }
        for package in &self.inputs.dependencies {
            out.push(BuilderInput {
                kind: InputKind::Dependency,
                sha256: digest(package.file_name.clone(), &package.sha256)?,
                name: package.file_name.clone(),
                path: package.placed_as.clone(),
                size: package.size,
            });
        }
        Ok(out)
    }
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|marker| upper.contains(marker))
}

#[cfg(test)]
mod tests;
