//! `buildmaster builder check NAME`: connect (which verifies the host key), then report what an
//! operator needs to trust a builder: cache size and count, free disk, whether the build tool is
//! there, and the round-trip latency of the connection. The local builder gets the same report from
//! this machine's files (no connection, no latency).

use std::time::{Duration, Instant};

use super::builder_conf::BuilderConfValues;
use super::cache::PackageCache;
use super::config::BuilderSpec;
use super::connection::Connection;
use super::error::BuilderError;
use super::exec::ExecLimits;
use super::host::run_capture;
use super::sftp::Sftp;
use super::ssh_host::SshHost;
use crate::toolchains::haikuporter::HaikuPorter;
use crate::toolchains::Toolchain as _;

/// Round trips measured for the latency figure (the median is reported).
const LATENCY_SAMPLES: usize = 5;

/// What a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// `user@host:port`; `None` for the local builder.
    pub endpoint: Option<String>,
    /// Packages in the cache.
    pub cached_packages: usize,
    /// Their total size.
    pub cached_bytes: u64,
    /// Stale `.upload` files removed while listing.
    pub removed_uploads: usize,
    /// Free bytes on the cache's file system, if the server reports it.
    pub free_bytes: Option<u64>,
    /// The build tool as configured.
    pub build_tool: String,
    /// Whether it was found (executable, or on `PATH`).
    pub build_tool_found: bool,
    /// Median SFTP round trip; `None` for the local builder.
    pub latency: Option<Duration>,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.endpoint {
            Some(endpoint) => writeln!(f, "connected:   {endpoint} (host key verified)")?,
            None => writeln!(f, "local:       builds run on this machine (no connection)")?,
        }
        writeln!(
            f,
            "cache:       {} packages, {} bytes{}",
            self.cached_packages,
            self.cached_bytes,
            if self.removed_uploads > 0 {
                format!(" ({} stale uploads removed)", self.removed_uploads)
            } else {
                String::new()
            }
        )?;
        match self.free_bytes {
            Some(free) => writeln!(f, "free disk:   {free} bytes")?,
            None => writeln!(f, "free disk:   unknown (no statvfs)")?,
        }
        writeln!(
            f,
            "build tool:  {} ({})",
            self.build_tool,
            if self.build_tool_found { "found" } else { "MISSING" }
        )?;
        match self.latency {
            Some(latency) => write!(f, "round trip:  {:.2} ms", latency.as_secs_f64() * 1000.0),
            None => write!(f, "round trip:  none (local)"),
        }
    }
}

/// Checks `spec`'s builder, over SSH or, for the local builder, on this machine.
pub async fn check(spec: &BuilderSpec) -> Result<CheckReport, BuilderError> {
    let Some(target) = spec.ssh.as_ref() else {
        return Ok(super::check_local::check_local(spec));
    };
    let conn = Connection::open(&spec.name, target, &spec.timeouts).await?;
    let sftp = Sftp::open(&conn, spec.timeouts.command).await?;
    let host = SshHost::new(conn, sftp);
    let place = HaikuPorter::new(spec, BuilderConfValues::default()).dependencies();
    let listing = PackageCache::new(&host, place, None).scan().await?;
    let free_bytes = host.sftp().free_bytes(&spec.paths.cache).await?;
    let limits = ExecLimits {
        idle_output: None,
        total: Some(spec.timeouts.command),
        cancel: Default::default(),
        is_build: false,
        probe: spec.timeouts.connect,
        pty: false,
    };
    // `command -v` is a shell builtin, so it runs through `sh -c` with the tool as a positional
    // argument — never spliced into the script.
    let probe = [
        "sh",
        "-c",
        "command -v \"$1\" >/dev/null 2>&1 || test -x \"$1\"",
        "sh",
        &spec.haikuporter,
    ];
    let argv: Vec<String> = probe.iter().map(|s| s.to_string()).collect();
    let build_tool_found = run_capture(&host, &argv, None, &limits).await?.status == 0;
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let start = Instant::now();
        host.sftp().size(&spec.paths.cache).await?;
        samples.push(start.elapsed());
    }
    samples.sort();
    host.close().await;
    Ok(CheckReport {
        endpoint: Some(format!("{}@{}:{}", target.user, target.host, target.port)),
        cached_packages: listing.packages.len(),
        cached_bytes: listing.total_bytes(),
        removed_uploads: listing.removed_uploads.len(),
        free_bytes,
        build_tool: spec.haikuporter.clone(),
        build_tool_found,
        latency: Some(samples[samples.len() / 2]),
    })
}
