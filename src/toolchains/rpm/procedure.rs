//! The RPM build on a Linux builder as argument vectors: copy the package directory's files beside
//! the spec, make the SRPM as `rpmbuild -bs` does, install the streamed dependency RPMs into a
//! throwaway root with its own rpmdb, and `rpmbuild --rebuild` the SRPM inside `unshare --net`,
//! checking BuildRequires against that rpmdb. The steps are the constant script `build.sh`, given
//! its inputs as positional parameters (`sh -c SCRIPT NAME ARGS…`), so the builder runs one argument
//! vector and no input is ever pasted into shell text.
//!
//! Runs as root on the builder (`unshare --net`; `rpm --root`). The per-package directories and
//! their checks are shared with Debian ([`crate::toolchains::work_dirs`]): the same rules keep a
//! target inside the tree and the work base.

use crate::toolchains::work_dirs::{source_name, ProcedureError, WorkDirs};

/// The step script; see its header for the parameters.
pub const BUILD_SCRIPT: &str = include_str!("build.sh");

/// `$0` of the script, which `sh` puts in its error messages.
pub const SCRIPT_NAME: &str = "buildmaster-rpm-build";

/// Paths on an RPM builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmBuilderPaths {
    /// The builder's copy of the recipe tree: package directories are under it.
    pub recipe_tree: String,
    /// Holds the per-package directories ([`WorkDirs`]); the results are the binary RPMs.
    pub work_base: String,
    /// The directory holding exactly the job's dependency `.rpm`s.
    pub dependencies: String,
}

impl RpmBuilderPaths {
    /// The per-package directories under [`Self::work_base`].
    pub fn dirs(&self) -> WorkDirs<'_> {
        WorkDirs {
            work_base: &self.work_base,
        }
    }

    /// The argument vector that builds `source_dir`, whose spec is `<its last component>.spec`.
    pub fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        let name = source_name(source_dir)?;
        let dirs = self.dirs();
        Ok(vec![
            "sh".into(),
            "-eu".into(),
            "-c".into(),
            BUILD_SCRIPT.into(),
            SCRIPT_NAME.into(),
            dirs.work_dir(source_dir)?,
            format!("{}/{source_dir}", self.recipe_tree),
            self.dependencies.clone(),
            dirs.inputs_dir(source_dir)?,
            dirs.results_dir(source_dir)?,
            format!("{name}.spec"),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> RpmBuilderPaths {
        RpmBuilderPaths {
            recipe_tree: "/srv/tree".into(),
            work_base: "/srv/work".into(),
            dependencies: "/srv/deps".into(),
        }
    }

    #[test]
    fn inputs_are_parameters_never_script_text() {
        let argv = paths().build_argv("it's $(x)").unwrap();
        assert_eq!(&argv[..5], ["sh", "-eu", "-c", BUILD_SCRIPT, SCRIPT_NAME]);
        assert_eq!(
            &argv[5..],
            [
                "/srv/work/build/it's $(x)",
                "/srv/tree/it's $(x)",
                "/srv/deps",
                "/srv/work/inputs/it's $(x)",
                "/srv/work/results/it's $(x)",
                "it's $(x).spec",
            ]
        );
    }

    #[test]
    fn refuses_paths_leaving_the_tree() {
        for bad in ["", "/etc", "../x", "a/../../b", ".", "a/.hidden"] {
            assert!(paths().build_argv(bad).is_err(), "{bad:?} accepted");
            assert!(paths().dirs().purge_argv(bad).is_err(), "{bad:?} accepted");
        }
        assert!(paths().dirs().input_path("a", "../x").is_err());
    }
}
