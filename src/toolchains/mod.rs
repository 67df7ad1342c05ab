//! Toolchains: what differs between build tools — HaikuPorter, Debian's `dpkg-buildpackage`, RPM's
//! `rpmbuild` — behind one seam, so that the builder flow in [`crate::builders`] is written once. A
//! toolchain says which argument vectors a job runs, where its dependency packages and other inputs
//! are placed on the builder, and which result files the build must produce.
//!
//! The flow ([`crate::builders::build`]) owns everything that is the same for every tool: streaming
//! and verifying dependencies and inputs, the visible set, running commands with limits and without
//! network, fetching, verifying and committing results. A [`Toolchain`] only answers questions; it
//! never touches the builder itself, so an implementation needs no SSH, no SFTP and no Haiku type.
//!
//! # Layout
//! - [`debian`]: Debian source-package trees, their planning, and the `dpkg-buildpackage` build.
//! - [`rpm`]: RPM dist-git-like trees, their planning, and the `rpmbuild` build.
//! - [`haikuporter`]: [`haikuporter::HaikuPorter`], HaikuPorter's builder contract
//!   (`RemoteBuilderSSH.runBuild`).
//! - [`constant_script`]: the [`Toolchain`] shared by Debian and RPM, whose build is one constant
//!   script; [`work_dirs`]: their per-package directories on a builder; [`tree_scan`]: reading a
//!   recipe tree of one directory per package.

pub mod constant_script;
pub mod debian;
pub mod haikuporter;
pub mod rpm;
pub mod tree_scan;
pub mod work_dirs;

use std::path::Path;

/// One build job as a toolchain sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job<'a> {
    /// What to build, in the tool's own terms: HaikuPorter's `name-version` port specifier, a Debian
    /// source package's directory, an RPM dist-git directory (relative to the recipe tree).
    pub target: &'a str,
}

/// Where dependency packages live on the builder and which files are packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependencyPlacement {
    /// The builder's package cache: real files, sent once and kept across builds.
    pub cache_dir: String,
    /// The directory the build tool resolves dependencies from (and, for HaikuPorter, writes results
    /// to): exactly the job's dependencies are made visible there, as links into the cache.
    pub visible_dir: String,
    /// The file name extension of packages (`.hpkg`, `.deb`, `.rpm`), with the dot: files without it
    /// in those directories are not the flow's and are left alone.
    pub extension: &'static str,
}

/// A file a toolchain needs on the builder before any build (HaikuPorter's builder config); written
/// at every (re)connect, because anything could have changed while the builder was away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupFile {
    /// Absolute path on the builder.
    pub path: String,
    /// Its contents.
    pub contents: Vec<u8>,
}

/// What differs per build tool. Implementations are plain values built from the builder's
/// configuration; the flow asks them and does the work.
pub trait Toolchain: Send + Sync + std::fmt::Debug {
    /// Short name for logs and errors (`haikuporter`, `dpkg-buildpackage`, `rpmbuild`).
    fn name(&self) -> &'static str;

    /// Files to write on the builder when it is set up.
    fn setup_files(&self) -> Vec<SetupFile>;

    /// Directory the build and purge commands run in.
    fn work_dir(&self, job: Job<'_>) -> String;

    /// A shell script sourced before the build command when the builder has it (HaikuPorter's
    /// `/boot/system/boot/SetupEnvironment`); `None`: none.
    fn setup_script(&self) -> Option<&str> {
        None
    }

    /// The build's argument vector: never a shell line, so nothing in `job` can inject shell syntax.
    fn build_argv(&self, job: Job<'_>) -> Vec<String>;

    /// The argument vector that removes the job's work files, run before and after every build (its
    /// exit status is logged and ignored); `None`: nothing to purge.
    fn purge_argv(&self, job: Job<'_>) -> Option<Vec<String>>;

    /// Where dependency packages go.
    fn dependencies(&self) -> DependencyPlacement;

    /// Where an input file (a source archive from the source cache) called `file_name` must be
    /// placed for `job`, whose recipe is in `recipe_dir` (relative to the recipe tree), so that the
    /// tool finds it instead of downloading it.
    fn input_path(&self, job: Job<'_>, recipe_dir: &str, file_name: &str) -> String;

    /// The directory on the builder where the build leaves its result files.
    fn results_dir(&self, job: Job<'_>) -> String;

    /// The canonical file name the result at `path` (a local, staged copy) must have, read from the
    /// file's own metadata (name, version, architecture); `Err` says why it could not be read. The
    /// flow compares it with the expected name, so a build cannot pass off one package as another.
    /// Blocking: the flow calls it off the async threads.
    fn result_identity(&self, path: &Path) -> Result<String, String>;
}
