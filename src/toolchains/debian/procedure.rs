//! The Debian build on a Linux builder as argument vectors: unpack the build root (made once by
//! `mmdebstrap --variant=buildd`), copy the source package in, install the streamed dependency
//! `.deb`s with `dpkg`, run `dpkg-buildpackage --build=binary --no-sign` — the last two inside
//! `unshare --net` and `chroot`. The steps are the constant script `build.sh`, given its inputs as
//! positional parameters (`sh -c SCRIPT NAME ARGS…`), so the builder runs one argument vector and no
//! input is ever pasted into shell text.
//!
//! Runs as root on the builder (chroot, device nodes from the tarball, `unshare --net`). A non-root
//! builder would need the root made by `mmdebstrap --mode=unshare` and the script run under
//! `unshare --map-root-user --net` (user namespaces enabled); not done here.

pub use crate::toolchains::work_dirs::ProcedureError;
use crate::toolchains::work_dirs::WorkDirs;

/// The step script; see its header for the parameters.
pub const BUILD_SCRIPT: &str = include_str!("build.sh");

/// `$0` of the script, which `sh` puts in its error messages.
pub const SCRIPT_NAME: &str = "buildmaster-debian-build";

/// Paths on a Debian builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianBuilderPaths {
    /// The build root tarball (`mmdebstrap --variant=buildd --format=tar bookworm FILE`).
    pub root_tarball: String,
    /// The builder's copy of the recipe tree: source package directories are under it.
    pub recipe_tree: String,
    /// Holds the per-source directories ([`WorkDirs`]); the results are the `.deb`, `.buildinfo`
    /// and `.changes` files.
    pub work_base: String,
    /// The directory holding exactly the job's dependency `.deb`s.
    pub dependencies: String,
}

impl DebianBuilderPaths {
    /// The per-source directories under [`Self::work_base`].
    pub fn dirs(&self) -> WorkDirs<'_> {
        WorkDirs {
            work_base: &self.work_base,
        }
    }

    /// The argument vector that builds `source_dir`.
    pub fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        let dirs = self.dirs();
        Ok(vec![
            "sh".into(),
            "-eu".into(),
            "-c".into(),
            BUILD_SCRIPT.into(),
            SCRIPT_NAME.into(),
            self.root_tarball.clone(),
            dirs.work_dir(source_dir)?,
            format!("{}/{source_dir}", self.recipe_tree),
            self.dependencies.clone(),
            dirs.inputs_dir(source_dir)?,
            dirs.results_dir(source_dir)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> DebianBuilderPaths {
        DebianBuilderPaths {
            root_tarball: "/var/cache/bm/root.tar".into(),
            recipe_tree: "/srv/tree".into(),
            work_base: "/srv/work".into(),
            dependencies: "/srv/deps".into(),
        }
    }

    #[test]
    fn inputs_are_parameters_never_script_text() {
        let argv = paths().build_argv("pkgs/it's $(x)").unwrap();
        assert_eq!(&argv[..3], ["sh", "-eu", "-c"]);
        assert_eq!(argv[3], BUILD_SCRIPT);
        assert_eq!(argv[6], "/srv/work/build/it's $(x)");
        assert_eq!(argv[7], "/srv/tree/pkgs/it's $(x)");
        assert_eq!(argv[8], "/srv/deps");
        assert_eq!(argv[9], "/srv/work/inputs/it's $(x)");
        assert_eq!(argv[10], "/srv/work/results/it's $(x)");
    }

    #[test]
    fn refuses_paths_leaving_the_tree() {
        for bad in ["", "/etc", "../x", "a/../../b", ".", "a/.hidden"] {
            assert!(paths().build_argv(bad).is_err(), "{bad:?} accepted");
            assert!(paths().dirs().purge_argv(bad).is_err(), "{bad:?} accepted");
        }
    }
}
