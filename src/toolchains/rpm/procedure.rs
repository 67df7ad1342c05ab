//! The RPM build on a Linux builder as argument vectors: copy the package directory's files beside
//! the spec, make the SRPM as `rpmbuild -bs` does, install the streamed dependency RPMs into a
//! throwaway root with its own rpmdb, and `rpmbuild --rebuild` the SRPM inside `unshare --net`,
//! checking BuildRequires against that rpmdb. The steps are the constant script `build.sh`, given
//! its inputs as positional parameters (`sh -c SCRIPT NAME ARGS…`), so the builder runs one argument
//! vector and no input is ever pasted into shell text.
//!
//! Runs as root on the builder (`unshare --net`; `rpm --root`). The paths' checks are Debian's
//! ([`crate::toolchains::debian::procedure`]): the same rules keep a target inside the tree and
//! the work base.

use crate::toolchains::debian::procedure::{source_name, ProcedureError};

/// The step script; see its header for the parameters.
pub const BUILD_SCRIPT: &str = include_str!("build.sh");

/// `$0` of the script, which `sh` puts in its error messages.
pub const SCRIPT_NAME: &str = "buildmaster-rpm-build";

/// Paths on an RPM builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmBuilderPaths {
    /// The builder's copy of the recipe tree: package directories are under it.
    pub recipe_tree: String,
    /// Holds, per package name, `build/<name>` (the work directory, removed by the purge),
    /// `inputs/<name>` (input files, placed before the purge that precedes a build) and
    /// `results/<name>` (the binary RPMs, kept until the next build of that package).
    pub work_base: String,
    /// The directory holding exactly the job's dependency `.rpm`s.
    pub dependencies: String,
}

impl RpmBuilderPaths {
    /// The work directory of the build of `source_dir` (a directory of the recipe tree).
    pub fn work_dir(&self, source_dir: &str) -> Result<String, ProcedureError> {
        self.under("build", source_dir)
    }

    /// `<work_base>/<kind>/<package name>`.
    fn under(&self, kind: &str, source_dir: &str) -> Result<String, ProcedureError> {
        Ok(format!("{}/{kind}/{}", self.work_base, source_name(source_dir)?))
    }

    /// Where the binary RPMs are left.
    pub fn results_dir(&self, source_dir: &str) -> Result<String, ProcedureError> {
        self.under("results", source_dir)
    }

    /// Where input file `file_name` of the build of `source_dir` is placed.
    pub fn input_path(&self, source_dir: &str, file_name: &str) -> Result<String, ProcedureError> {
        let plain = !file_name.is_empty() && !file_name.contains('/') && !file_name.starts_with('.');
        if !plain {
            return Err(ProcedureError::BadInputName(file_name.to_owned()));
        }
        Ok(format!("{}/{file_name}", self.under("inputs", source_dir)?))
    }

    /// The argument vector that builds `source_dir`, whose spec is `<its last component>.spec`.
    pub fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        let name = source_name(source_dir)?;
        Ok(vec![
            "sh".into(),
            "-eu".into(),
            "-c".into(),
            BUILD_SCRIPT.into(),
            SCRIPT_NAME.into(),
            self.work_dir(source_dir)?,
            format!("{}/{source_dir}", self.recipe_tree),
            self.dependencies.clone(),
            self.under("inputs", source_dir)?,
            self.results_dir(source_dir)?,
            format!("{name}.spec"),
        ])
    }

    /// The argument vector that removes the build's work directory (topdir, dependency root).
    pub fn purge_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        Ok(vec![
            "rm".into(),
            "-rf".into(),
            "--one-file-system".into(),
            self.work_dir(source_dir)?,
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
            assert!(paths().purge_argv(bad).is_err(), "{bad:?} accepted");
        }
        assert!(paths().input_path("a", "../x").is_err());
    }
}
