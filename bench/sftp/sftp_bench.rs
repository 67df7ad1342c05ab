//! The "ours" side of `bench/sftp/run.sh`: streams one local file to a builder over buildmaster's SFTP
//! path — pinned host key, `.upload` then rename, size and SHA-256 verified while streaming — exactly as
//! the package cache does. Timed from outside by the script; prints its own figure on stderr too.
//!
//! Usage: `sftp-bench <port> <user> <client key> <known_hosts> <local file> <remote path> <sha256 hex>`;
//! `sftp-bench job …` sends a whole build's source and dependencies instead (see [`job`]).

mod job;

use std::time::{Duration, Instant};

use buildmaster::builders::config::{HostKeyPin, SshTarget, Timeouts};
use buildmaster::builders::connection::Connection;
use buildmaster::builders::sftp::{Expected, Sftp};
use buildmaster_storage::Sha256Digest;

/// SFTP request timeout for the benchmark (loopback answers in microseconds).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The builder both workloads talk to: the benchmark's sshd on 127.0.0.1 at `port`, logged into as
/// `user` with the private key in the file `key`, its host key pinned by the `known_hosts` file.
pub(crate) fn loopback_target(
    port: &str,
    user: &str,
    key: &str,
    known_hosts: &str,
) -> anyhow::Result<SshTarget> {
    Ok(SshTarget {
        host: "127.0.0.1".into(),
        port: port.parse()?,
        user: user.to_owned(),
        private_key: std::fs::read_to_string(key)?,
        host_key: HostKeyPin::KnownHosts(known_hosts.into()),
        jump: None,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("job") {
        return job::run(&args[1..]).await;
    }
    let [port, user, key, known_hosts, local, remote, sha] = args.as_slice() else {
        anyhow::bail!("usage: sftp-bench <port> <user> <key> <known_hosts> <local> <remote> <sha256>");
    };
    let target = loopback_target(port, user, key, known_hosts)?;
    let size = std::fs::metadata(local)?.len();
    let expected = Expected {
        size,
        sha256: Sha256Digest::from_hex(sha).ok_or_else(|| anyhow::anyhow!("bad sha256 {sha}"))?,
    };
    let start = Instant::now();
    let conn = Connection::open("bench", &target, &Timeouts::default()).await?;
    let sftp = Sftp::open(&conn, REQUEST_TIMEOUT).await?;
    let mut file = tokio::fs::File::open(local).await?;
    sftp.upload(&mut file, remote, expected).await?;
    sftp.close().await;
    conn.close().await;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "ours: {size} bytes in {secs:.2} s = {:.1} MB/s",
        size as f64 / secs / 1e6
    );
    Ok(())
}
