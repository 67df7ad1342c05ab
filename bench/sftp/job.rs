//! The "ours" side of `WORKLOAD=job` in `bench/sftp/run.sh`: one build's inputs and dependencies sent to a
//! builder the way a build sends them — the source through `cache::send` (as `builders::build` places an
//! input), then the dependencies through `PackageCache::scan` + `PackageCache::ensure` (as a build fills
//! the builder's package cache): each file streamed into `<name>.upload`, size and SHA-256 verified while
//! streaming, renamed into place, `cache::FILES_IN_FLIGHT` files at once as the flow does. No fast path.
//!
//! Usage: `sftp-bench job <port> <user> <client key> <known_hosts> <manifest> <remote dir>`, where the
//! manifest has `sha256sum` lines (`<hex>  <local path>`); its first line is the source, the rest are
//! the dependency packages (`.hpkg`). `FILES_IN_FLIGHT` in the environment overrides how many
//! dependencies stream at once (`cache::FILES_IN_FLIGHT` by default; `1`: one after another).

use std::path::{Path, PathBuf};

use anyhow::Context;
use buildmaster::builders::cache::{self, Bytes, PackageCache};
use buildmaster::builders::config::Timeouts;
use buildmaster::builders::connection::Connection;
use buildmaster::builders::package::{PackageSource, WantedPackage};
use buildmaster::builders::sftp::{Expected, Sftp};
use buildmaster::builders::ssh_host::SshHost;
use buildmaster::toolchains::DependencyPlacement;
use buildmaster_storage::Sha256Digest;

use crate::{loopback_target, REQUEST_TIMEOUT};

/// One manifest line: a local file and the SHA-256 it must arrive with.
struct Entry {
    /// The local file.
    path: PathBuf,
    /// Its file name (the remote name too).
    name: String,
    /// Its size and SHA-256.
    expected: Expected,
}

/// Reads the manifest at `path` (see the module doc); sizes come from the files themselves.
fn read_manifest(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read manifest {}", path.display()))?;
    text.lines()
        .map(|line| {
            let (hex, file) = line
                .split_once("  ")
                .with_context(|| format!("manifest {}: not a sha256sum line: {line}", path.display()))?;
            let file = PathBuf::from(file);
            let size = std::fs::metadata(&file)
                .with_context(|| format!("manifest {}: stat {}", path.display(), file.display()))?
                .len();
            let sha256 = Sha256Digest::from_hex(hex)
                .with_context(|| format!("manifest {}: bad SHA-256 {hex}", path.display()))?;
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("manifest {}: no file name in {}", path.display(), file.display()))?
                .to_owned();
            Ok(Entry {
                path: file,
                name,
                expected: Expected { size, sha256 },
            })
        })
        .collect()
}

/// Runs the job workload with `args` (the usage line's arguments after `job`).
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let [port, user, key, known_hosts, manifest, remote] = args else {
        anyhow::bail!("usage: sftp-bench job <port> <user> <key> <known_hosts> <manifest> <remote dir>");
    };
    let files_in_flight = match std::env::var("FILES_IN_FLIGHT") {
        Ok(n) => n
            .parse()
            .with_context(|| format!("FILES_IN_FLIGHT={n}: not a number"))?,
        Err(_) => cache::FILES_IN_FLIGHT,
    };
    let entries = read_manifest(Path::new(manifest))?;
    let (source, deps) = entries
        .split_first()
        .with_context(|| format!("manifest {manifest} is empty"))?;
    let wanted: Vec<WantedPackage> = deps
        .iter()
        .map(|d| WantedPackage {
            file_name: d.name.clone(),
            size: d.expected.size,
            sha256: d.expected.sha256,
            local: Some(d.path.clone()),
            key: None,
            system: false,
        })
        .collect();
    let target = loopback_target(port, user, key, known_hosts)?;
    let conn = Connection::open("bench", &target, &Timeouts::default()).await?;
    let sftp = Sftp::open(&conn, REQUEST_TIMEOUT).await?;
    let host = SshHost::new(conn, sftp);

    // The input, as builders::build places one: parent directory, then the verified stream.
    let download = format!("{remote}/download");
    buildmaster::builders::host::BuilderHost::mkdir_p(&host, &download).await?;
    let bytes = Bytes {
        name: &source.name,
        source: Some(PackageSource::Spool(source.path.clone())),
        expected: source.expected,
    };
    cache::send(&host, None, bytes, &format!("{download}/{}", source.name)).await?;

    // The dependencies, as a build fills the builder's cache (HaikuPorter's `<packagesPath>/.cache`).
    let place = DependencyPlacement {
        cache_dir: format!("{remote}/packages/.cache"),
        visible_dir: format!("{remote}/packages"),
        extension: ".hpkg",
    };
    let packages = PackageCache::new(&host, place, None).with_files_in_flight(files_in_flight);
    let mut listing = packages.scan().await?;
    let report = packages.ensure(&mut listing, &wanted).await?;
    anyhow::ensure!(
        report.sent.len() == wanted.len(),
        "sent {} of {} dependencies (the remote cache was not empty?)",
        report.sent.len(),
        wanted.len()
    );
    host.close().await;
    eprintln!(
        "ours: source {} bytes + {} dependencies, {} bytes",
        source.expected.size,
        report.sent.len(),
        report.bytes
    );
    Ok(())
}
