//! `buildmaster healthcheck`: asks a running daemon's `GET /healthz` and exits 0 if it answers 200.
//!
//! This is the container image's `HEALTHCHECK`. The runtime image has no curl, and the check must find
//! the daemon exactly where `buildmaster serve` listens, so it reads the same instance config
//! (`[serve] listen`) and speaks just enough HTTP/1.1 over a plain `TcpStream`: one request, one status
//! line, bounded in time and size. Exit status 1 means unhealthy (the container runtimes reserve 2).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::GlobalArgs;
use crate::config::InstanceConfig;

/// The most of the daemon's answer read: the status line and a short body are all we need, and a
/// misbehaving server must not make the check buffer without bound.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// `buildmaster healthcheck`
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The instance config whose `[serve] listen` names the daemon's address. Default:
    /// `<state-dir>/buildmaster.toml` when it exists, else `127.0.0.1:8080`.
    #[arg(long, env = "BUILDMASTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ask this address (`host:port`) instead of the configured one.
    #[arg(long)]
    pub addr: Option<String>,
    /// Give up (unhealthy) after this many seconds: connecting, sending and reading each get this long.
    #[arg(long, default_value_t = 3.0)]
    pub timeout_secs: f64,
}

/// Why the daemon is not healthy, naming the address asked.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Nothing answered (not listening, refused, or the connection timed out).
    #[error("cannot connect to the daemon at {addr}: {source} (is `buildmaster serve` running there?)")]
    Connect {
        /// The address asked.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The connection broke or stalled while sending the request or reading the answer.
    #[error("talking to the daemon at {addr}: {source}")]
    Io {
        /// The address asked.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The answer did not start with an HTTP status line.
    #[error("the daemon at {addr} did not answer HTTP (first line: {line:?})")]
    NotHttp {
        /// The address asked.
        addr: SocketAddr,
        /// The first line received, for the log.
        line: String,
    },
    /// The daemon answered, but not with 200.
    #[error("the daemon at {addr} answered {status} on /healthz: {body}")]
    Unhealthy {
        /// The address asked.
        addr: SocketAddr,
        /// The HTTP status code.
        status: u16,
        /// The start of the body, which says why.
        body: String,
    },
}

/// Runs `buildmaster healthcheck`: prints the daemon's answer and exits 0, or fails with the reason.
pub fn run(args: HealthcheckArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let listen = match args.addr {
        Some(addr) => addr,
        None => {
            InstanceConfig::locate(args.config.as_deref(), &global.state_dir)?
                .serve
                .listen
        }
    };
    if !(args.timeout_secs.is_finite() && args.timeout_secs > 0.0) {
        anyhow::bail!(
            "--timeout-secs must be a positive number of seconds, not {}",
            args.timeout_secs
        );
    }
    let addr = resolve(&listen)?;
    let body = check(addr, Duration::from_secs_f64(args.timeout_secs))?;
    println!("healthy: {addr} answered 200 {}", body.trim());
    Ok(ExitCode::SUCCESS)
}

/// The address to connect to for a `listen` setting: its first resolution, with an unspecified address
/// (`0.0.0.0`, `::`, which a server binds to listen everywhere) replaced by the loopback address.
pub fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    let mut addr = listen
        .to_socket_addrs()
        .with_context(|| format!("the daemon's address {listen:?} is not host:port ([serve] listen)"))?
        .next()
        .with_context(|| format!("the daemon's address {listen:?} resolves to nothing"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// Sends `GET /healthz` to `addr` and returns the body of a 200 answer (at most the first line, for
/// printing); anything else is a [`HealthError`]. Each of connect, write and read waits at most
/// `timeout`.
pub fn check(addr: SocketAddr, timeout: Duration) -> Result<String, HealthError> {
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|source| HealthError::Connect { addr, source })?;
    let io = |source| HealthError::Io { addr, source };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    // HTTP/1.0 semantics via `Connection: close`: the server ends the body by closing, so reading to EOF
    // needs no chunked or content-length parsing.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: buildmaster-healthcheck\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = parse_status(status_line).ok_or_else(|| HealthError::NotHttp {
        addr,
        line: status_line.chars().take(80).collect(),
    })?;
    let body = body
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    if status == 200 {
        Ok(body)
    } else {
        Err(HealthError::Unhealthy { addr, status, body })
    }
}

/// The code of a status line such as `HTTP/1.1 200 OK`.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// A one-connection server on 127.0.0.1 that reads the request, answers `reply` and returns the
    /// request it received.
    fn serve_once(reply: &'static [u8]) -> (SocketAddr, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            conn.write_all(reply).unwrap();
            String::from_utf8(request).unwrap()
        });
        (addr, handle)
    }

    #[test]
    fn a_200_answer_is_healthy_and_the_request_asks_healthz() {
        let (addr, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        let body = check(addr, Duration::from_secs(5)).unwrap();
        assert_eq!(body, "ok");
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /healthz HTTP/1.1\r\n"), "{request}");
        assert!(request.contains(&format!("Host: {addr}\r\n")), "{request}");
    }

    #[test]
    fn another_status_is_unhealthy_with_the_reason() {
        let (addr, _server) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\nstorage unreachable\n");
        let err = check(addr, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(err, HealthError::Unhealthy { status: 503, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("storage unreachable"), "{err}");
    }

    #[test]
    fn a_server_that_is_not_http_is_reported() {
        let (addr, _server) = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
        let err = check(addr, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, HealthError::NotHttp { .. }), "{err:?}");
    }

    #[test]
    fn nothing_listening_names_the_address() {
        // Bind then drop: the port was free a moment ago and nothing listens on it now.
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = check(addr, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, HealthError::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepted by the kernel's backlog, never answered.
        let started = std::time::Instant::now();
        let err = check(addr, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, HealthError::Io { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        assert_eq!(
            resolve("0.0.0.0:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(resolve("[::]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert_eq!(resolve("127.0.0.1:81").unwrap(), "127.0.0.1:81".parse().unwrap());
        let err = resolve("8080").unwrap_err();
        assert!(err.to_string().contains("[serve] listen"), "{err}");
    }

    #[test]
    fn the_listen_address_comes_from_the_state_dirs_config() {
        let (addr, server) = serve_once(b"HTTP/1.1 200 OK\r\n\r\nok\n");
        let state = tempfile::tempdir().unwrap();
        std::fs::write(
            state.path().join("buildmaster.toml"),
            format!("[serve]\nlisten = \"{addr}\"\n"),
        )
        .unwrap();
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
            "buildmaster".as_ref(),
            "--state-dir".as_ref(),
            state.path().as_os_str(),
            "healthcheck".as_ref(),
        ])
        .unwrap();
        let code = crate::cli::run(cli).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(server.join().unwrap().starts_with("GET /healthz "));
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 204 No Content"), Some(204));
        assert_eq!(parse_status("HTTP/1.0 200"), Some(200));
        assert_eq!(parse_status("ICY 200 OK"), None);
        assert_eq!(parse_status(""), None);
    }
}
