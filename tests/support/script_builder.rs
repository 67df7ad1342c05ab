//! A Linux builder for the constant-script toolchains (Debian's `dpkg-buildpackage`, RPM's
//! `rpmbuild`) on a real sshd, set up once for tests/debian_build.rs and tests/rpm_build.rs: its
//! directories under one test directory, builds without network, the format's toolchain in place
//! of HaikuPorter; one build over it, failing the test with the build's log; and a build's argument
//! vector run as a local process, for the tests that build without a builder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildmaster::builders::build::{BuildOutcome, BuildRequest, ResultDirs};
use buildmaster::builders::builder_conf::BuilderConfValues;
use buildmaster::builders::config::{BuilderPaths, BuilderSpec, NetworkMode, Timeouts};
use buildmaster::builders::exec::Stream;
use buildmaster::builders::package::WantedPackage;
use buildmaster::builders::ports_tree::PortsTreeSync;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::builders::state::ReconnectPolicy;
use buildmaster::toolchains::Toolchain;
use buildmaster_storage::StorageBackend;
use tokio_util::sync::CancellationToken;

use crate::support::sshd::Sshd;

/// `path` as the UTF-8 string builder paths are (test directories always are UTF-8).
pub fn path_string(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// The flow's paths of a builder whose directories are under `dir` (`deps`, `cache`), reading the
/// recipe tree at `tree`; the format's own paths are built from them.
pub fn builder_paths(dir: &Path, tree: &Path) -> BuilderPaths {
    BuilderPaths::new(
        &path_string(tree),
        Some(&path_string(&dir.join("deps"))),
        Some(&path_string(&dir.join("cache"))),
        None,
    )
}

/// The work base of the builder under `dir` (the format's per-package directories).
pub fn work_base(dir: &Path) -> String {
    path_string(&dir.join("work"))
}

/// Builder `name` on `sshd` with `paths` (from [`builder_paths`]) and `toolchain`, committing
/// results under `dir`, builds limited to `build_timeout` and without network.
pub fn sshd_builder(
    sshd: &Sshd,
    name: &str,
    dir: &Path,
    paths: BuilderPaths,
    build_timeout: Duration,
    toolchain: Arc<dyn Toolchain>,
    storage: Arc<dyn StorageBackend>,
) -> RemoteBuilder {
    let spec = BuilderSpec {
        name: name.into(),
        ssh: Some(sshd.target()),
        paths,
        haikuporter: "unused".into(),
        haikuporter_args: Vec::new(),
        timeouts: Timeouts {
            build: Some(build_timeout),
            ..Timeouts::default()
        },
        build_command: Vec::new(),
        purge_command: Vec::new(),
        network: NetworkMode::None,
    };
    let results = ResultDirs {
        staging: dir.join("staging"),
        commit: dir.join("committed"),
    };
    RemoteBuilder::new(
        spec,
        Some(storage),
        BuilderConfValues::default(),
        results,
        ReconnectPolicy::default(),
    )
    .with_toolchain(toolchain)
}

/// Builds `port` (the package's name, which is its directory in the recipe tree) on `builder` with
/// `dependencies`, expecting the files `results`; returns the committed results, or fails the test
/// with the build's log.
pub async fn build_over_ssh(
    builder: &mut RemoteBuilder,
    port: &str,
    results: Vec<String>,
    dependencies: Vec<WantedPackage>,
) -> BuildOutcome {
    let request = BuildRequest {
        number: 1,
        port: port.to_owned(),
        dependencies,
        inputs: Vec::new(),
        results,
        ports_tree: PortsTreeSync::Skip,
    };
    let mut log = Vec::new();
    let mut sink = |_: Stream, data: &[u8]| log.extend_from_slice(data);
    let outcome = builder
        .build(&request, &mut sink, &CancellationToken::new())
        .await;
    outcome.unwrap_or_else(|e| panic!("{port} over ssh: {e}\n{}", String::from_utf8_lossy(&log)))
}

/// One build on this machine: the builder's argument vector run as a local process.
pub struct LocalBuild {
    /// Whether the build succeeded.
    pub ok: bool,
    /// Its output (stdout and stderr).
    pub log: String,
    /// Where its results are.
    pub results: PathBuf,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs the build argument vector `argv` here, its results expected in `results_dir`.
pub fn run_locally(argv: &[String], results_dir: &str) -> LocalBuild {
    let started = Instant::now();
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    LocalBuild {
        ok: out.status.success(),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        results: PathBuf::from(results_dir),
        elapsed: started.elapsed(),
    }
}
