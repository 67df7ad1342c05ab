//! One build on a connected builder, step by step, in HaikuPorter's order (`RemoteBuilderSSH.runBuild`):
//! sync the ports tree, purge the port's work directory, make exactly the dependencies visible
//! (sending what the cache lacks), run the build command under a PTY with live output, fetch and
//! verify the results, purge again, commit them as a set. A failed build is purged too. Each step's errors carry their own class (see
//! [`ErrorClass`](super::error::ErrorClass)); this module only sequences them.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::cache::{CacheListing, PackageCache, TransferReport};
use super::config::BuilderSpec;
use super::connection::Connection;
use super::error::BuilderError;
use super::exec::{self, ExecLimits, Exit, OutputSink, Stream, SETUP_ENVIRONMENT};
use super::package::WantedPackage;
use super::ports_tree::{self, PortsTreeSync};
use super::results::{self, ResultFile, ResultPlaces};
use super::sftp::Sftp;

/// A build to run.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// Build number, for logs.
    pub number: u64,
    /// What the build tool builds: HaikuPorter's `name-version` port specifier.
    pub port: String,
    /// Exactly the packages the build may see.
    pub dependencies: Vec<WantedPackage>,
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

/// Expands the build command template into an argument vector. `{args}` as a whole element splices
/// the extra arguments; `{haikuporter}`, `{config}` and `{port}` are replaced inside elements. The
/// result is an argument vector, so nothing here can inject shell syntax.
pub fn expand_template(template: &[String], spec: &BuilderSpec, port: &str) -> Vec<String> {
    let mut argv = Vec::new();
    for element in template {
        if element == "{args}" {
            argv.extend(spec.haikuporter_args.iter().cloned());
            continue;
        }
        argv.push(
            element
                .replace("{haikuporter}", &spec.haikuporter)
                .replace("{config}", &spec.paths.builder_config)
                .replace("{port}", port),
        );
    }
    argv
}

/// A connected builder's parts that one build uses.
pub struct Session<'a> {
    /// The builder.
    pub spec: &'a BuilderSpec,
    /// Its connection.
    pub conn: &'a Connection,
    /// Its SFTP session.
    pub sftp: &'a Sftp,
    /// Its package cache.
    pub cache: PackageCache<'a>,
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
    let spec = session.spec;
    let t = &spec.timeouts;
    let housekeeping = ExecLimits {
        idle_output: None,
        total: Some(t.command),
        cancel: cancel.clone(),
        is_build: false,
        probe: t.keepalive_interval * t.keepalive_max as u32,
        pty: false,
    };
    // The sync and the purges may take as long as HaikuPorter lets them (a first sync fetches the
    // whole tree): the build's wall-clock limit, if any, and no idle limit.
    let long = ExecLimits {
        total: t.build,
        ..housekeeping.clone()
    };
    tracing::info!(
        builder = spec.name,
        build = req.number,
        port = req.port,
        "syncing the ports tree"
    );
    ports_tree::sync(
        session.conn,
        session.sftp,
        &spec.paths.ports_tree,
        &req.ports_tree,
        &long,
    )
    .await?;
    purge(session, req, &long, sink).await?;

    let transfer = session.cache.ensure(listing, &req.dependencies).await?;
    session.cache.make_visible(&req.dependencies).await?;
    tracing::info!(
        builder = spec.name,
        build = req.number,
        sent = transfer.sent.len(),
        bytes = transfer.bytes,
        cached = transfer.already_cached.len(),
        "dependencies ready"
    );

    let argv = expand_template(&spec.build_command, spec, &req.port);
    let build_limits = ExecLimits {
        idle_output: t.idle_output,
        total: t.build,
        is_build: true,
        pty: true,
        ..housekeeping.clone()
    };
    let line = exec::build_command_line(&argv, &spec.paths.ports_tree, SETUP_ENVIRONMENT);
    let shown = super::quote::command_line(&argv);
    let exit = exec::run_line(session.conn, &shown, &line, &build_limits, sink).await?;
    if exit.status != 0 {
        purge(session, req, &long, sink).await?;
        let _ = session.cache.clear_visible().await;
        return Err(BuilderError::BuildFailed {
            builder: spec.name.clone(),
            port: req.port.clone(),
            status: exit.status,
        });
    }

    let places = ResultPlaces {
        remote_dir: &spec.paths.packages,
        staging_root: &dirs.staging,
        commit_dir: &dirs.commit,
    };
    let fetched = results::fetch_verify_commit(
        session.conn,
        session.sftp,
        &req.port,
        &req.results,
        &places,
        &housekeeping,
    )
    .await;
    let results = match fetched {
        Ok(results) => results,
        Err(err) => {
            let _ = purge(session, req, &long, sink).await;
            let _ = session.cache.clear_visible().await;
            return Err(err);
        }
    };
    // The results are verified and committed: the build succeeded, whatever happens to the tidying
    // up below. Failing it now would have the build re-run elsewhere for nothing; a lost connection
    // is noticed by the next build's connection check instead.
    if let Err(err) = tidy_up(session, listing, req, &results, &long, sink).await {
        tracing::warn!(builder = spec.name, port = req.port, %err, "tidying up after a successful build failed");
    }
    Ok(BuildOutcome {
        results,
        transfer,
        exit,
    })
}

/// After a successful build, as HaikuPorter does: purge, then the verified results join the builder's
/// cache (so dependents built there later need no upload) and the visible set is emptied.
async fn tidy_up(
    session: &Session<'_>,
    listing: &mut CacheListing,
    req: &BuildRequest,
    results: &[ResultFile],
    limits: &ExecLimits,
    sink: OutputSink<'_>,
) -> Result<(), BuilderError> {
    purge(session, req, limits, sink).await?;
    for result in results {
        session
            .cache
            .adopt(listing, &result.file_name, result.size)
            .await?;
    }
    session.cache.clear_visible().await
}

/// HaikuPorter's `_purgePort`: the purge command in the ports tree, under a PTY, its output into the
/// build log. Its exit status is logged and otherwise ignored, as HaikuPorter ignores it (a port whose
/// recipe no longer parses cannot be purged, and that must not stop its build from being tried or
/// reported); a lost connection or a cancel still ends the build.
async fn purge(
    session: &Session<'_>,
    req: &BuildRequest,
    limits: &ExecLimits,
    sink: OutputSink<'_>,
) -> Result<(), BuilderError> {
    let spec = session.spec;
    if spec.purge_command.is_empty() {
        return Ok(());
    }
    let argv = expand_template(&spec.purge_command, spec, &req.port);
    let limits = ExecLimits {
        pty: true,
        ..limits.clone()
    };
    let exit = exec::run(session.conn, &argv, Some(&spec.paths.ports_tree), &limits, sink).await?;
    if exit.status != 0 {
        tracing::warn!(
            builder = spec.name,
            port = req.port,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::config::{default_build_command, default_purge_command, BuilderPaths, Timeouts};

    #[test]
    fn default_template_is_haikuporters_contract() {
        let spec = BuilderSpec {
            name: "b".into(),
            ssh: None,
            paths: BuilderPaths::new("/ports", None, None, None),
            haikuporter: "/hp/haikuporter".into(),
            haikuporter_args: vec!["-j2".into()],
            timeouts: Timeouts::default(),
            build_command: default_build_command(),
            purge_command: default_purge_command(),
            network: Default::default(),
        };
        let argv = expand_template(&spec.build_command, &spec, "x;rm -rf /-1.0");
        assert_eq!(
            argv,
            [
                "/hp/haikuporter",
                "--config=/ports/builder.conf",
                "--no-system-packages",
                "--no-package-obsoletion",
                "--ignore-messages",
                "-j2",
                "x;rm -rf /-1.0",
            ]
        );
    }
}
