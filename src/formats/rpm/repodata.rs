//! Rendering `repodata/`: primary, filelists and other (gzip, named by their digest as
//! createrepo_c's `--unique-md-filenames` names them), then `repomd.xml` and, when the repository
//! has a key, its detached signature `repomd.xml.asc`.
//!
//! Upload order, and why `repomd.xml.asc` comes after `repomd.xml`: the two files cannot change
//! together, and librepo reads `repomd.xml` first and the `.asc` right after. Writing them in the
//! same order, a client sees a mismatched pair only when both its reads fall between our two writes
//! (or its two reads straddle both writes); writing the `.asc` first, every client whose
//! `repomd.xml` read precedes our second write and whose `.asc` read follows our first write fails
//! — a window as long as both gaps together. See docs/formats-rpm.md.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::entry::RpmEntry;
use super::xml::{self, NS_COMMON, NS_FILELISTS, NS_OTHER, NS_REPO, NS_RPM};
use crate::formats::{FormatError, IndexFile, IndexRole, IndexedPackage, Sign};

/// Where the metadata lives under the repository root (dnf's `baseurl`).
pub const REPODATA_DIR: &str = "repodata";

/// One compressed metadata file and what repomd.xml says about it.
struct DataFile {
    /// `primary`, `filelists`, `other`.
    kind: &'static str,
    /// `repodata/<sha256 of the .gz>-<kind>.xml.gz`.
    path: String,
    gz: Vec<u8>,
    gz_sha256: String,
    open_sha256: String,
    open_size: usize,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn gzip(kind: &'static str, xml: &str) -> Result<DataFile, FormatError> {
    // flate2's default gzip header has mtime 0 and no name, so equal XML gives equal bytes and an
    // unchanged index keeps its content address.
    let mut encoder = GzEncoder::new(Vec::with_capacity(xml.len() / 4), Compression::default());
    let gz = encoder
        .write_all(xml.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|source| FormatError::Io {
            path: format!("{REPODATA_DIR}/{kind}.xml.gz").into(),
            source,
        })?;
    let gz_sha256 = sha256_hex(&gz);
    Ok(DataFile {
        kind,
        path: format!("{REPODATA_DIR}/{gz_sha256}-{kind}.xml.gz"),
        gz,
        gz_sha256,
        open_sha256: sha256_hex(xml.as_bytes()),
        open_size: xml.len(),
    })
}

/// Renders the repository listing exactly `packages` (see the module doc for the order).
pub fn render(
    packages: &[IndexedPackage],
    signer: Option<&dyn Sign>,
    now: SystemTime,
) -> Result<Vec<IndexFile>, FormatError> {
    let mut entries = packages
        .iter()
        .map(|p| {
            let label = format!("{} ({})", p.package.file_name, p.package.sha256);
            RpmEntry::from_stored(&label, &p.package.entry).map(|e| (p, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // A stable order makes an unchanged repository render byte-identical metadata.
    entries.sort_by(|(pa, a), (pb, b)| {
        (&a.name, &a.arch, &pa.package.sha256, &pa.href).cmp(&(
            &b.name,
            &b.arch,
            &pb.package.sha256,
            &pb.href,
        ))
    });
    let count = entries.len();

    let mut primary = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{count}\">\n"
    );
    let mut filelists = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{count}\">\n"
    );
    let mut other = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"{NS_OTHER}\" packages=\"{count}\">\n"
    );
    for (p, e) in &entries {
        let sha = &p.package.sha256;
        primary.push_str(&xml::primary(e, sha, p.package.size, &p.href));
        filelists.push_str(&xml::filelists(e, sha));
        other.push_str(&xml::other(e, sha));
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");
    other.push_str("</otherdata>\n");

    let data = [
        gzip("primary", &primary)?,
        gzip("filelists", &filelists)?,
        gzip("other", &other)?,
    ];
    let timestamp = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let repomd = repomd_xml(&data, timestamp);

    let mut files: Vec<IndexFile> = Vec::with_capacity(5);
    let mut data_files = Vec::with_capacity(3);
    for d in data {
        data_files.push(IndexFile {
            path: d.path,
            bytes: Bytes::from(d.gz),
            role: IndexRole::ContentAddressed,
        });
    }
    files.extend(data_files);
    let signature = match signer {
        Some(signer) => Some(signer.detached_sign(repomd.as_bytes())?),
        None => None,
    };
    files.push(IndexFile {
        path: format!("{REPODATA_DIR}/repomd.xml"),
        bytes: Bytes::from(repomd),
        role: IndexRole::Root,
    });
    if let Some(asc) = signature {
        files.push(IndexFile {
            path: format!("{REPODATA_DIR}/repomd.xml.asc"),
            bytes: Bytes::from(asc),
            role: IndexRole::Root,
        });
    }
    Ok(files)
}

/// repomd.xml: the root that names each data file with its compressed and open checksums and
/// sizes. `revision` is the publish time, which dnf shows and uses only to compare generations.
fn repomd_xml(data: &[DataFile], timestamp: u64) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">\n  <revision>{timestamp}</revision>\n"
    );
    for d in data {
        out.push_str(&format!(
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    <open-checksum type=\"sha256\">{open_sha}</open-checksum>\n    <location href=\"{path}\"/>\n    <timestamp>{timestamp}</timestamp>\n    <size>{size}</size>\n    <open-size>{open_size}</open-size>\n  </data>\n",
            kind = d.kind,
            sha = d.gz_sha256,
            open_sha = d.open_sha256,
            path = d.path,
            size = d.gz.len(),
            open_size = d.open_size,
        ));
    }
    out.push_str("</repomd>\n");
    out
}
