//! `.deb` inspection in one streaming pass: the `ar` archive is read front to back, its
//! `control.tar.{gz,xz,zst}` member is decompressed on the fly to find `control`, and every byte of
//! the file — the members not looked into as well — goes through the SHA-256 and MD5 hashers on the
//! way, so the file is read exactly once.
//!
//! The checks are the ones dpkg-deb(1) makes when it reads a package (deb(5)): `debian-binary` first
//! and saying format 2.x, one control member before the data member, a data member, no unknown
//! members other than `_`-prefixed ones; and the control fields apt needs, well-formed.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::control::Stanza;
use super::version::Version;
use crate::formats::{FormatError, InspectedPackage};

/// The largest `control` file accepted. Real ones are a few KiB (the largest in Debian 12 are
/// ~20 KiB); the bound keeps a hostile package from growing every `Packages` file. Our choice, not a
/// dpkg limit.
const MAX_CONTROL_BYTES: u64 = 1024 * 1024;

/// The largest `debian-binary` member read (it holds `2.0\n`; dpkg reads at most a line).
const MAX_DEBIAN_BINARY_BYTES: u64 = 64;

/// Fields that describe the file rather than the package: set by us from what we measured (or, for
/// `Filename`, by the renderer from where the file is published), never taken from the package.
const FILE_FIELDS: [&str; 6] = ["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

/// A reader that hashes and counts every byte read through it.
struct HashingReader<R> {
    /// The file.
    inner: R,
    /// SHA-256 so far (the pool's identity and `SHA256:`).
    sha256: Sha256,
    /// MD5 so far (`MD5sum:`, which aptly and dak still write and old tools read).
    md5: Md5,
    /// Bytes read so far (`Size:`).
    bytes: u64,
    /// The first error reading the file itself, kept so that a disk error is reported as one (and
    /// may be retried) rather than as a malformed package, whatever the parsers above make of it.
    file_error: Option<(io::ErrorKind, String)>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            self.file_error.get_or_insert((e.kind(), e.to_string()));
        })?;
        self.sha256.update(&buf[..n]);
        self.md5.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Counts the bytes read from one archive member.
struct CountingReader<R> {
    /// The member.
    inner: R,
    /// Bytes read from it so far.
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What reading the archive's members found.
struct Members {
    /// The parsed `control` file.
    control: Stanza,
}

/// Inspects the `.deb` at `path` (see the module documentation).
pub fn inspect(path: &Path) -> Result<InspectedPackage, FormatError> {
    let io_error = |source| FormatError::Io {
        path: path.to_owned(),
        source,
    };
    let invalid = |reason: String| FormatError::Invalid {
        path: path.to_owned(),
        format: "debian",
        reason,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, file),
        sha256: Sha256::new(),
        md5: Md5::new(),
        bytes: 0,
        file_error: None,
    };
    let members = read_members(&mut reader);
    if let Some((kind, message)) = reader.file_error.take() {
        return Err(io_error(io::Error::new(kind, message)));
    }
    let members = members.map_err(invalid)?;
    // Anything after the last member (there should be nothing) is part of the file and its hash.
    io::copy(&mut reader, &mut io::sink()).map_err(io_error)?;

    let control = members.control;
    let name = control.required("Package").map_err(&invalid)?.to_owned();
    check_name(&name).map_err(&invalid)?;
    let version = control.required("Version").map_err(&invalid)?;
    let parsed = Version::parse(version).map_err(&invalid)?;
    let architecture = control.required("Architecture").map_err(&invalid)?.to_owned();
    check_architecture(&architecture).map_err(&invalid)?;
    check_file_name_architecture(path, &architecture).map_err(&invalid)?;

    let sha256 = hex::encode(reader.sha256.finalize());
    let md5 = hex::encode(reader.md5.finalize());
    let mut entry = control.clone();
    for field in FILE_FIELDS {
        entry.remove(field);
    }
    entry.set("Size", reader.bytes.to_string());
    entry.set("MD5sum", md5);
    entry.set("SHA256", sha256.clone());
    Ok(InspectedPackage {
        file_name: format!("{name}_{}_{architecture}.deb", parsed.without_epoch()),
        version: version.to_owned(),
        name,
        architecture,
        size: reader.bytes,
        sha256,
        entry: entry.to_text(),
    })
}

/// Names what failed while parsing (a truncated file, bad framing, a corrupt compressed member).
fn malformed(what: &'static str) -> impl Fn(io::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// Walks the archive's members in order, reading `debian-binary` and `control` and letting the
/// rest stream through the hasher.
fn read_members<R: Read>(reader: &mut R) -> Result<Members, String> {
    let mut archive = ar::Archive::new(reader);
    let mut control = None;
    let mut has_data = false;
    let mut index = 0usize;
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(malformed("not a Debian package (ar archive) or truncated"))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        let size = entry.header().size();
        let mut counted = CountingReader {
            inner: entry,
            bytes: 0,
        };
        if index == 0 {
            if name != "debian-binary" {
                return Err(format!("the first member is {name:?}, not debian-binary"));
            }
            let mut text = String::new();
            (&mut counted)
                .take(MAX_DEBIAN_BINARY_BYTES)
                .read_to_string(&mut text)
                .map_err(malformed("reading debian-binary"))?;
            if !text.starts_with("2.") {
                return Err(format!(
                    "unsupported package format {:?} in debian-binary",
                    text.trim()
                ));
            }
        } else if let Some(compression) = name.strip_prefix("control.tar") {
            if control.is_some() || has_data {
                return Err(format!("misplaced member {name:?}"));
            }
            control = Some(read_control(&mut counted, compression)?);
        } else if name.starts_with("data.tar") {
            if control.is_none() || has_data {
                return Err(format!("misplaced member {name:?}"));
            }
            has_data = true;
        } else if !name.starts_with('_') {
            return Err(format!("unknown member {name:?}"));
        }
        index += 1;
        // Read what is left of the member through the hasher, and make sure it was all there: the
        // ar crate stops quietly at the end of a truncated file.
        io::copy(&mut counted, &mut io::sink()).map_err(malformed("reading the archive"))?;
        if counted.bytes != size {
            return Err(format!(
                "truncated: member {name:?} has {} of its {size} bytes",
                counted.bytes
            ));
        }
    }
    if index == 0 {
        return Err("the archive is empty".into());
    }
    let control = control.ok_or_else(|| "no control.tar member".to_string())?;
    if !has_data {
        return Err("no data.tar member".into());
    }
    Ok(Members { control })
}

/// Decompresses a `control.tar[.gz|.xz|.zst]` member and parses its `control` file.
fn read_control(member: &mut dyn Read, compression: &str) -> Result<Stanza, String> {
    let decoder: Box<dyn Read + '_> = match compression {
        "" => Box::new(member),
        ".gz" => Box::new(flate2::read::GzDecoder::new(member)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new(member)),
        ".zst" => Box::new(zstd::stream::read::Decoder::new(member).map_err(malformed("control.tar.zst"))?),
        other => {
            return Err(format!(
                "unsupported control member compression control.tar{other}"
            ))
        }
    };
    let bad = malformed("reading the control member");
    let mut tar = tar::Archive::new(decoder);
    for entry in tar.entries().map_err(&bad)? {
        let entry = entry.map_err(&bad)?;
        let path = entry.path().map_err(&bad)?.into_owned();
        let path = path.to_string_lossy();
        if path.trim_start_matches("./") != "control" {
            continue;
        }
        if entry.size() > MAX_CONTROL_BYTES {
            return Err(format!(
                "the control file is {} bytes, more than the {MAX_CONTROL_BYTES} accepted",
                entry.size()
            ));
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_CONTROL_BYTES)
            .read_to_end(&mut bytes)
            .map_err(&bad)?;
        let text = String::from_utf8(bytes).map_err(|_| "the control file is not UTF-8".to_string())?;
        return Stanza::parse(&text).map_err(|e| format!("the control file: {e}"));
    }
    Err("control.tar has no control file".into())
}

/// Debian Policy §5.6.1: lowercase letters, digits, `+`, `-`, `.`; at least two characters,
/// starting with a letter or digit.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid Debian package name"))
    }
}

/// Architecture names are lowercase letters, digits and `-` (dpkg-architecture(1)); one word, since
/// a binary package has exactly one.
fn check_architecture(architecture: &str) -> Result<(), String> {
    let ok = !architecture.is_empty()
        && architecture
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("{architecture:?} is not a valid architecture"))
    }
}

/// A file named like a pool file (`name_version_arch.deb`) must not claim another architecture
/// than its control file: that is a mislabelled upload, and publishing it would put it in the wrong
/// `binary-<arch>` index. Other names (temporary upload files) are not judged.
fn check_file_name_architecture(path: &Path, architecture: &str) -> Result<(), String> {
    let Some(stem) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".deb"))
    else {
        return Ok(());
    };
    let parts: Vec<&str> = stem.split('_').collect();
    match parts.as_slice() {
        [_, _, named] if *named != architecture => Err(format!(
            "the file name says architecture {named:?} but its control file says {architecture:?}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
