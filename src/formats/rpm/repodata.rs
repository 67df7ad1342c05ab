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

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::entry::RpmEntry;
use super::xml::{self, NS_COMMON, NS_FILELISTS, NS_OTHER, NS_REPO, NS_RPM};
use crate::formats::chunks::{digest_of, ChunkCache, Chunker};
use crate::formats::parallel;
use crate::formats::{FormatError, IndexFile, IndexRole, IndexedPackage, RepositoryTarget, Sign};

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

/// One metadata file: its XML, cut into stable chunks, gzipped one member per chunk (members of
/// unchanged chunks come from `cache`; libsolv reads the members as one stream, see
/// [`crate::formats::chunks`]). `compressed` counts the chunks that were not cached.
fn gzip(
    cache: &ChunkCache,
    target: &RepositoryTarget,
    kind: &'static str,
    chunks: &[String],
    compressed: &mut usize,
) -> Result<DataFile, FormatError> {
    let scope = format!("rpm/{}/{kind}.xml.gz", target.id);
    let gz = cache.gzip(&scope, chunks).map_err(|source| FormatError::Io {
        path: format!("{REPODATA_DIR}/{kind}.xml.gz").into(),
        source,
    })?;
    *compressed += gz.compressed;
    let gz_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&gz.bytes));
    let (open_sha256, open_size) = digest_of(chunks);
    Ok(DataFile {
        kind,
        path: format!("{REPODATA_DIR}/{gz_sha256}-{kind}.xml.gz"),
        gz: gz.bytes,
        gz_sha256,
        open_sha256,
        open_size,
    })
}

/// The three metadata files' XML, each cut into chunks as its entries are written.
struct Metadata {
    primary: Chunker,
    filelists: Chunker,
    other: Chunker,
}

impl Metadata {
    /// The three files with their root elements opened; `count` packages follow.
    fn open(count: usize) -> Self {
        let mut files = Self {
            primary: Chunker::new(),
            filelists: Chunker::new(),
            other: Chunker::new(),
        };
        files.primary.text().push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{count}\">\n"
        ));
        files.filelists.text().push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{count}\">\n"
        ));
        files.other.text().push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"{NS_OTHER}\" packages=\"{count}\">\n"
        ));
        // The head names the package count: a chunk of its own, so that a new package does not
        // change the first packages' chunk too.
        for file in [&mut files.primary, &mut files.filelists, &mut files.other] {
            file.end_chunk();
        }
        files
    }

    /// The chunks of primary, filelists and other, their root elements closed.
    fn close(mut self) -> [Vec<String>; 3] {
        self.primary.text().push_str("</metadata>\n");
        self.filelists.text().push_str("</filelists>\n");
        self.other.text().push_str("</otherdata>\n");
        [
            self.primary.finish(),
            self.filelists.finish(),
            self.other.finish(),
        ]
    }
}

/// One package's `<package>` elements of the three files.
struct Fragments {
    primary: String,
    filelists: String,
    other: String,
}

impl Fragments {
    /// The elements of `p`, from its stored entry.
    fn of(p: &IndexedPackage) -> Result<Self, FormatError> {
        let label = format!("{} ({})", p.package.file_name, p.package.sha256);
        let e = RpmEntry::from_stored(&label, &p.package.entry)?;
        let sha = &p.package.sha256;
        Ok(Self {
            primary: xml::primary(&e, sha, p.package.size, &p.href),
            filelists: xml::filelists(&e, sha),
            other: xml::other(&e, sha),
        })
    }
}

/// Renders `target`'s repository listing exactly `packages` (see the module doc for the order);
/// `cache` holds the compressed chunks of earlier publishes.
pub fn render(
    target: &RepositoryTarget,
    packages: &[IndexedPackage],
    signer: Option<&dyn Sign>,
    now: SystemTime,
    cache: &ChunkCache,
) -> Result<Vec<IndexFile>, FormatError> {
    let started = Instant::now();
    // A stable order makes an unchanged repository render byte-identical metadata. Name and
    // architecture are the entry's (inspection copies them), so the order needs no entry parsed.
    let mut sorted: Vec<&IndexedPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| {
        let (pa, pb) = (&a.package, &b.package);
        (&pa.name, &pa.architecture, &pa.sha256, &a.href).cmp(&(
            &pb.name,
            &pb.architecture,
            &pb.sha256,
            &b.href,
        ))
    });
    let fragments = parallel::try_map(&sorted, |p| Fragments::of(p))?;
    let mut metadata = Metadata::open(sorted.len());
    for (p, f) in sorted.iter().zip(&fragments) {
        let name = &p.package.name;
        metadata.primary.entry(name).push_str(&f.primary);
        metadata.filelists.entry(name).push_str(&f.filelists);
        metadata.other.entry(name).push_str(&f.other);
    }
    let [primary, filelists, other] = metadata.close();
    tracing::debug!(
        repository = %target.id,
        packages = packages.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "repodata XML rendered"
    );

    let started = Instant::now();
    let mut compressed = 0;
    let data = [
        gzip(cache, target, "primary", &primary, &mut compressed)?,
        gzip(cache, target, "filelists", &filelists, &mut compressed)?,
        gzip(cache, target, "other", &other, &mut compressed)?,
    ];
    tracing::debug!(
        repository = %target.id,
        compressed_chunks = compressed,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "repodata compressed and hashed"
    );
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
