//! One package's tests on a builder, as far as the builder is concerned: connect to the first bound
//! builder that answers (a [`RemoteBuilder`] with the format's toolchain, so its setup and cache
//! scan are the builders' own), stream the packages into the tests' cache and make exactly them
//! visible ([`PackageCache`], the flow builds use: only what is missing is sent, verified by size
//! and SHA-256 while streaming), write the tests' files, run one argument vector with a time limit
//! and a bounded log.
//!
//! The tests have their own cache and visible directories under the policy's `work_dir`, never the
//! builds': a cache scan removes stale `.upload` files, which would break a build's upload in
//! progress on the same builder, and a build empties its visible directory.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use buildmaster_storage::StorageBackend;
use tokio_util::sync::CancellationToken;

use super::BuilderTest;
use crate::builders::build::{housekeeping_limits, ResultDirs};
use crate::builders::builder_conf::BuilderConfValues;
use crate::builders::cache::{PackageCache, TransferReport};
use crate::builders::error::BuilderError;
use crate::builders::exec::Stream;
use crate::builders::host::{run_checked, BuilderHost, Command};
use crate::builders::package::WantedPackage;
use crate::builders::remote::RemoteBuilder;
use crate::builders::state::ReconnectPolicy;
use crate::gate::command_check::{CommandOutcome, MAX_LOG_BYTES};
use crate::toolchains::Toolchain;

/// Files copied from the tests tree to the builder: more is refused (a tests directory is small).
const MAX_TEST_FILES: usize = 256;
/// Largest single test file copied.
const MAX_TEST_FILE_BYTES: u64 = 1024 * 1024;

/// A connected builder running one package's tests.
pub struct TestSession {
    builder: RemoteBuilder,
}

impl TestSession {
    /// Connects to the first of `test`'s builders that answers, with `toolchain` saying where the
    /// tests' cache and visible directories are. The error names every builder tried and why.
    pub async fn connect(test: &BuilderTest, toolchain: Arc<dyn Toolchain>) -> Result<Self, String> {
        let mut failures = Vec::new();
        for bound in &test.builders {
            // A session never builds, so its result directories are never written.
            let unused = std::env::temp_dir().join("buildmaster-gate-tests-no-results");
            let dirs = ResultDirs {
                staging: unused.clone(),
                commit: unused,
            };
            let spec = (*bound.0).clone();
            let mut builder = RemoteBuilder::new(
                spec,
                None,
                BuilderConfValues::default(),
                dirs,
                ReconnectPolicy::default(),
            )
            .with_toolchain(toolchain.clone());
            match builder.connect().await {
                Ok(()) => return Ok(Self { builder }),
                Err(e) => failures.push(format!("{}: {e}", bound.0.name)),
            }
        }
        if failures.is_empty() {
            return Err(
                "no builder is bound to the policy (the instance's [[builders]] were not read)".into(),
            );
        }
        Err(format!("no builder could run the tests: {}", failures.join("; ")))
    }

    /// The builder's name.
    pub fn name(&self) -> &str {
        self.builder.name()
    }

    fn host(
        &mut self,
    ) -> Result<(&dyn BuilderHost, &mut crate::builders::cache::CacheListing), BuilderError> {
        let name = self.builder.name().to_owned();
        self.builder.host_and_listing().ok_or(BuilderError::Lost {
            builder: name,
            during: "a gate test (not connected)".into(),
        })
    }

    /// Streams `packages` into the tests' cache (what it lacks; everything else there is pruned,
    /// so the cache holds one run's packages) and makes exactly them visible. Those with no local
    /// file (already served) are read from `storage`.
    pub async fn place_packages(
        &mut self,
        packages: &[WantedPackage],
        storage: Option<Arc<dyn StorageBackend>>,
    ) -> Result<TransferReport, BuilderError> {
        let placement = self.builder.toolchain().dependencies();
        let (host, listing) = self.host()?;
        let cache = PackageCache::new(host, placement, storage);
        let keep: HashSet<String> = packages.iter().map(|p| p.file_name.clone()).collect();
        cache.prune(listing, &keep, &HashSet::new()).await?;
        let report = cache.ensure(listing, packages).await?;
        cache.make_visible(packages).await?;
        Ok(report)
    }

    /// Replaces `remote_dir` on the builder with the files under the local `local_dir` (relative
    /// paths kept; symlinks and special files skipped).
    pub async fn write_tree(
        &mut self,
        local_dir: &Path,
        remote_dir: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let files = local_files(local_dir)?;
        let spec = self.builder.spec().clone();
        let (host, _) = self.host().map_err(|e| e.to_string())?;
        let limits = housekeeping_limits(&spec, &CancellationToken::new());
        let limits = crate::builders::exec::ExecLimits {
            total: Some(timeout),
            ..limits
        };
        let argv: Vec<String> = ["rm", "-rf", "--one-file-system", remote_dir]
            .map(String::from)
            .to_vec();
        run_checked(host, &argv, None, &limits)
            .await
            .map_err(|e| e.to_string())?;
        for relative in files {
            let bytes = std::fs::read(local_dir.join(&relative))
                .map_err(|e| format!("{}: {e}", local_dir.join(&relative).display()))?;
            let dest = format!("{remote_dir}/{relative}");
            if let Some((parent, _)) = dest.rsplit_once('/') {
                host.mkdir_p(parent).await.map_err(|e| e.to_string())?;
            }
            host.write_small(&dest, &bytes).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Runs `argv` on the builder within `timeout`: passed when it exits 0; the log is its output
    /// (stdout and stderr as they arrive), the first [`MAX_LOG_BYTES`] of it.
    pub async fn run(&mut self, argv: &[String], timeout: Duration) -> (Option<u32>, CommandOutcome) {
        let spec = self.builder.spec().clone();
        let name = spec.name.clone();
        let host = match self.host() {
            Ok((host, _)) => host,
            Err(e) => return (None, failed(e.to_string(), String::new())),
        };
        let limits = crate::builders::exec::ExecLimits {
            total: Some(timeout),
            is_build: true,
            ..housekeeping_limits(&spec, &CancellationToken::new())
        };
        let mut log = Vec::new();
        let mut sink = |_: Stream, data: &[u8]| {
            let room = (MAX_LOG_BYTES + 4).saturating_sub(log.len());
            log.extend_from_slice(&data[..data.len().min(room)]);
        };
        let exit = host.run(Command::new(argv, None), &limits, &mut sink).await;
        let log = crate::bounded_text::shortened(&String::from_utf8_lossy(&log), MAX_LOG_BYTES);
        match exit {
            Ok(exit) if exit.status == 0 => (
                Some(0),
                CommandOutcome {
                    passed: true,
                    summary: format!("passed on builder {name}"),
                    log,
                },
            ),
            Ok(exit) => (
                Some(exit.status),
                failed(format!("failed on builder {name}"), log),
            ),
            Err(e) => (
                None,
                failed(format!("did not finish on builder {name}: {e}"), log),
            ),
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        self.builder.disconnect().await;
    }
}

/// A failed outcome.
fn failed(summary: String, log: String) -> CommandOutcome {
    CommandOutcome {
        passed: false,
        summary,
        log,
    }
}

/// The regular files under `dir`, as `/`-separated relative paths, sorted; bounded in number and
/// size.
fn local_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = std::fs::read_dir(&here).map_err(|e| format!("{}: {e}", here.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", here.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden entries are version-control and tool metadata (a dist-git checkout's `.git`,
            // an fmf tree's `.fmf`), never a test's files.
            if name.starts_with('.') {
                continue;
            }
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let kind = entry.file_type().map_err(|e| format!("{path}: {e}"))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let size = entry.metadata().map_err(|e| format!("{path}: {e}"))?.len();
                if size > MAX_TEST_FILE_BYTES || out.len() == MAX_TEST_FILES {
                    return Err(format!(
                        "{}: tests directories are copied to the builder whole; more than {MAX_TEST_FILES} \
                         files or one over {MAX_TEST_FILE_BYTES} bytes ({path}) is refused",
                        dir.display()
                    ));
                }
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
