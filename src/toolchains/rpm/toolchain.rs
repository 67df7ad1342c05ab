//! RPM as a [`Toolchain`]: the flow places the job's dependency `.rpm`s in a visible directory and
//! its input files in a per-package directory, runs [`RpmBuilderPaths::build_argv`], and takes the
//! binary `.rpm`s from the per-package results directory, each named from its own header
//! ([`crate::formats::rpm::inspect`]).
//!
//! As for Debian, a target that would leave the tree or the work directory gets a build argument
//! vector that only fails, with the reason on stderr, and no purge or placement outside the
//! builder's directories.

use std::path::Path;

use super::procedure::{RpmBuilderPaths, SCRIPT_NAME};
use crate::formats::rpm::inspect::inspect;
use crate::toolchains::debian::procedure::ProcedureError;
use crate::toolchains::{DependencyPlacement, Job, SetupFile, Toolchain};

/// Extension of RPM packages.
pub const RPM_EXTENSION: &str = ".rpm";

/// `rpmbuild` on one Linux builder.
#[derive(Clone, Debug)]
pub struct Rpmbuild {
    /// Paths on the builder.
    paths: RpmBuilderPaths,
    /// The builder's package cache (real files; the visible directory links into it).
    cache_dir: String,
}

impl Rpmbuild {
    /// The toolchain for a builder with these paths.
    pub fn new(paths: RpmBuilderPaths, cache_dir: String) -> Self {
        Self { paths, cache_dir }
    }

    /// Where refused targets and inputs go: a directory under the work base no build reads (no
    /// package name starts with '.').
    fn quarantine(&self) -> String {
        format!("{}/.refused", self.paths.work_base)
    }
}

/// An argument vector that fails the build, printing why: what a refused target runs.
fn refusal(error: ProcedureError) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        r#"printf '%s\n' "$1" >&2; exit 2"#.into(),
        SCRIPT_NAME.into(),
        error.to_string(),
    ]
}

impl Toolchain for Rpmbuild {
    fn name(&self) -> &'static str {
        "rpmbuild"
    }

    fn setup_files(&self) -> Vec<SetupFile> {
        // rpmbuild and rpm are builder prerequisites (docs/toolchains.md); the build script
        // travels in the argument vector.
        Vec::new()
    }

    fn work_dir(&self, _job: Job<'_>) -> String {
        self.paths.recipe_tree.clone()
    }

    fn build_argv(&self, job: Job<'_>) -> Vec<String> {
        self.paths.build_argv(job.target).unwrap_or_else(refusal)
    }

    fn purge_argv(&self, job: Job<'_>) -> Option<Vec<String>> {
        self.paths.purge_argv(job.target).ok()
    }

    fn dependencies(&self) -> DependencyPlacement {
        DependencyPlacement {
            cache_dir: self.cache_dir.clone(),
            visible_dir: self.paths.dependencies.clone(),
            extension: RPM_EXTENSION,
        }
    }

    fn input_path(&self, job: Job<'_>, _recipe_dir: &str, file_name: &str) -> String {
        self.paths
            .input_path(job.target, file_name)
            .unwrap_or_else(|_| format!("{}/input", self.quarantine()))
    }

    fn results_dir(&self, job: Job<'_>) -> String {
        self.paths
            .results_dir(job.target)
            .unwrap_or_else(|_| self.quarantine())
    }

    fn result_identity(&self, path: &Path) -> Result<String, String> {
        inspect(path)
            .map(|package| package.file_name)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toolchain() -> Rpmbuild {
        Rpmbuild::new(
            RpmBuilderPaths {
                recipe_tree: "/srv/tree".into(),
                work_base: "/srv/work".into(),
                dependencies: "/srv/deps".into(),
            },
            "/srv/cache".into(),
        )
    }

    #[test]
    fn places_and_builds_under_the_builders_directories() {
        let t = toolchain();
        let job = Job { target: "greet" };
        assert_eq!(t.build_argv(job)[6], "/srv/tree/greet");
        assert_eq!(t.results_dir(job), "/srv/work/results/greet");
        assert_eq!(
            t.input_path(job, "greet", "greet-2.0.tar.gz"),
            "/srv/work/inputs/greet/greet-2.0.tar.gz"
        );
        assert_eq!(t.dependencies().extension, ".rpm");
    }

    #[test]
    fn a_target_leaving_the_tree_only_fails() {
        let t = toolchain();
        let job = Job { target: "../../etc" };
        assert!(t.build_argv(job)[4].contains("../../etc"));
        assert_eq!(t.purge_argv(job), None);
        assert!(t.results_dir(job).starts_with("/srv/work/.refused"));
    }
}
