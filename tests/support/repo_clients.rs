//! Package clients reading a repository from the bucket's web endpoint exactly as apt and dnf do, and
//! counting how every read ended: apt (`InRelease` → its `SHA256:` list → every `Packages`, `.gz`,
//! `.xz` by hash → every `Filename` in the pool) and dnf (`repomd.xml` → every data file → the packages
//! `primary.xml.gz` names), each object checked against the digest and size its index gives. A **failed
//! read** is an object an index names that is missing (404) or has other bytes; a read that found no
//! server is counted apart, and only excused while the test has taken the server down on purpose.
//! Signatures are not checked here (real apt and dnf do that in the tests that use this).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::support::pkgman::get;

/// An object an index names: its path below the web endpoint, digest and size.
#[derive(Clone, Debug)]
pub struct Named {
    /// Key below the web endpoint's root (`<prefix>/apt/pool/…`), `..` resolved.
    pub path: String,
    /// SHA-256 the index gives, hex.
    pub sha256: String,
    /// Size in bytes the index gives.
    pub size: u64,
}

/// What a client read of one repository: the root of trust, everything it names (indexes and
/// packages), and the package versions in its index.
#[derive(Clone, Debug)]
pub struct Generation {
    /// The root of trust as read (`InRelease`, `repomd.xml`): what a client keeps.
    pub root: Vec<u8>,
    /// Every index file and package it names, in reading order.
    pub named: Vec<Named>,
    /// The package versions its index lists.
    pub versions: Vec<String>,
}

/// Reads done and how they ended.
#[derive(Debug, Default)]
pub struct Tally {
    /// GET requests sent.
    pub reads: u64,
    /// A named object missing (404) or with other bytes than its digest says: must stay empty.
    pub failed: Vec<String>,
    /// No server to answer (connection refused, reset, a 5xx, a cut body) while the server was
    /// deliberately down.
    pub unavailable_in_outage: u64,
    /// The same at any other time: must stay empty.
    pub unavailable_otherwise: Vec<String>,
}

/// A client of the bucket's web endpoint.
pub struct Client {
    /// `http://localhost:<port>`.
    web: String,
    /// Set by the test while it keeps the server down on purpose.
    outage: Arc<AtomicBool>,
    /// How this client's reads ended so far.
    pub tally: Tally,
}

impl Client {
    /// A client of `web` with nothing read yet.
    pub fn new(web: &str, outage: Arc<AtomicBool>) -> Self {
        Self {
            web: web.to_owned(),
            outage,
            tally: Tally::default(),
        }
    }

    /// GETs `path`; the body if it was served and matches `expect`.
    pub fn fetch(&mut self, path: &str, expect: Option<&Named>) -> Option<Vec<u8>> {
        let during = self.outage.load(Ordering::SeqCst);
        self.tally.reads += 1;
        let response = get(&self.web, path);
        let during = during || self.outage.load(Ordering::SeqCst);
        let unavailable = |tally: &mut Tally, why: String| {
            if during {
                tally.unavailable_in_outage += 1;
                // Like apt's retry: do not hammer a server that is down.
                std::thread::sleep(Duration::from_millis(50));
            } else {
                tally.unavailable_otherwise.push(why);
            }
        };
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                unavailable(&mut self.tally, format!("{path}: {err}"));
                return None;
            }
        };
        match response.status {
            200 => {}
            404 => {
                self.tally.failed.push(format!("{path}: 404"));
                return None;
            }
            status => {
                unavailable(&mut self.tally, format!("{path}: HTTP {status}"));
                return None;
            }
        }
        let announced = response
            .header("content-length")
            .and_then(|n| n.parse::<usize>().ok());
        if announced.is_some_and(|n| n != response.body.len()) {
            unavailable(
                &mut self.tally,
                format!("{path}: body cut at {} bytes", response.body.len()),
            );
            return None;
        }
        if let Some(named) = expect {
            let digest = hex::encode(Sha256::digest(&response.body));
            if digest != named.sha256 || response.body.len() as u64 != named.size {
                self.tally.failed.push(format!(
                    "{path}: {digest} ({} bytes), the index says {} ({} bytes)",
                    response.body.len(),
                    named.sha256,
                    named.size
                ));
                return None;
            }
        }
        Some(response.body)
    }

    /// Reads the suite `codename` under `apt` (`<prefix>/apt`) as apt does, from its current `InRelease`
    /// or from `saved` (a client's old copy). `None` when a read did not succeed (counted).
    pub fn read_debian(&mut self, apt: &str, codename: &str, saved: Option<&[u8]>) -> Option<Generation> {
        let dists = format!("{apt}/dists/{codename}");
        let root = match saved {
            Some(bytes) => bytes.to_vec(),
            None => self.fetch(&format!("{dists}/InRelease"), None)?,
        };
        let release = cleartext(&String::from_utf8_lossy(&root));
        let mut named = Vec::new();
        let mut stanzas = String::new();
        for (dir, forms) in packages_indexes(&release) {
            let by_hash = |(sha256, size): &(String, u64)| Named {
                path: format!("{dists}/{dir}/by-hash/SHA256/{sha256}"),
                sha256: sha256.clone(),
                size: *size,
            };
            let plain = forms.iter().find(|(name, _)| name == "Packages").map(|(_, e)| e);
            let compressed: Vec<_> = forms.iter().filter(|(name, _)| name != "Packages").collect();
            let text = if compressed.is_empty() {
                // Only the uncompressed index is listed: apt fetches it by hash.
                let index = by_hash(plain?);
                let body = self.fetch(&index.path, Some(&index))?;
                named.push(index);
                body
            } else {
                // apt picks one of the compressed forms listed; each must be there. The
                // uncompressed entry is what apt checks the decompressed bytes against.
                let mut text = None;
                for (name, entry) in compressed {
                    let index = by_hash(entry);
                    let body = self.fetch(&index.path, Some(&index))?;
                    let decompressed = decompress(name, &body);
                    if let (Some(bytes), Some((sha256, _))) = (&decompressed, plain) {
                        if hex::encode(Sha256::digest(bytes)) != *sha256 {
                            self.tally.failed.push(format!(
                                "{}: decompressed {name} is not the Packages listed",
                                index.path
                            ));
                            return None;
                        }
                    }
                    text = text.or(decompressed);
                    named.push(index);
                }
                text?
            };
            stanzas.push_str(&String::from_utf8_lossy(&text));
            stanzas.push('\n');
        }
        let mut versions = Vec::new();
        for stanza in stanzas.split("\n\n").filter(|s| !s.trim().is_empty()) {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .map(str::to_owned)
            };
            let package = Named {
                path: format!("{apt}/{}", field("Filename")?),
                sha256: field("SHA256")?,
                size: field("Size")?.parse().ok()?,
            };
            self.fetch(&package.path, Some(&package))?;
            versions.push(field("Version")?);
            named.push(package);
        }
        Some(Generation {
            root,
            named,
            versions,
        })
    }

    /// Reads the RPM repository at `base` (its root below the web endpoint) as dnf does, from its current
    /// `repomd.xml` or from `saved`.
    pub fn read_rpm(&mut self, base: &str, saved: Option<&[u8]>) -> Option<Generation> {
        let root = match saved {
            Some(bytes) => bytes.to_vec(),
            None => self.fetch(&format!("{base}/repodata/repomd.xml"), None)?,
        };
        let repomd = String::from_utf8_lossy(&root).into_owned();
        let mut named = Vec::new();
        let mut primary = None;
        for data in blocks(&repomd, "<data type=\"", "</data>") {
            let file = Named {
                path: resolve(base, between(data, "<location href=\"", "\"")?),
                sha256: between(data, "<checksum type=\"sha256\">", "<")?.to_owned(),
                size: between(data, "<size>", "<")?.parse().ok()?,
            };
            let body = self.fetch(&file.path, Some(&file))?;
            if data.starts_with("primary\"") {
                // libsolv reads every gzip member; the result must be the XML repomd.xml describes.
                let xml = gunzip(&body);
                let open = between(data, "<open-checksum type=\"sha256\">", "<")?;
                if hex::encode(Sha256::digest(xml.as_bytes())) != open {
                    self.tally.failed.push(format!(
                        "{}: decompressed, not the open-checksum {open}",
                        file.path
                    ));
                    return None;
                }
                primary = Some(xml);
            }
            named.push(file);
        }
        let mut versions = Vec::new();
        for package in blocks(&primary?, "<package type=\"rpm\">", "</package>") {
            let file = Named {
                path: resolve(base, between(package, "<location href=\"", "\"")?),
                sha256: between(package, "pkgid=\"YES\">", "<")?.to_owned(),
                size: between(package, "<size package=\"", "\"")?.parse().ok()?,
            };
            self.fetch(&file.path, Some(&file))?;
            versions.push(between(package, " ver=\"", "\"")?.to_owned());
            named.push(file);
        }
        Some(Generation {
            root,
            named,
            versions,
        })
    }

    /// Fetches every object `named` names, checking each (a client catching up on an old index).
    pub fn fetch_all(&mut self, named: &[Named]) {
        for object in named {
            self.fetch(&object.path, Some(object));
        }
    }
}

/// The signed text of a clear-signed `InRelease`.
pub fn cleartext(signed: &str) -> String {
    let body = signed.split_once("\n\n").map(|(_, rest)| rest).unwrap_or(signed);
    body.split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap_or(body)
        .to_owned()
}

/// The `SHA256:` entries of a `Release`: (digest, size, path).
pub fn sha256_entries(release: &str) -> Vec<(String, u64, String)> {
    release
        .lines()
        .skip_while(|l| *l != "SHA256:")
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.to_owned(),
                parts.next()?.parse().ok()?,
                parts.next()?.to_owned(),
            ))
        })
        .collect()
}

/// One listed form of a `Packages` index: its file name, and its digest and size.
type Form = (String, (String, u64));

/// A `Release`'s `Packages` indexes: per directory (`main/binary-amd64`), each listed form
/// (`Packages`, `Packages.gz`, …) with its digest and size.
fn packages_indexes(release: &str) -> Vec<(String, Vec<Form>)> {
    let mut indexes: Vec<(String, Vec<Form>)> = Vec::new();
    for (sha256, size, path) in sha256_entries(release) {
        let Some((dir, file)) = path.rsplit_once('/') else {
            continue;
        };
        if !file.starts_with("Packages") {
            continue;
        }
        let form = (file.to_owned(), (sha256, size));
        match indexes.iter_mut().find(|(d, _)| d == dir) {
            Some((_, forms)) => forms.push(form),
            None => indexes.push((dir.to_owned(), vec![form])),
        }
    }
    indexes
}

/// `body` decompressed by the form `name` (`Packages.gz`, `Packages.xz`); `None` for a form this
/// client does not decode (apt would pick another).
fn decompress(name: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let read = if name.ends_with(".gz") && !body.starts_with(&[0x1f, 0x8b]) {
        // apt reads .gz through zlib's gzread, which passes bytes without the gzip magic through
        // as they are (an empty index may be an empty file).
        return Some(body.to_vec());
    } else if name.ends_with(".gz") {
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(body), &mut out)
    } else if name.ends_with(".xz") {
        std::io::Read::read_to_end(&mut liblzma::read::XzDecoder::new(body), &mut out)
    } else {
        return None;
    };
    // Undecodable bytes that matched their digest: the publisher listed garbage, and the caller's
    // comparison with the uncompressed digest reports it.
    Some(
        read.map(|_| out)
            .unwrap_or_else(|e| format!("undecodable: {e}").into_bytes()),
    )
}

/// The text after each `start` up to the next `end`.
pub fn blocks<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    text.split(start)
        .skip(1)
        .map(|block| block.split(end).next().unwrap_or(block))
        .collect()
}

/// The text between the first `start` and the following `end`.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// `href` relative to the directory `base`, with `..` resolved as curl (and so dnf) does.
pub fn resolve(base: &str, href: &str) -> String {
    let mut segments: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for segment in href.split('/') {
        match segment {
            ".." => {
                segments.pop();
            }
            "." | "" => {}
            s => segments.push(s),
        }
    }
    segments.join("/")
}

pub fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(bytes), &mut text)
        .map(|_| text)
        .unwrap_or_default()
}
