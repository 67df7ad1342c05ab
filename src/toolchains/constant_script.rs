//! The [`Toolchain`] of a format whose build is one constant script given its inputs as parameters
//! (Debian's and RPM's `build.sh`), written once: the build and purge argument vectors, the
//! per-package placement of inputs and results ([`WorkDirs`]), the dependency directory, and what a
//! refused target gets. A format says only what differs — its names, its package extension, its
//! build argument vector and how a result file names itself — through [`ScriptFormat`].
//!
//! The trait's methods cannot fail, but a job's target is a path from a recipe tree; a target that
//! would leave the tree or the work directory gets a build argument vector that only fails, with the
//! reason on stderr (so the build log names it), and no purge or placement outside the builder's
//! directories.

use std::path::Path;

use super::work_dirs::{ProcedureError, WorkDirs};
use super::{DependencyPlacement, Job, SetupFile, Toolchain};

/// What differs between constant-script formats: implemented by each format's builder paths.
pub trait ScriptFormat: Clone + Send + Sync + std::fmt::Debug {
    /// The toolchain's short name for logs and errors (`dpkg-buildpackage`, `rpmbuild`).
    const TOOLCHAIN_NAME: &'static str;
    /// `$0` of the format's script, which `sh` puts in its error messages (and a refusal uses too).
    const SCRIPT_NAME: &'static str;
    /// The file name extension of the format's packages, with the dot.
    const EXTENSION: &'static str;

    /// Where the build lives on the builder.
    fn paths(&self) -> ScriptPaths<'_>;

    /// The argument vector that builds `source_dir` (a directory of the recipe tree).
    fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError>;

    /// The canonical file name of the package at `path`, read from its own metadata.
    fn result_identity(path: &Path) -> Result<String, String>;
}

/// The paths every constant-script format has on its builder, borrowed from the format's own
/// builder paths (which add what only that format needs, such as Debian's build root tarball).
#[derive(Clone, Copy, Debug)]
pub struct ScriptPaths<'a> {
    /// The builder's copy of the recipe tree (where build and purge commands run).
    pub recipe_tree: &'a str,
    /// The base of the per-package directories ([`WorkDirs`]).
    pub work_base: &'a str,
    /// The directory holding exactly the job's dependency packages.
    pub dependencies: &'a str,
}

impl<'a> ScriptPaths<'a> {
    /// The per-package directories under [`Self::work_base`].
    pub fn dirs(&self) -> WorkDirs<'a> {
        WorkDirs {
            work_base: self.work_base,
        }
    }
}

/// A constant-script build tool on one Linux builder.
#[derive(Clone, Debug)]
pub struct ScriptToolchain<P> {
    /// Paths on the builder.
    paths: P,
    /// The builder's package cache (real files; the visible directory links into it).
    cache_dir: String,
}

impl<P: ScriptFormat> ScriptToolchain<P> {
    /// The toolchain for a builder with these paths.
    pub fn new(paths: P, cache_dir: String) -> Self {
        Self { paths, cache_dir }
    }
}

/// An argument vector that fails the build, printing why: what a refused target runs.
fn refusal(script_name: &str, error: ProcedureError) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        r#"printf '%s\n' "$1" >&2; exit 2"#.into(),
        script_name.into(),
        error.to_string(),
    ]
}

impl<P: ScriptFormat> Toolchain for ScriptToolchain<P> {
    fn name(&self) -> &'static str {
        P::TOOLCHAIN_NAME
    }

    fn setup_files(&self) -> Vec<SetupFile> {
        // The tools (and Debian's build root tarball, far too large to write at every connect) are
        // builder prerequisites (docs/toolchains.md); the build script travels in the argument vector.
        Vec::new()
    }

    fn work_dir(&self, _job: Job<'_>) -> String {
        self.paths.paths().recipe_tree.to_owned()
    }

    fn build_argv(&self, job: Job<'_>) -> Vec<String> {
        self.paths
            .build_argv(job.target)
            .unwrap_or_else(|error| refusal(P::SCRIPT_NAME, error))
    }

    fn purge_argv(&self, job: Job<'_>) -> Option<Vec<String>> {
        self.paths.paths().dirs().purge_argv(job.target).ok()
    }

    fn dependencies(&self) -> DependencyPlacement {
        DependencyPlacement {
            cache_dir: self.cache_dir.clone(),
            visible_dir: self.paths.paths().dependencies.to_owned(),
            extension: P::EXTENSION,
        }
    }

    fn input_path(&self, job: Job<'_>, _recipe_dir: &str, file_name: &str) -> String {
        let dirs = self.paths.paths().dirs();
        dirs.input_path(job.target, file_name)
            .unwrap_or_else(|_| format!("{}/input", dirs.quarantine()))
    }

    fn results_dir(&self, job: Job<'_>) -> String {
        let dirs = self.paths.paths().dirs();
        dirs.results_dir(job.target).unwrap_or_else(|_| dirs.quarantine())
    }

    fn result_identity(&self, path: &Path) -> Result<String, String> {
        P::result_identity(path)
    }
}
