//! The builder-side directories of a per-package build, the same for every toolchain that runs a
//! constant script (Debian, RPM): under one work base, `build/<name>` (the work directory, removed by
//! the purge), `inputs/<name>` (input files, placed before the purge that precedes a build) and
//! `results/<name>` (the results, kept until the next build of that package), where `<name>` is the
//! last component of the job's directory in the recipe tree. Written once here so that the checks
//! that keep a target inside the tree and the work base are the same for every format.

use std::path::Path;

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

/// The per-package directories under one work base on a builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkDirs<'a> {
    /// The builder's work base (`DebianBuilderPaths::work_base`, `RpmBuilderPaths::work_base`).
    pub work_base: &'a str,
}

impl WorkDirs<'_> {
    /// The work directory of the build of `source_dir` (a directory of the recipe tree).
    pub fn work_dir(&self, source_dir: &str) -> Result<String, ProcedureError> {
        self.under("build", source_dir)
    }

    /// Where the build of `source_dir` leaves its results.
    pub fn results_dir(&self, source_dir: &str) -> Result<String, ProcedureError> {
        self.under("results", source_dir)
    }

    /// The directory holding the input files of the build of `source_dir`.
    pub fn inputs_dir(&self, source_dir: &str) -> Result<String, ProcedureError> {
        self.under("inputs", source_dir)
    }

    /// Where input file `file_name` of the build of `source_dir` is placed.
    pub fn input_path(&self, source_dir: &str, file_name: &str) -> Result<String, ProcedureError> {
        let plain = !file_name.is_empty() && !file_name.contains('/') && !file_name.starts_with('.');
        if !plain {
            return Err(ProcedureError::BadInputName(file_name.to_owned()));
        }
        Ok(format!("{}/{file_name}", self.inputs_dir(source_dir)?))
    }

    /// The argument vector that removes the build's work directory. `--one-file-system`: should
    /// anything have been mounted inside it (a build root), it is not followed.
    pub fn purge_argv(&self, source_dir: &str) -> Result<Vec<String>, ProcedureError> {
        Ok(vec![
            "rm".into(),
            "-rf".into(),
            "--one-file-system".into(),
            self.work_dir(source_dir)?,
        ])
    }

    /// Where refused targets and inputs go: a directory under the work base that no build reads (no
    /// source name starts with '.', see [`source_name`]), so nothing the flow writes there reaches a
    /// build or leaves the builder's directories.
    pub fn quarantine(&self) -> String {
        format!("{}/.refused", self.work_base)
    }

    /// `<work_base>/<kind>/<source name>`.
    fn under(&self, kind: &str, source_dir: &str) -> Result<String, ProcedureError> {
        Ok(format!("{}/{kind}/{}", self.work_base, source_name(source_dir)?))
    }
}

/// The last component of a relative source directory, after checking that every component is a
/// plain name and the last is not hidden (so the work directory stays under `work_base` and the
/// source under the tree).
pub fn source_name(source_dir: &str) -> Result<&str, ProcedureError> {
    let bad = || ProcedureError::BadSourceDir(source_dir.to_owned());
    let path = Path::new(source_dir);
    let plain = !source_dir.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(bad());
    }
    // A hidden last component is refused too: `.refused` under the work base is the quarantine.
    source_dir
        .rsplit('/')
        .find(|s| !s.is_empty())
        .filter(|name| !name.starts_with('.'))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRS: WorkDirs<'static> = WorkDirs {
        work_base: "/srv/work",
    };

    #[test]
    fn directories_are_per_package_under_the_work_base() {
        assert_eq!(DIRS.work_dir("pkgs/greet").unwrap(), "/srv/work/build/greet");
        assert_eq!(DIRS.results_dir("greet").unwrap(), "/srv/work/results/greet");
        assert_eq!(
            DIRS.input_path("greet", "greet-2.0.tar.gz").unwrap(),
            "/srv/work/inputs/greet/greet-2.0.tar.gz"
        );
        assert_eq!(DIRS.quarantine(), "/srv/work/.refused");
    }

    #[test]
    fn refuses_what_would_leave_the_tree_or_the_work_base() {
        for bad in ["", "/etc", "../x", "a/../../b", ".", "a/.hidden"] {
            assert!(DIRS.work_dir(bad).is_err(), "{bad:?} accepted");
            assert!(DIRS.purge_argv(bad).is_err(), "{bad:?} accepted");
        }
        for bad in ["", "../x", ".hidden", "a/b"] {
            assert!(DIRS.input_path("a", bad).is_err(), "{bad:?} accepted");
        }
    }
}
