//! Debian as a [`Toolchain`](crate::toolchains::Toolchain): the flow places the job's dependency
//! `.deb`s in a visible directory and its input files in a per-source directory, runs
//! [`DebianBuilderPaths::build_argv`], and takes the `.deb`s from the per-source results directory,
//! each named from its own control file. The shared parts (placements, refusals) are
//! [`ScriptToolchain`]'s; this file says what is Debian's.

use std::path::Path;

use super::procedure::{DebianBuilderPaths, ProcedureError, SCRIPT_NAME};
use crate::formats::debian::DebianFormat;
use crate::formats::RepositoryFormat;
use crate::toolchains::constant_script::{ScriptFormat, ScriptPaths, ScriptToolchain};

/// Extension of Debian binary packages.
pub const DEB_EXTENSION: &str = ".deb";

/// `dpkg-buildpackage` on one Linux builder.
pub type DpkgBuildpackage = ScriptToolchain<DebianBuilderPaths>;

impl ScriptFormat for DebianBuilderPaths {
    const TOOLCHAIN_NAME: &'static str = "dpkg-buildpackage";
    const SCRIPT_NAME: &'static str = SCRIPT_NAME;
    const EXTENSION: &'static str = DEB_EXTENSION;

    fn paths(&self) -> ScriptPaths<'_> {
        ScriptPaths {
            recipe_tree: &self.recipe_tree,
            work_base: &self.work_base,
            dependencies: &self.dependencies,
        }
    }

    fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        DebianBuilderPaths::build_argv(self, source_dir)
    }

    fn result_identity(path: &Path) -> Result<String, String> {
        DebianFormat::default()
            .inspect(path)
            .map(|package| package.file_name)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchains::{Job, Toolchain};

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
