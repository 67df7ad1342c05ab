//! Debian as a [`Toolchain`]: the flow places the job's dependency `.deb`s in a visible directory
//! and its input files in a per-source directory, runs [`DebianBuilderPaths::build_argv`], and takes
//! the `.deb`s from the per-source results directory, each named from its own control file.
//!
//! The trait's methods cannot fail, but a job's target is a path from a recipe tree; a target that
//! would leave the tree or the work directory gets a build argument vector that only fails, with the
//! reason on stderr (so the build log names it), and no purge or placement outside the builder's
//! directories.

use std::path::Path;

use super::procedure::{DebianBuilderPaths, ProcedureError};
use crate::formats::debian::DebianFormat;
use crate::formats::RepositoryFormat;
use crate::toolchains::{DependencyPlacement, Job, SetupFile, Toolchain};

/// Extension of Debian binary packages.
pub const DEB_EXTENSION: &str = ".deb";

/// `dpkg-buildpackage` on one Linux builder.
#[derive(Clone, Debug)]
pub struct DpkgBuildpackage {
    /// Paths on the builder.
    paths: DebianBuilderPaths,
    /// The builder's package cache (real files; the visible directory links into it).
    cache_dir: String,
}

impl DpkgBuildpackage {
    /// The toolchain for a builder with these paths.
    pub fn new(paths: DebianBuilderPaths, cache_dir: String) -> Self {
        Self { paths, cache_dir }
    }
}

/// An argument vector that fails the build, printing why: what a refused target runs.
fn refusal(error: ProcedureError) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        r#"printf '%s\n' "$1" >&2; exit 2"#.into(),
        "buildmaster-debian-build".into(),
        error.to_string(),
    ]
}

/// A path for a refused target or input: a directory under the work base that no build reads (no
/// source name starts with '.'), so nothing the flow writes there reaches a build or leaves the
/// builder's directories.
fn quarantine(paths: &DebianBuilderPaths) -> String {
    format!("{}/.refused", paths.work_base)
}

impl Toolchain for DpkgBuildpackage {
    fn name(&self) -> &'static str {
        "dpkg-buildpackage"
    }

    fn setup_files(&self) -> Vec<SetupFile> {
        // The build root tarball is a builder prerequisite (docs/toolchains.md), far too large to
        // write at every connect; the build script travels in the argument vector.
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
            extension: DEB_EXTENSION,
        }
    }

    fn input_path(&self, job: Job<'_>, _recipe_dir: &str, file_name: &str) -> String {
        self.paths
            .input_path(job.target, file_name)
            .unwrap_or_else(|_| format!("{}/input", quarantine(&self.paths)))
    }

    fn results_dir(&self, job: Job<'_>) -> String {
        self.paths
            .results_dir(job.target)
            .unwrap_or_else(|_| quarantine(&self.paths))
    }

    fn result_identity(&self, path: &Path) -> Result<String, String> {
        DebianFormat::default()
            .inspect(path)
            .map(|package| package.file_name)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toolchain() -> DpkgBuildpackage {
        DpkgBuildpackage::new(
            DebianBuilderPaths {
                root_tarball: "/var/cache/bm/root.tar".into(),
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
        let job = Job { target: "libgreet" };
        assert_eq!(t.build_argv(job)[7], "/srv/tree/libgreet");
        assert_eq!(
            t.purge_argv(job).unwrap(),
            ["rm", "-rf", "--one-file-system", "/srv/work/build/libgreet"]
        );
        assert_eq!(t.results_dir(job), "/srv/work/results/libgreet");
        assert_eq!(
            t.input_path(job, "libgreet", "libgreet_1.0.orig.tar.xz"),
            "/srv/work/inputs/libgreet/libgreet_1.0.orig.tar.xz"
        );
        let deps = t.dependencies();
        assert_eq!((deps.visible_dir.as_str(), deps.extension), ("/srv/deps", ".deb"));
    }

    #[test]
    fn a_target_leaving_the_tree_only_fails() {
        let t = toolchain();
        let job = Job { target: "../../etc" };
        let argv = t.build_argv(job);
        assert_eq!(argv[0], "sh");
        assert!(argv[4].contains("../../etc"), "{argv:?}");
        assert_eq!(t.purge_argv(job), None);
        assert!(t.results_dir(job).starts_with("/srv/work/.refused"));
        assert!(t
            .input_path(Job { target: "a" }, "a", "../x")
            .starts_with("/srv/work/.refused"));
    }
}
