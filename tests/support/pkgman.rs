//! A stand-in for Haiku's `pkgman`, doing exactly what it does against a repository URL
//! (`../shared/docs/haiku-formats.md` §2.3): GET `repo.info`, `repo.sha256` and `repo` over plain HTTP
//! from the bucket's web endpoint, check the checksum, decode the repository, then GET every
//! `packages/<canonical name>` and check it against the entry's checksum.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use buildmaster::haiku::hpkr_reader::read_repository_bytes;
use sha2::{Digest, Sha256};

/// An HTTP response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, lowercased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET base/path` with HTTP/1.0 (the server closes the connection after the body). `base` is
/// `http://localhost:<port>[/prefix]`; the connection goes to 127.0.0.1.
pub fn get(base: &str, path: &str) -> std::io::Result<Response> {
    let rest = base.strip_prefix("http://").expect("http base URL");
    let (host, prefix) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, String::new()));
    let port = host.rsplit_once(':').map(|(_, p)| p).unwrap_or("80");
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {prefix}/{path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: pkgman-stand-in\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// What a successful refresh saw.
#[derive(Debug)]
pub struct Refreshed {
    /// SHA-256 of `repo`.
    pub repo_sha256: String,
    /// (canonical file name, checksum) of every package, in index order.
    pub packages: Vec<(String, String)>,
}

/// Why a refresh failed.
#[derive(Debug)]
pub enum RefreshError {
    /// `repo.sha256` and `repo` disagree: pkgman refuses the index and keeps its old one. Happens
    /// legitimately in the moment between the upload of `repo` and of `repo.sha256`.
    ChecksumMismatch,
    /// A broken repository: what a client must never see.
    Broken(String),
}

/// Refreshes like `pkgman refresh`, then downloads and checks every package like `pkgman install`.
pub fn refresh_and_download(base: &str) -> Result<Refreshed, RefreshError> {
    let fetch = |path: &str| -> Result<Vec<u8>, RefreshError> {
        let response = get(base, path).map_err(|e| RefreshError::Broken(format!("GET {path}: {e}")))?;
        if response.status != 200 {
            return Err(RefreshError::Broken(format!(
                "GET {path}: HTTP {}",
                response.status
            )));
        }
        Ok(response.body)
    };
    fetch("repo.info")?;
    let sha_file = fetch("repo.sha256")?;
    let repo = fetch("repo")?;
    let actual = hex::encode(Sha256::digest(&repo));
    let expected = String::from_utf8_lossy(&sha_file[..sha_file.len().min(64)]).to_ascii_lowercase();
    if actual != expected {
        return Err(RefreshError::ChecksumMismatch);
    }
    let decoded =
        read_repository_bytes(&repo).map_err(|e| RefreshError::Broken(format!("decode repo: {e}")))?;
    let mut packages = Vec::new();
    for info in &decoded.packages {
        let name = info.canonical_file_name();
        let body = fetch(&format!("packages/{name}"))?;
        let digest = hex::encode(Sha256::digest(&body));
        if !digest.eq_ignore_ascii_case(&info.checksum) {
            return Err(RefreshError::Broken(format!(
                "packages/{name}: downloaded {} bytes with sha256 {digest}, the index says {}",
                body.len(),
                info.checksum
            )));
        }
        packages.push((name, info.checksum.clone()));
    }
    Ok(Refreshed {
        repo_sha256: actual,
        packages,
    })
}
