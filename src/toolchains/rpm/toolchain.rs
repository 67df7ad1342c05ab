//! RPM as a [`Toolchain`](crate::toolchains::Toolchain): the flow places the job's dependency
//! `.rpm`s in a visible directory and its input files in a per-package directory, runs
//! [`RpmBuilderPaths::build_argv`], and takes the binary `.rpm`s from the per-package results
//! directory, each named from its own header ([`crate::formats::rpm::inspect`]). The shared parts
//! (placements, refusals) are [`ScriptToolchain`]'s; this file says what is RPM's.

use std::path::Path;

use super::procedure::{RpmBuilderPaths, SCRIPT_NAME};
use crate::formats::rpm::inspect::inspect;
use crate::toolchains::constant_script::{ScriptFormat, ScriptPaths, ScriptToolchain};
use crate::toolchains::work_dirs::ProcedureError;

/// Extension of RPM packages.
pub const RPM_EXTENSION: &str = ".rpm";

/// `rpmbuild` on one Linux builder.
pub type Rpmbuild = ScriptToolchain<RpmBuilderPaths>;

impl ScriptFormat for RpmBuilderPaths {
    const TOOLCHAIN_NAME: &'static str = "rpmbuild";
    const SCRIPT_NAME: &'static str = SCRIPT_NAME;
    const EXTENSION: &'static str = RPM_EXTENSION;

    fn paths(&self) -> ScriptPaths<'_> {
        ScriptPaths {
            recipe_tree: &self.recipe_tree,
            work_base: &self.work_base,
            dependencies: &self.dependencies,
        }
    }

    fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        RpmBuilderPaths::build_argv(self, source_dir)
    }

    fn result_identity(path: &Path) -> Result<String, String> {
        inspect(path)
            .map(|package| package.file_name)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchains::{Job, Toolchain};

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
