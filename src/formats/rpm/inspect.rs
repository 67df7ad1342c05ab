//! Reading an `.rpm` once: the lead, signature header and main header are read and bounds-checked
//! ([`super::header`]) and decoded with the `rpm` crate, all from the stream that is hashed; then
//! the payload is hashed without being decoded.
//! The result is the package's identity and its [`RpmEntry`].

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use rpm::{DependencyFlags, FileType, PackageMetadata};
use sha2::{Digest, Sha256};

use super::entry::{Changelog, Dep, DepFlag, FileKind, PackageFile, RpmEntry, ENTRY_VERSION};
use super::header::{read_headers, HeaderError, RawHeaders};
use super::vercmp::split_evr;
use crate::formats::{FormatError, InspectedPackage};

/// How many changelog entries other.xml keeps per package: createrepo_c's default
/// (`--changelog-limit`, `DEFAULT_CHANGELOG_LIMIT` = 10 in createrepo_c's src/createrepo_c.h).
pub const CHANGELOG_LIMIT: usize = 10;

/// Read buffer for the payload pass; large enough that hashing, not syscalls, is the cost.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Hashes and counts every byte read through it, so that parsing and hashing are one pass.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Inspects the package at `path` (see the module doc).
pub fn inspect(path: &Path) -> Result<InspectedPackage, FormatError> {
    let io_err = |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |reason: String| FormatError::Invalid {
        path: path.to_path_buf(),
        format: "rpm",
        reason,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(READ_BUFFER_BYTES, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let raw = read_headers(&mut reader).map_err(|e| match e {
        HeaderError::Io(source) => io_err(source),
        HeaderError::Invalid(reason) => invalid(reason),
    })?;
    // Decoded before the payload is hashed, so that a bad package fails before a long read.
    let mut entry = decode(&raw).map_err(invalid)?;
    // The rest (the payload) is only hashed.
    io::copy(&mut reader, &mut io::sink()).map_err(io_err)?;
    let size = reader.bytes;
    let sha256 = hex::encode(reader.hasher.finalize());
    entry.archive_size = size.saturating_sub(entry.header_end);

    let file_name = format!(
        "{}-{}-{}.{}.rpm",
        entry.name, entry.version, entry.release, entry.arch
    );
    let version = if entry.epoch == 0 {
        format!("{}-{}", entry.version, entry.release)
    } else {
        format!("{}:{}-{}", entry.epoch, entry.version, entry.release)
    };
    Ok(InspectedPackage {
        name: entry.name.clone(),
        version,
        architecture: entry.arch.clone(),
        size,
        sha256,
        file_name,
        entry: entry.to_stored(),
    })
}

/// Parses checked header bytes with the `rpm` crate into an entry (`archive_size` still 0).
/// [`read_headers`] has bounded every offset and count the crate trusts; a panic inside the crate
/// is still caught here and reported as a bad package, because an accessor could index arrays
/// whose lengths disagree (file names against directory indexes) and one corrupt upload must not
/// take the daemon down.
fn decode(raw: &RawHeaders) -> Result<RpmEntry, String> {
    let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let metadata = PackageMetadata::parse(&mut Cursor::new(&raw.bytes[..]))
            .map_err(|e| format!("unreadable header: {e}"))?;
        if metadata.is_source_package() {
            return Err("a source package (.src.rpm); RPM repositories here hold binary packages".into());
        }
        entry_from(&metadata, raw.header_start, raw.header_end)
    }));
    parsed.unwrap_or_else(|_| Err("the header is inconsistent (the rpm parser gave up)".into()))
}

/// Builds the entry from a parsed header (`archive_size` left 0). Errors are reasons.
pub fn entry_from(
    metadata: &PackageMetadata,
    header_start: u64,
    header_end: u64,
) -> Result<RpmEntry, String> {
    let required = |what: &str, value: Result<&str, rpm::Error>| -> Result<String, String> {
        let value = value.map_err(|e| format!("no {what} in the header: {e}"))?;
        check_identity_part(what, value)?;
        Ok(value.to_string())
    };
    let name = required("name", metadata.get_name())?;
    let version = required("version", metadata.get_version())?;
    let release = required("release", metadata.get_release())?;
    let arch = required("arch", metadata.get_arch())?;
    let epoch = optional_number(metadata.get_epoch())?.unwrap_or(0);
    let text = |value: Result<&str, rpm::Error>| optional_text(value);

    let deps = |list: Result<Vec<rpm::Dependency>, rpm::Error>, what: &str| {
        list.or_else(|e| match e {
            rpm::Error::TagNotFound(_) => Ok(Vec::new()),
            e => Err(format!("unreadable {what}: {e}")),
        })
        .map(|list| list.iter().filter_map(dep_from).collect::<Vec<_>>())
    };
    let files = files_from(metadata)?;
    let changelogs = match metadata.get_changelog_entries() {
        Ok(list) => list,
        Err(rpm::Error::TagNotFound(_)) => Vec::new(),
        Err(e) => return Err(format!("unreadable changelog: {e}")),
    };
    Ok(RpmEntry {
        v: ENTRY_VERSION,
        name,
        epoch,
        version,
        release,
        arch,
        summary: text(metadata.get_summary())?,
        description: text(metadata.get_description())?,
        packager: text(metadata.get_packager())?,
        url: text(metadata.get_url())?,
        license: text(metadata.get_license())?,
        vendor: text(metadata.get_vendor())?,
        group: text(metadata.get_group())?,
        buildhost: text(metadata.get_build_host())?,
        sourcerpm: text(metadata.get_source_rpm())?,
        build_time: optional_number(metadata.get_build_time())?.unwrap_or(0),
        installed_size: optional_number(metadata.get_installed_size())?.unwrap_or(0),
        archive_size: 0,
        header_start,
        header_end,
        provides: deps(metadata.get_provides(), "provides")?,
        requires: deps(metadata.get_requires(), "requires")?
            .into_iter()
            .filter(|d| !d.name.starts_with("rpmlib("))
            .collect(),
        conflicts: deps(metadata.get_conflicts(), "conflicts")?,
        obsoletes: deps(metadata.get_obsoletes(), "obsoletes")?,
        recommends: deps(metadata.get_recommends(), "recommends")?,
        suggests: deps(metadata.get_suggests(), "suggests")?,
        supplements: deps(metadata.get_supplements(), "supplements")?,
        enhances: deps(metadata.get_enhances(), "enhances")?,
        files,
        // rpm stores changelogs newest first.
        changelogs: changelogs
            .into_iter()
            .take(CHANGELOG_LIMIT)
            .map(|c| Changelog {
                author: c.name,
                date: c.timestamp,
                text: c.description,
            })
            .collect(),
    })
}

/// Name, version, release and arch end up in the file name and the pool key: refuse what would
/// make an unsafe or ambiguous path (`/`, whitespace, control characters, `+` that S3 reads as a
/// space is allowed in RPM names like `libstdc++` and left to the publisher's key encoding).
fn check_identity_part(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("empty {what}"));
    }
    if value == "."
        || value == ".."
        || value
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("{what} {value:?} is not usable in a file name"));
    }
    Ok(())
}

fn optional_text(value: Result<&str, rpm::Error>) -> Result<String, String> {
    match value {
        Ok(v) => Ok(v.to_string()),
        Err(rpm::Error::TagNotFound(_)) => Ok(String::new()),
        Err(e) => Err(format!("unreadable header field: {e}")),
    }
}

fn optional_number<T>(value: Result<T, rpm::Error>) -> Result<Option<T>, String> {
    match value {
        Ok(v) => Ok(Some(v)),
        Err(rpm::Error::TagNotFound(_)) => Ok(None),
        Err(e) => Err(format!("unreadable header field: {e}")),
    }
}

fn dep_from(d: &rpm::Dependency) -> Option<Dep> {
    if d.name.is_empty() {
        return None;
    }
    let bits = d.flags.bits();
    let flags = DepFlag::from_sense(bits);
    let (epoch, ver, rel) = if flags.is_some() {
        split_evr(&d.version)
    } else {
        (None, String::new(), None)
    };
    let pre_bits = DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
    Some(Dep {
        name: d.name.clone(),
        flags,
        epoch,
        ver,
        rel,
        pre: d.flags.intersects(pre_bits),
    })
}

fn files_from(metadata: &PackageMetadata) -> Result<Vec<PackageFile>, String> {
    let entries = match metadata.get_file_entries() {
        Ok(list) => list,
        Err(rpm::Error::TagNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(format!("unreadable file list: {e}")),
    };
    Ok(entries
        .iter()
        .map(|f| {
            let kind = if f.flags().contains(rpm::FileFlags::GHOST) {
                FileKind::Ghost
            } else if f.mode().file_type() == FileType::Dir {
                FileKind::Dir
            } else {
                FileKind::File
            };
            PackageFile {
                path: f.path().to_string_lossy().into_owned(),
                kind,
            }
        })
        .collect())
}
