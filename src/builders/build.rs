//! One build on a set-up builder, step by step, in HaikuPorter's order (`RemoteBuilderSSH.runBuild`):
//! sync the ports tree, purge the job's work files, make exactly the dependencies visible (sending
//! what the cache lacks), check the job's other inputs on the builder (sending what is missing or
//! wrong), run the build command with live output — without network when the builder is configured
//! so — fetch and verify the results, purge again, commit them as a set. A failed build is purged
//! too. Each step's errors carry their own class (see [`ErrorClass`](super::error::ErrorClass)); this
//! module only sequences them.
//!
//! Written once for every builder: the machine is a [`BuilderHost`] (SSH or the master itself) and
//! the build tool a [`Toolchain`]. The builder's setup ([`setup`]) is here too: the same for both.

use std::path::PathBuf;
use std::sync::Arc;

use buildmaster_storage::StorageBackend;
use tokio_util::sync::CancellationToken;

use super::cache::{self, Bytes, CacheListing, PackageCache, TransferReport};
use super::config::BuilderSpec;
use super::error::BuilderError;
use super::exec::{ExecLimits, Exit, OutputSink, Stream};
use super::host::{BuilderHost, Command};
use super::package::{PlacedInput, WantedPackage};
use super::ports_tree::{self, PortsTreeSync};
use super::results::{self, ResultFile, ResultPlaces};
use crate::toolchains::{Job, Toolchain};

/// A build to run.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// Build number, for logs.
    pub number: u64,
    /// What the build tool builds ([`Job::target`]): HaikuPorter's `name-version` port specifier.
    pub port: String,
    /// Exactly the packages the build may see.
    pub dependencies: Vec<WantedPackage>,
    /// Other files the build needs in place (sources from the source cache), checked on the builder
    /// before the build starts; empty when the job has none.
    pub inputs: Vec<PlacedInput>,
    /// Canonical file names the build must produce.
    pub results: Vec<String>,
    /// How to bring the ports tree to the master's revision.
    pub ports_tree: PortsTreeSync,
}

/// Local directories for results.
#[derive(Clone, Debug)]
pub struct ResultDirs {
    /// Parent of per-build staging directories.
    pub staging: PathBuf,
    /// Where verified result sets are committed (same file system as `staging`).
    pub commit: PathBuf,
}

/// What a successful build produced.
#[derive(Clone, Debug)]
pub struct BuildOutcome {
    /// The verified, committed results.
    pub results: Vec<ResultFile>,
    /// What was sent to the builder's cache for this build.
    pub transfer: TransferReport,
    /// How the build tool exited.
    pub exit: Exit,
}

/// A set-up builder's parts that one build uses.
pub struct Session<'a> {
    /// The builder.
    pub spec: &'a BuilderSpec,
    /// The machine.
    pub host: &'a dyn BuilderHost,
    /// The build tool.
    pub toolchain: &'a Arc<dyn Toolchain>,
    /// Where dependencies whose spool file is a stub (and inputs) are read from.
    pub storage: Option<Arc<dyn StorageBackend>>,
    /// Put in front of the build's argument vector: empty, or the builder's `unshare` line when it
    /// builds without network (see [`super::network`]).
    pub isolation: &'a [String],
}

impl Session<'_> {
    fn cache(&self) -> PackageCache<'_> {
        PackageCache::new(self.host, self.toolchain.dependencies(), self.storage.clone())
    }
}

/// Limits of the housekeeping commands (git, `sha256sum`) of `spec`'s builder.
pub fn housekeeping_limits(spec: &BuilderSpec, cancel: &CancellationToken) -> ExecLimits {
    let t = &spec.timeouts;
    ExecLimits {
        idle_output: None,
        total: Some(t.command),
        cancel: cancel.clone(),
        is_build: false,
        probe: t.keepalive_interval * t.keepalive_max as u32,
        pty: false,
    }
}

/// Sets a builder up, as HaikuPorter's `_setupForBuilding` does on every (re)connect: the
/// toolchain's setup files are written, the cache and visible directories created, the cache listed
/// (stale `.upload` files removed).
pub async fn setup(host: &dyn BuilderHost, toolchain: &dyn Toolchain) -> Result<CacheListing, BuilderError> {
    for file in toolchain.setup_files() {
        if let Some(parent) = file
            .path
            .rsplit_once('/')
            .map(|(p, _)| p)
            .filter(|p| !p.is_empty())
        {
            host.mkdir_p(parent).await?;
        }
        host.write_small(&file.path, &file.contents).await?;
    }
    PackageCache::new(host, toolchain.dependencies(), None)
        .scan()
        .await
}

/// Runs `req`, streaming the build tool's output to `sink`.
pub async fn run(
    session: &Session<'_>,
    listing: &mut CacheListing,
    req: &BuildRequest,
    dirs: &ResultDirs,
    sink: OutputSink<'_>,
    cancel: &CancellationToken,
) -> Result<BuildOutcome, BuilderError> {
    let (spec, host, tool) = (session.spec, session.host, session.toolchain);
    let t = &spec.timeouts;
    let job = Job { target: &req.port };
    let housekeeping = housekeeping_limits(spec, cancel);
    // The sync and the purges may take as long as HaikuPorter lets them (a first sync fetches the
    // whole tree): the build's wall-clock limit, if any, and no idle limit.
    let long = ExecLimits {
        total: t.build,
        ..housekeeping.clone()
    };
    // The master's own checkout is the local builder's tree: never rewritten by a sync.
    if !host.is_master() {
        tracing::info!(
            builder = spec.name,
            build = req.number,
            port = req.port,
            "syncing the ports tree"
        );
        ports_tree::sync(host, &spec.paths.ports_tree, &req.ports_tree, &long).await?;
    }
    purge(session, job, &long, sink).await?;

    let cache = session.cache();
    let transfer = cache.ensure(listing, &req.dependencies).await?;
    cache.make_visible(&req.dependencies).await?;
    tracing::info!(
        builder = spec.name,
        build = req.number,
        sent = transfer.sent.len(),
        bytes = transfer.bytes,
        cached = transfer.already_cached.len(),
        "dependencies ready"
    );
    if let Err(err) = verify_inputs(session, &req.inputs, &housekeeping).await {
        let _ = cache.clear_visible().await;
        return Err(err);
    }

    let mut argv = session.isolation.to_vec();
    argv.extend(tool.build_argv(job));
    let work_dir = tool.work_dir(job);
    let build_limits = ExecLimits {
        idle_output: t.idle_output,
        total: t.build,
        is_build: true,
        pty: true,
        ..housekeeping.clone()
    };
    let command = Command {
        argv: &argv,
        cwd: Some(&work_dir),
        setup_script: tool.setup_script(),
    };
    let exit = host.run(command, &build_limits, sink).await?;
    if exit.status != 0 {
        purge(session, job, &long, sink).await?;
        let _ = cache.clear_visible().await;
        return Err(BuilderError::BuildFailed {
            builder: spec.name.clone(),
            port: req.port.clone(),
            status: exit.status,
        });
    }

    let results_dir = tool.results_dir(job);
    let places = ResultPlaces {
        remote_dir: &results_dir,
        staging_root: &dirs.staging,
        commit_dir: &dirs.commit,
    };
    let fetched =
        results::fetch_verify_commit(host, tool, &req.port, &req.results, &places, &housekeeping).await;
    let results = match fetched {
        Ok(results) => results,
        Err(err) => {
            let _ = purge(session, job, &long, sink).await;
            let _ = cache.clear_visible().await;
            return Err(err);
        }
    };
    // The results are verified and committed: the build succeeded, whatever happens to the tidying
    // up below. Failing it now would have the build re-run elsewhere for nothing; a lost connection
    // is noticed by the next build's connection check instead.
    if let Err(err) = tidy_up(session, listing, job, &results, &long, sink).await {
        tracing::warn!(builder = spec.name, port = req.port, %err, "tidying up after a successful build failed");
    }
    Ok(BuildOutcome {
        results,
        transfer,
        exit,
    })
}

/// Checks every input on the builder before the build: one that is there with the job's SHA-256 is
/// kept; one that is missing or different is streamed from the master (verified while streaming);
/// one the master cannot supply fails the build before it starts, naming the input and both digests.
/// Nothing on the builder is ever asked to fetch an input itself.
async fn verify_inputs(
    session: &Session<'_>,
    inputs: &[PlacedInput],
    limits: &ExecLimits,
) -> Result<(), BuilderError> {
    let host = session.host;
    for input in inputs {
        let found = host.sha256(&input.dest, limits).await?;
        if found.is_some_and(|f| f.size == input.size && f.sha256 == input.sha256) {
            continue;
        }
        if input.source().is_none() {
            return Err(BuilderError::Input {
                builder: host.builder().into(),
                input: input.name.clone(),
                path: input.dest.clone(),
                problem: if found.is_some() {
                    "does not match"
                } else {
                    "is missing"
                },
                digests: format!(
                    "expected SHA-256 {}, got {}",
                    input.sha256.to_hex(),
                    found.map_or_else(|| "nothing".into(), |f| f.sha256.to_hex())
                ),
            });
        }
        if let Some((parent, _)) = input.dest.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
            host.mkdir_p(parent).await?;
        }
        let bytes = Bytes {
            name: &input.name,
            source: input.source(),
            expected: input.expected(),
        };
        cache::send(host, session.storage.as_ref(), bytes, &input.dest).await?;
    }
    Ok(())
}

/// After a successful build, as HaikuPorter does: purge, then the verified results join the builder's
/// cache (so dependents built there later need no upload) and the visible set is emptied.
async fn tidy_up(
    session: &Session<'_>,
    listing: &mut CacheListing,
    job: Job<'_>,
    results: &[ResultFile],
    limits: &ExecLimits,
    sink: OutputSink<'_>,
) -> Result<(), BuilderError> {
    purge(session, job, limits, sink).await?;
    let cache = session.cache();
    let results_dir = session.toolchain.results_dir(job);
    for result in results {
        cache
            .adopt(listing, &results_dir, &result.file_name, result.size)
            .await?;
    }
    cache.clear_visible().await
}

/// HaikuPorter's `_purgePort`: the toolchain's purge command in its work directory, under a PTY, its
/// output into the build log. Its exit status is logged and otherwise ignored, as HaikuPorter ignores
/// it (a port whose recipe no longer parses cannot be purged, and that must not stop its build from
/// being tried or reported); a lost connection or a cancel still ends the build.
async fn purge(
    session: &Session<'_>,
    job: Job<'_>,
    limits: &ExecLimits,
    sink: OutputSink<'_>,
) -> Result<(), BuilderError> {
    let Some(argv) = session.toolchain.purge_argv(job) else {
        return Ok(());
    };
    let work_dir = session.toolchain.work_dir(job);
    let limits = ExecLimits {
        pty: true,
        ..limits.clone()
    };
    let exit = session
        .host
        .run(Command::new(&argv, Some(&work_dir)), &limits, sink)
        .await?;
    if exit.status != 0 {
        tracing::warn!(
            builder = session.spec.name,
            port = job.target,
            status = exit.status,
            "purge failed"
        );
        let note = format!(
            "purge exited with status {} (ignored, as HaikuPorter does)\n",
            exit.status
        );
        sink(Stream::Stdout, note.as_bytes());
    }
    Ok(())
}
