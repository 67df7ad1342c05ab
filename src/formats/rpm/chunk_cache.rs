//! Rendered repodata chunks, kept between publishes and found again by what they are made of, so that
//! a publish of 10 packages into a 10,000-package repository renders and compresses only the chunks
//! those packages fall in (issue 14, acceptance 5), and reads every other chunk's XML and gzip
//! members back from `<state>/index-cache/rpm/`.
//!
//! A chunk is a run of the repository's sorted packages, cut by [`crate::formats::chunks::cut`] on
//! inputs only (names, and the stored entries' lengths as the size estimate), so its boundaries are
//! known before anything is rendered. Its key ([`chunk_key`]) is the SHA-256 of everything its XML
//! is made of: [`RENDER_VERSION`], the entry version, and per package the file's SHA-256, size and
//! href. The stored entry itself is not hashed: the pool keeps one row per file digest and never
//! rewrites it (`INSERT OR IGNORE`), so a package's SHA-256 fixes its entry; its length is in the key
//! as a tripwire all the same.
//!
//! A cache file holds the chunk's primary, filelists and other XML (needed for repomd.xml's
//! `open-checksum`, the SHA-256 of each whole uncompressed file) and their gzip members, each part
//! behind its own CRC-32: a torn or corrupt file is rendered again, never served. Each metadata file's
//! XML and member lie side by side, so a publish reads one file's part of every chunk
//! ([`read_part`]) into one reused buffer, hashing as it goes, on a thread per metadata file: the
//! ~18 MB of cached XML of a 10,000-package repository is never held in memory at once.

use std::collections::HashSet;
use std::path::PathBuf;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::entry::ENTRY_VERSION;
use crate::formats::chunks::{remove_unused, write_cache_file};
use crate::formats::IndexedPackage;

/// Version of what src/formats/rpm/xml.rs writes for the same entry. Part of every chunk key: bump it
/// whenever the rendered XML changes, or publishes would keep serving chunks rendered the old way
/// (`xml_output_is_pinned` in src/formats/rpm/tests.rs fails until it is bumped).
pub const RENDER_VERSION: u32 = 1;

/// The metadata files a chunk has a part of, in repomd.xml's order.
pub const KINDS: [&str; 3] = ["primary", "filelists", "other"];

/// First bytes of a cache file (and its layout version; `bmrpmck1` files, with one CRC-32 over all
/// parts, are not read and are rendered again).
const MAGIC: &[u8; 8] = b"bmrpmck2";

/// Parts of a chunk: the XML and the gzip member of each of [`KINDS`].
const PARTS: usize = 2 * KINDS.len();

/// Header size: magic, then the six part lengths (u64) and the six parts' CRC-32s (u32), little-endian.
const HEADER_BYTES: usize = MAGIC.len() + (8 + 4) * PARTS;

/// One chunk rendered: per metadata file (in [`KINDS`] order), its XML and the XML's gzip member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedChunk {
    /// The `<package>` elements, uncompressed.
    pub xml: [Bytes; 3],
    /// Each XML as one gzip member.
    pub gz: [Bytes; 3],
}

/// One package of a repository as a chunk is cut and keyed: listed, and how long its stored entry is
/// (whether or not the entry has been read).
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The package and its href.
    pub package: &'a IndexedPackage,
    /// The length in bytes of its stored entry.
    pub entry_len: usize,
}

/// The key of the chunk made of `rows` (see the module documentation).
pub fn chunk_key(rows: &[Row<'_>]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RENDER_VERSION.to_le_bytes());
    hasher.update(ENTRY_VERSION.to_le_bytes());
    for row in rows {
        let p = row.package;
        hasher.update(p.package.sha256.as_bytes());
        hasher.update(p.package.size.to_le_bytes());
        hasher.update((row.entry_len as u64).to_le_bytes());
        hasher.update(p.href.as_bytes());
        // Separates the variable-length href from the next package.
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// Rendered chunks of every repository, one directory per repository. Only a cache: what is missing
/// or damaged is rendered again, and a cache that cannot be written costs time, never a publish.
#[derive(Clone, Debug, Default)]
pub struct ChunkCache {
    /// Where; `None` keeps nothing (every chunk rendered on every publish).
    dir: Option<PathBuf>,
}

impl ChunkCache {
    /// A cache under `dir` (created when first written).
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir: Some(dir) }
    }

    /// The directory of `repository`'s chunks: named by a digest of its id, whatever characters
    /// the id holds.
    fn scope(&self, repository: &str) -> Option<PathBuf> {
        let name = hex::encode(&Sha256::digest(repository.as_bytes())[..12]);
        self.dir.as_ref().map(|dir| dir.join("chunks").join(name))
    }

    /// The chunk `key` of `repository`, if cached and intact (every part read and checked).
    pub fn load(&self, repository: &str, key: &str) -> Option<RenderedChunk> {
        decode(Bytes::from(std::fs::read(self.file(repository, key)?).ok()?))
    }

    /// Where the chunk `key` of `repository` is cached, if this cache keeps anything; whether it is
    /// there and intact is known only once it is read ([`read_part`], [`ChunkCache::load`]).
    pub fn file(&self, repository: &str, key: &str) -> Option<PathBuf> {
        Some(self.scope(repository)?.join(key))
    }

    /// Keeps `chunk` as `repository`'s chunk `key`.
    pub fn store(&self, repository: &str, key: &str, chunk: &RenderedChunk) {
        if let Some(dir) = self.scope(repository) {
            write_cache_file(&dir, key, &encode(chunk));
        }
    }

    /// Removes `repository`'s chunks other than `keys` (the ones its last render used), and what an
    /// earlier layout of this cache left beside `chunks/` (gzip members keyed by their text).
    pub fn retain(&self, repository: &str, keys: &[String]) {
        if let Some(dir) = self.scope(repository) {
            remove_unused(&dir, &keys.iter().map(String::as_str).collect::<HashSet<_>>());
        }
        let Some(entries) = self.dir.as_ref().and_then(|dir| std::fs::read_dir(dir).ok()) else {
            return;
        };
        for entry in entries.flatten().filter(|entry| entry.file_name() != "chunks") {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "old index cache not removed");
            }
        }
    }
}

/// The six parts of a chunk, in file order.
fn parts(chunk: &RenderedChunk) -> impl Iterator<Item = &Bytes> {
    chunk.xml.iter().zip(&chunk.gz).flat_map(|(xml, gz)| [xml, gz])
}

/// The CRC-32 of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// A cache file: magic, the six lengths and CRC-32s, the six parts.
fn encode(chunk: &RenderedChunk) -> Vec<u8> {
    let mut file = Vec::with_capacity(parts(chunk).map(Bytes::len).sum::<usize>() + HEADER_BYTES);
    file.extend_from_slice(MAGIC);
    for part in parts(chunk) {
        file.extend_from_slice(&(part.len() as u64).to_le_bytes());
    }
    for part in parts(chunk) {
        file.extend_from_slice(&crc32(part).to_le_bytes());
    }
    for part in parts(chunk) {
        file.extend_from_slice(part);
    }
    file
}

/// A cache file's header: each part's offset in the file, length and CRC-32; `None` when it is not
/// one of this layout.
fn header(bytes: &[u8]) -> Option<[(usize, usize, u32); PARTS]> {
    let rest = bytes.get(..HEADER_BYTES)?.strip_prefix(MAGIC)?;
    let (lengths, crcs) = rest.split_at(8 * PARTS);
    let mut parts = [(0, 0, 0); PARTS];
    let mut at = HEADER_BYTES;
    for (i, part) in parts.iter_mut().enumerate() {
        let len = usize::try_from(u64::from_le_bytes(lengths[8 * i..8 * i + 8].try_into().ok()?)).ok()?;
        let crc = u32::from_le_bytes(crcs[4 * i..4 * i + 4].try_into().ok()?);
        *part = (at, len, crc);
        at = at.checked_add(len)?;
    }
    Some(parts)
}

/// The chunk in a cache file; `None` when it is not one, or not intact.
fn decode(file: Bytes) -> Option<RenderedChunk> {
    let parts = header(&file)?;
    let (end, last, _) = parts[PARTS - 1];
    if end + last != file.len() {
        return None;
    }
    let mut read = parts.iter().map(|&(at, len, crc)| {
        let part = file.slice(at..at + len);
        (crc32(&part) == crc).then_some(part)
    });
    let mut xml: [Bytes; 3] = Default::default();
    let mut gz: [Bytes; 3] = Default::default();
    for k in 0..KINDS.len() {
        xml[k] = read.next()??;
        gz[k] = read.next()??;
    }
    Some(RenderedChunk { xml, gz })
}

/// Reads metadata file `k`'s part of the cached chunk at `path` — its XML, then its gzip member —
/// into `buf` (replacing what it held; reused from chunk to chunk), both checked against their
/// CRC-32; the XML's length. `None` when the file is missing, of another layout, short or damaged.
pub fn read_part(path: &std::path::Path, k: usize, buf: &mut Vec<u8>) -> Option<usize> {
    use std::io::{Read as _, Seek as _};
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = [0; HEADER_BYTES];
    file.read_exact(&mut head).ok()?;
    let parts = header(&head)?;
    let ((at, xml_len, xml_crc), (_, gz_len, gz_crc)) = (parts[2 * k], parts[2 * k + 1]);
    let (end, last, _) = parts[PARTS - 1];
    if file.metadata().ok()?.len() != (end + last) as u64 {
        return None;
    }
    file.seek(std::io::SeekFrom::Start(at as u64)).ok()?;
    buf.clear();
    // Into the buffer's spare capacity: nothing is zeroed first.
    let want = xml_len + gz_len;
    if file.take(want as u64).read_to_end(buf).ok()? != want {
        return None;
    }
    let (xml, gz) = buf.split_at(xml_len);
    (crc32(xml) == xml_crc && crc32(gz) == gz_crc).then_some(xml_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> RenderedChunk {
        let part = |text: &str| Bytes::from(text.to_string());
        RenderedChunk {
            xml: [
                part("<package>p</package>\n"),
                part("<package>f</package>\n"),
                part(""),
            ],
            gz: [part("gz-p"), part("gz-f"), part("gz-o")],
        }
    }

    #[test]
    fn a_stored_chunk_loads_back_and_a_damaged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChunkCache::in_dir(dir.path().to_owned());
        assert_eq!(cache.load("el/9/x86_64", "k1"), None);
        cache.store("el/9/x86_64", "k1", &chunk());
        cache.store("el/9/x86_64", "k2", &chunk());
        assert_eq!(cache.load("el/9/x86_64", "k1"), Some(chunk()));
        assert_eq!(cache.load("el/9/aarch64", "k1"), None);

        let path = cache.file("el/9/x86_64", "k1").unwrap();
        let mut buf = Vec::new();
        for (k, (xml, gz)) in [
            ("<package>p</package>\n", "gz-p"),
            ("<package>f</package>\n", "gz-f"),
            ("", "gz-o"),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(read_part(&path, k, &mut buf), Some(xml.len()));
            assert_eq!(buf, format!("{xml}{gz}").as_bytes());
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.load("el/9/x86_64", "k1"), None);
        assert_eq!(read_part(&path, 2, &mut buf), None, "the damaged part");
        assert_eq!(
            read_part(&path, 0, &mut buf),
            Some(21),
            "an intact part of the same file"
        );
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(cache.load("el/9/x86_64", "k1"), None);
        assert_eq!(read_part(&path, 0, &mut buf), None, "a short file");

        cache.retain("el/9/x86_64", &["k1".to_string()]);
        assert_eq!(cache.load("el/9/x86_64", "k2"), None);
        assert!(cache.scope("el/9/x86_64").unwrap().join("k1").exists());
    }

    #[test]
    fn without_a_directory_nothing_is_kept() {
        let cache = ChunkCache::default();
        cache.store("r", "k", &chunk());
        assert_eq!(cache.load("r", "k"), None);
    }
}
