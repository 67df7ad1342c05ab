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

use std::path::Path;

/// The step script; see its header for the parameters.
pub const BUILD_SCRIPT: &str = include_str!("build.sh");

/// `$0` of the script, which `sh` puts in its error messages.
const SCRIPT_NAME: &str = "buildmaster-debian-build";

/// Paths on a Debian builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianBuilderPaths {
    /// The build root tarball (`mmdebstrap --variant=buildd --format=tar bookworm FILE`).
    pub root_tarball: String,
    /// The builder's copy of the recipe tree: source package directories are under it.
    pub recipe_tree: String,
    /// Holds, per source package name, `build/<name>` (the work directory, removed by the purge),
    /// `inputs/<name>` (input files, placed before the purge that precedes a build) and
    /// `results/<name>` (the results, kept until the next build of that source).
    pub work_base: String,
    /// The directory holding exactly the job's dependency `.deb`s.
    pub dependencies: String,
}

/// Why a job cannot be turned into a build.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcedureError {
    /// The source directory is not a plain relative path inside the recipe tree.
    #[error("source directory {0:?} must be a relative path of plain names inside the recipe tree (no '..', no leading '/')")]
    BadSourceDir(String),
    /// An input file name that is not one plain file name.
    #[error("input file name {0:?} must be a plain file name (no '/', not hidden)")]
    BadInputName(String),
}

impl DebianBuilderPaths {
    /// The work directory of the build of `source_dir` (a directory of the recipe tree).
    pub fn work_dir(&self, source_dir: &str) -> Result<String, ProcedureError> {
        self.under("build", source_dir)
    }

    /// `<work_base>/<kind>/<source name>`.
    fn under(&self, kind: &str, source_dir: &str) -> Result<String, ProcedureError> {
        Ok(format!("{}/{kind}/{}", self.work_base, source_name(source_dir)?))
    }

    /// Where the results are left: `.deb`, `.buildinfo`, `.changes`.
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

    /// The argument vector that builds `source_dir`.
    pub fn build_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        source_name(source_dir)?;
        Ok(vec![
            "sh".into(),
            "-eu".into(),
            "-c".into(),
            BUILD_SCRIPT.into(),
            SCRIPT_NAME.into(),
            self.root_tarball.clone(),
            self.work_dir(source_dir)?,
            format!("{}/{source_dir}", self.recipe_tree),
            self.dependencies.clone(),
            self.under("inputs", source_dir)?,
            self.results_dir(source_dir)?,
        ])
    }

    /// The argument vector that removes the build's work directory (root, copies, results).
    /// `--one-file-system`: should anything have been mounted inside the root, it is not followed.
    pub fn purge_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        Ok(vec![
            "rm".into(),
            "-rf".into(),
            "--one-file-system".into(),
            self.work_dir(source_dir)?,
        ])
    }
}

/// The last component of a relative source directory, after checking that every component is a
/// plain name and the last is not hidden (so the work directory stays under `work_base` and the source under the tree).
pub(crate) fn source_name(source_dir: &str) -> Result<&str, ProcedureError> {
    let bad = || ProcedureError::BadSourceDir(source_dir.to_owned());
    let path = Path::new(source_dir);
    let plain = !source_dir.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(bad());
    }
    // A hidden last component is refused too: `.refused` under the work base is the toolchain's.
    source_dir
        .rsplit('/')
        .find(|s| !s.is_empty())
        .filter(|name| !name.starts_with('.'))
        .ok_or_else(bad)
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
            assert!(paths().purge_argv(bad).is_err(), "{bad:?} accepted");
        }
    }
}
