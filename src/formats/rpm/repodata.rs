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
use sha2::{Digest, Sha256};

use super::chunk_cache::{chunk_key, read_part, ChunkCache, RenderedChunk, Row, KINDS};
use super::entry::RpmEntry;
use super::xml::{self, NS_COMMON, NS_FILELISTS, NS_OTHER, NS_REPO, NS_RPM};
use crate::formats::chunks::{cut, gzip_member};
use crate::formats::parallel;
use crate::formats::{
    FormatError, IndexFile, IndexRole, IndexedPackage, PackageSource, RepositoryTarget, Sign,
};

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

/// An I/O error while compressing `kind`'s XML (in memory: only an allocation failure can cause it).
fn compress_error(kind: &str, source: std::io::Error) -> FormatError {
    FormatError::Io {
        path: format!("{REPODATA_DIR}/{kind}.xml.gz").into(),
        source,
    }
}

/// The root element's opening (with the package count, which every push changes: a gzip member
/// of its own, so that the first chunk stays cached) and closing tags of metadata file `k`.
fn head_and_foot(k: usize, count: usize) -> (String, &'static str) {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    match k {
        0 => (
            format!("{decl}<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{count}\">\n"),
            "</metadata>\n",
        ),
        1 => (
            format!("{decl}<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{count}\">\n"),
            "</filelists>\n",
        ),
        _ => (
            format!("{decl}<otherdata xmlns=\"{NS_OTHER}\" packages=\"{count}\">\n"),
            "</otherdata>\n",
        ),
    }
}

/// Where a chunk's parts come from when the metadata files are joined.
enum Source {
    /// Rendered by this publish (or read whole from the cache after a damaged file was found).
    Held(RenderedChunk),
    /// In the cache file at this path, read part by part while joining ([`read_part`]).
    Cached(std::path::PathBuf),
}

/// Why metadata files could not be joined.
enum JoinError {
    /// The cache file of this chunk (index into the sources) is missing or damaged.
    Damaged(usize),
    /// Compressing the head or foot failed.
    Format(FormatError),
}

/// Metadata file `k` (of [`KINDS`]): its head, every chunk's part and its foot, gzipped one member
/// each, with the digests and sizes repomd.xml states. The uncompressed XML is never joined: its
/// parts stream through one hasher, cached ones read into one reused buffer.
fn data_file(k: usize, count: usize, chunks: &[Source]) -> Result<DataFile, JoinError> {
    let kind = KINDS[k];
    let (head, foot) = head_and_foot(k, count);
    let compressed =
        |text: &str| gzip_member(text.as_bytes()).map_err(|e| JoinError::Format(compress_error(kind, e)));
    let (head_gz, foot_gz) = (compressed(&head)?, compressed(foot)?);
    let mut open = Sha256::new();
    open.update(head.as_bytes());
    let mut open_size = head.len() + foot.len();
    let mut gz = head_gz;
    let mut buf = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let (xml, member) = match chunk {
            Source::Held(chunk) => (&chunk.xml[k][..], &chunk.gz[k][..]),
            Source::Cached(path) => {
                let xml_len = read_part(path, k, &mut buf).ok_or(JoinError::Damaged(i))?;
                buf.split_at(xml_len)
            }
        };
        open.update(xml);
        open_size += xml.len();
        gz.extend_from_slice(member);
    }
    open.update(foot.as_bytes());
    gz.extend_from_slice(&foot_gz);
    let gz_sha256 = hex::encode(Sha256::digest(&gz));
    Ok(DataFile {
        kind,
        path: format!("{REPODATA_DIR}/{gz_sha256}-{kind}.xml.gz"),
        gz,
        gz_sha256,
        open_sha256: hex::encode(open.finalize()),
        open_size,
    })
}

/// The three metadata files of `chunks`. primary holds about three quarters of the XML (bench/repos:
/// 12.2 of 16.7 MB), so it is joined and hashed on a thread of its own while this one does filelists
/// and other.
fn data_files(count: usize, chunks: &[Source]) -> Result<Vec<DataFile>, JoinError> {
    std::thread::scope(|scope| {
        let primary = scope.spawn(|| data_file(0, count, chunks));
        let rest = [1, 2].map(|k| data_file(k, count, chunks));
        let primary = primary
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let [filelists, other] = rest;
        Ok(vec![primary?, filelists?, other?])
    })
}

/// The chunk made of `rows`, whose stored entries are `entries`: their `<package>` elements of the
/// three files, each file's part gzipped as one member.
fn render_chunk(rows: &[Row<'_>], entries: &[String]) -> Result<RenderedChunk, FormatError> {
    let mut xml: [String; 3] = Default::default();
    for (row, entry) in rows.iter().zip(entries) {
        let p = row.package;
        let label = format!("{} ({})", p.package.file_name, p.package.sha256);
        if entry.len() != row.entry_len {
            return Err(FormatError::Entry {
                package: label,
                reason: format!("{} bytes read, {} listed", entry.len(), row.entry_len),
            });
        }
        let e = RpmEntry::from_stored(&label, entry)?;
        let sha = &p.package.sha256;
        xml[0].push_str(&xml::primary(&e, sha, p.package.size, &p.href));
        xml[1].push_str(&xml::filelists(&e, sha));
        xml[2].push_str(&xml::other(&e, sha));
    }
    let mut gz: [Bytes; 3] = Default::default();
    for (k, text) in xml.iter().enumerate() {
        gz[k] = gzip_member(text.as_bytes())
            .map_err(|e| compress_error(KINDS[k], e))?
            .into();
    }
    Ok(RenderedChunk {
        xml: xml.map(Bytes::from),
        gz,
    })
}

/// Reads the stored entries of the packages given, in order (the records behind a publish, or the
/// packages' own `entry` fields).
type EntryReader<'r> = dyn FnMut(&[&IndexedPackage]) -> Result<Vec<String>, FormatError> + 'r;

/// Every chunk of the sorted `rows`: cached ones as their cache files ([`Source::Cached`]; with
/// `verify`, read whole and checked now instead, and rendered again when damaged), the others
/// rendered (on up to [`parallel`]'s threads) and cached; the chunks no longer used are dropped from
/// the cache. Only the entries of the chunks rendered are read (`read_entries`, once). Also returns
/// how many were rendered.
fn chunks(
    repository: &str,
    rows: &[Row<'_>],
    cache: &ChunkCache,
    read_entries: &mut EntryReader<'_>,
    verify: bool,
) -> Result<(Vec<Source>, usize), FormatError> {
    let ranges = cut(rows
        .iter()
        .map(|r| (r.package.package.name.as_str(), r.entry_len)));
    let keys: Vec<String> = ranges.iter().map(|r| chunk_key(&rows[r.clone()])).collect();
    let mut found: Vec<Option<Source>> = match verify {
        // Reading and checking a cached chunk is cheap next to starting a thread: a few per thread.
        true => parallel::try_map_coarse(&keys, 8, |key| {
            Ok::<_, FormatError>(cache.load(repository, key).map(Source::Held))
        })?,
        false => keys
            .iter()
            .map(|key| {
                cache
                    .file(repository, key)
                    .filter(|path| path.is_file())
                    .map(Source::Cached)
            })
            .collect(),
    };
    let missing: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
    let wanted: Vec<&IndexedPackage> = missing
        .iter()
        .flat_map(|&i| rows[ranges[i].clone()].iter().map(|r| r.package))
        .collect();
    let entries = read_entries(&wanted)?;
    // Each missing chunk with its entries (they follow `missing`'s order).
    let mut at = 0;
    let work: Vec<(usize, &[String])> = missing
        .iter()
        .map(|&i| {
            let n = ranges[i].len();
            at += n;
            (i, &entries[at - n..at])
        })
        .collect();
    let rendered = parallel::try_map_coarse(&work, 1, |&(i, entries)| {
        render_chunk(&rows[ranges[i].clone()], entries)
    })?;
    for (&i, chunk) in missing.iter().zip(rendered) {
        cache.store(repository, &keys[i], &chunk);
        found[i] = Some(Source::Held(chunk));
    }
    cache.retain(repository, &keys);
    Ok((found.into_iter().flatten().collect(), missing.len()))
}

/// Renders `target`'s repository listing exactly `packages` (see the module doc for the order);
/// `cache` holds the chunks of earlier publishes.
pub fn render(
    target: &RepositoryTarget,
    packages: &[IndexedPackage],
    signer: Option<&dyn Sign>,
    now: SystemTime,
    cache: &ChunkCache,
) -> Result<Vec<IndexFile>, FormatError> {
    let rows: Vec<Row<'_>> = packages
        .iter()
        .map(|package| Row {
            package,
            entry_len: package.package.entry.len(),
        })
        .collect();
    let mut own_entries =
        |wanted: &[&IndexedPackage]| Ok(wanted.iter().map(|p| p.package.entry.clone()).collect());
    render_rows(target, rows, &mut own_entries, signer, now, cache)
}

/// [`render`] of the packages `source` lists: only the entries of the chunks not in `cache` are read.
pub fn render_from(
    target: &RepositoryTarget,
    source: &mut dyn PackageSource,
    signer: Option<&dyn Sign>,
    now: SystemTime,
    cache: &ChunkCache,
) -> Result<Vec<IndexFile>, FormatError> {
    let listing = source.listing()?;
    let rows: Vec<Row<'_>> = listing
        .iter()
        .map(|l| Row {
            package: &l.indexed,
            entry_len: l.entry_len,
        })
        .collect();
    let mut read_entries = |wanted: &[&IndexedPackage]| source.entries(wanted);
    render_rows(target, rows, &mut read_entries, signer, now, cache)
}

/// Renders the repository of `rows` (any order), reading entries through `read_entries`.
fn render_rows(
    target: &RepositoryTarget,
    mut rows: Vec<Row<'_>>,
    read_entries: &mut EntryReader<'_>,
    signer: Option<&dyn Sign>,
    now: SystemTime,
    cache: &ChunkCache,
) -> Result<Vec<IndexFile>, FormatError> {
    let started = Instant::now();
    // A stable order makes an unchanged repository render byte-identical metadata. Name and
    // architecture are the entry's (inspection copies them), so the order needs no entry read.
    rows.sort_by(|a, b| {
        let (a, b) = (a.package, b.package);
        let (pa, pb) = (&a.package, &b.package);
        (&pa.name, &pa.architecture, &pa.sha256, &a.href).cmp(&(
            &pb.name,
            &pb.architecture,
            &pb.sha256,
            &b.href,
        ))
    });
    let sorted = rows;
    let (sources, rendered) = chunks(&target.id, &sorted, cache, read_entries, false)?;
    tracing::debug!(
        repository = %target.id,
        packages = sorted.len(),
        chunks = sources.len(),
        rendered_chunks = rendered,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "repodata chunks rendered"
    );

    let started = Instant::now();
    let data = match data_files(sorted.len(), &sources) {
        // A cache file went missing or was damaged: every cached chunk is read whole and checked
        // now, the bad ones rendered again, and the files joined from memory.
        Err(JoinError::Damaged(i)) => {
            tracing::info!(
                repository = %target.id,
                chunk = i,
                "a cached repodata chunk is damaged or of an earlier layout: checking every cached chunk"
            );
            let (sources, _) = chunks(&target.id, &sorted, cache, read_entries, true)?;
            data_files(sorted.len(), &sources)
        }
        joined => joined,
    };
    let data = data.map_err(|e| match e {
        JoinError::Format(e) => e,
        // Only a file changed under this publish (all are held in memory by now).
        JoinError::Damaged(i) => FormatError::Io {
            path: format!("{REPODATA_DIR} chunk {i}").into(),
            source: std::io::Error::other("the chunk cache changed while the repodata was joined"),
        },
    })?;
    tracing::debug!(
        repository = %target.id,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "repodata compressed and hashed"
    );
    let timestamp = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let repomd = repomd_xml(&data, timestamp);

    let mut files: Vec<IndexFile> = Vec::with_capacity(5);
    for d in data {
        files.push(IndexFile {
            path: d.path,
            bytes: Bytes::from(d.gz),
            role: IndexRole::ContentAddressed,
        });
    }
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
