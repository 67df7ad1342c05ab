//! Compressed index files made of stable chunks, so that a publish recompresses only the part of an
//! index that changed (issue 14: 10 packages into a 10,000-package repository must not cost a
//! whole-index compression).
//!
//! A [`Chunker`] cuts an index's entries, in their sorted order, at content-defined boundaries: after
//! the last entry of a name whose hash is ≡ 0 mod [`BOUNDARY_ODDS`], once the chunk holds at least
//! [`MIN_CHUNK_BYTES`]. A boundary depends only on the names around it, so adding, replacing or
//! removing a package changes the chunk it falls in (now and then the next one too) and leaves every
//! other chunk byte-identical. [`ChunkCache::gzip`] compresses each chunk as its own gzip member: a
//! gzip file may be several members concatenated (RFC 1952 §2.2) and both apt's reader and zlib's
//! `gzread` (libsolv, dnf) return their concatenation — proven with real clients in
//! tests/debian_apt_chunks.rs and tests/rpm_dnf.rs. Members are cached by the SHA-256 of their
//! uncompressed bytes, so a publish compresses only the chunks it has not compressed before.
//!
//! [`cut`] is the same rule on a chunk's *inputs* (each entry's name and a size estimate), for a
//! format that caches whole rendered chunks by what they are made of and so must know where chunks
//! end before rendering anything (RPM's repodata: src/formats/rpm/chunk_cache.rs).
//!
//! Not xz: apt's xz reader stops at the end of the first xz stream (apt 2.6.1 reports a Hash Sum
//! mismatch for concatenated streams), and xz blocks of one stream, compressed independently, come
//! out no smaller than gzip members (docs/formats-debian.md).

use std::collections::HashSet;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A chunk ends only once it holds this many bytes. gzip's window is 32 KiB, so members of 64 KiB and
/// more lose little to being compressed apart: measured on the first 10,000 stanzas of Debian 12's
/// main/amd64 `Packages` (7.8 MB), +3.6 % against one member (+6.2 % at 32 KiB, +2.0 % at 128 KiB),
/// while a 10-package push recompresses about ten chunks instead of the whole file.
pub const MIN_CHUNK_BYTES: usize = 64 * 1024;

/// One name in this many may end a chunk (past [`MIN_CHUNK_BYTES`]); small, so that a chunk ends soon
/// after its minimum.
pub const BOUNDARY_ODDS: u64 = 16;

/// gzip level of index files: zlib's default, what `gzip` and dak use.
pub const GZIP_LEVEL: u32 = 6;

/// Compression threads for the chunks a publish has not compressed before: the first publish of a
/// large repository compresses every chunk.
const MAX_THREADS: usize = 4;

/// FNV-1a (64 bit), then MurmurHash3's 64-bit finalizer: a fixed hash, so chunk boundaries are the
/// same in every build and on every machine (std's hasher is randomly seeded). The finalizer matters:
/// FNV-1a's low bits depend only on the low bits of each byte, so names that differ in digits
/// (`bm-bench-00001`, `…02`) fell on a regular lattice of boundaries, and a package added near the
/// start of an index shifted every later chunk by one boundary (bench/repos: 23 of ~70 chunks
/// recompressed for 5 new versions at the start) instead of resynchronising within a chunk or two.
fn name_hash(name: &str) -> u64 {
    let fnv = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut h = fnv ^ (fnv >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Cuts an index's text into chunks as its entries are written (see the module documentation).
#[derive(Debug, Default)]
pub struct Chunker {
    /// Finished chunks.
    chunks: Vec<String>,
    /// The chunk being written.
    current: String,
    /// Hash of the name of the last entry, `None` before the first.
    last_name: Option<u64>,
}

impl Chunker {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts an entry of the package `name` and returns the buffer to write it into. Entries of one
    /// name stay in one chunk.
    pub fn entry(&mut self, name: &str) -> &mut String {
        let hash = name_hash(name);
        if let Some(last) = self.last_name {
            if last != hash && last % BOUNDARY_ODDS == 0 && self.current.len() >= MIN_CHUNK_BYTES {
                self.chunks.push(std::mem::take(&mut self.current));
            }
        }
        self.last_name = Some(hash);
        &mut self.current
    }

    /// Text outside any entry (a header or footer), appended to the current chunk.
    pub fn text(&mut self) -> &mut String {
        &mut self.current
    }

    /// Ends the current chunk here (after a header that changes with every publish, so that it
    /// does not take the first entries' chunk along).
    pub fn end_chunk(&mut self) {
        if !self.current.is_empty() {
            self.chunks.push(std::mem::take(&mut self.current));
        }
    }

    /// The chunks, in order; their concatenation is the index. None is empty.
    pub fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.chunks.push(self.current);
        }
        self.chunks
    }
}

/// The chunks of a sorted list of entries, as index ranges, cut by [`Chunker`]'s rule on the entries'
/// inputs: a chunk ends before an entry whose name differs from the previous entry's, when the previous
/// name's hash is ≡ 0 mod [`BOUNDARY_ODDS`] and the chunk's `weight` (the caller's estimate of its
/// bytes) has reached [`MIN_CHUNK_BYTES`]. Entries of one name stay in one chunk. Empty input, no chunk.
pub fn cut<'a>(entries: impl IntoIterator<Item = (&'a str, usize)>) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut weight, mut last_name) = (0, 0, None::<(&str, u64)>);
    let mut count = 0;
    for (i, (name, size)) in entries.into_iter().enumerate() {
        if let Some((last, hash)) = last_name {
            if last != name && hash % BOUNDARY_ODDS == 0 && weight >= MIN_CHUNK_BYTES {
                ranges.push(start..i);
                (start, weight) = (i, 0);
            }
        }
        if last_name.is_none_or(|(last, _)| last != name) {
            last_name = Some((name, name_hash(name)));
        }
        weight += size;
        count = i + 1;
    }
    if count > start {
        ranges.push(start..count);
    }
    ranges
}

/// SHA-256 and size of the concatenation of `chunks`: what `Release` and `repomd.xml` say about the
/// uncompressed index.
pub fn digest_of(chunks: &[impl AsRef<[u8]>]) -> (String, usize) {
    let mut hasher = Sha256::new();
    let mut size = 0;
    for chunk in chunks {
        hasher.update(chunk.as_ref());
        size += chunk.as_ref().len();
    }
    (hex::encode(hasher.finalize()), size)
}

/// Compressed chunks kept between publishes, one directory per index file, each holding exactly the
/// members that index's last render used. Only a cache: a missing, unreadable or corrupt entry is
/// compressed again, and a cache that cannot be written costs time, never a publish.
#[derive(Clone, Debug, Default)]
pub struct ChunkCache {
    /// Where the entries live; `None`: nothing is cached (every chunk compressed every time).
    dir: Option<PathBuf>,
}

/// What one [`ChunkCache::gzip`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gzipped {
    /// The gzip file: one member per chunk.
    pub bytes: Vec<u8>,
    /// Chunks compressed by this call (the others came from the cache).
    pub compressed: usize,
}

impl ChunkCache {
    /// A cache under `dir` (created when first written).
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir: Some(dir) }
    }

    /// The gzip file of the concatenation of `chunks`, one member per chunk. `scope` names the index
    /// file (its directory in the cache); members it no longer uses are removed from the cache.
    pub fn gzip(&self, scope: &str, chunks: &[impl AsRef<[u8]> + Sync]) -> std::io::Result<Gzipped> {
        let dir = self.dir.as_ref().map(|root| root.join(scope_dir_name(scope)));
        let names: Vec<String> = chunks
            .iter()
            .map(|chunk| format!("{}.gz", hex::encode(Sha256::digest(chunk.as_ref()))))
            .collect();
        let mut members: Vec<Option<Vec<u8>>> = names
            .iter()
            .map(|name| dir.as_ref().and_then(|dir| read_entry(&dir.join(name))))
            .collect();
        let missing: Vec<usize> = (0..chunks.len()).filter(|&i| members[i].is_none()).collect();
        let fresh = compress_all(&missing, chunks)?;
        for (&i, member) in missing.iter().zip(fresh) {
            if let Some(dir) = &dir {
                write_entry(dir, &names[i], &member);
            }
            members[i] = Some(member);
        }
        if let Some(dir) = &dir {
            remove_unused(dir, &names.iter().map(String::as_str).collect());
        }
        let bytes = members.into_iter().flatten().flatten().collect();
        Ok(Gzipped {
            bytes,
            compressed: missing.len(),
        })
    }
}

/// A directory name for an index file's path, whatever characters it holds.
fn scope_dir_name(scope: &str) -> String {
    hex::encode(&Sha256::digest(scope.as_bytes())[..12])
}

/// One gzip member of `chunk`. The header has mtime 0 and no name, so equal chunks give equal bytes.
pub fn gzip_member(chunk: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(chunk.len() / 3),
        flate2::Compression::new(GZIP_LEVEL),
    );
    encoder.write_all(chunk)?;
    encoder.finish()
}

/// The members of the chunks at `which`, in that order, compressed on up to [`MAX_THREADS`] threads.
fn compress_all(which: &[usize], chunks: &[impl AsRef<[u8]> + Sync]) -> std::io::Result<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(which.len());
    if threads <= 1 {
        return which.iter().map(|&i| gzip_member(chunks[i].as_ref())).collect();
    }
    let mut out: Vec<Option<std::io::Result<Vec<u8>>>> = (0..which.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (t, slots) in out.chunks_mut(which.len().div_ceil(threads)).enumerate() {
            let start = t * which.len().div_ceil(threads);
            scope.spawn(move || {
                for (k, slot) in slots.iter_mut().enumerate() {
                    *slot = Some(gzip_member(chunks[which[start + k]].as_ref()));
                }
            });
        }
    });
    out.into_iter()
        .map(|member| member.unwrap_or_else(|| Err(std::io::Error::other("compression thread stopped"))))
        .collect()
}

/// A cached member: the SHA-256 of the member, then the member. `None` when missing or not intact
/// (a torn write after a crash): it is compressed again.
fn read_entry(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(path).ok()?;
    if bytes.len() < 32 || Sha256::digest(&bytes[32..])[..] != bytes[..32] {
        return None;
    }
    bytes.drain(..32);
    Some(bytes)
}

/// Stores a member, prefixed with its SHA-256 ([`read_entry`] checks it).
fn write_entry(dir: &Path, name: &str, member: &[u8]) {
    let mut bytes = Vec::with_capacity(32 + member.len());
    bytes.extend_from_slice(&Sha256::digest(member));
    bytes.extend_from_slice(member);
    write_cache_file(dir, name, &bytes);
}

/// Stores a cache file under `dir` (written aside and renamed, so a reader never sees half of one).
/// Failure is logged and otherwise ignored: the cache only saves time.
pub(crate) fn write_cache_file(dir: &Path, name: &str, bytes: &[u8]) {
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(name))
    });
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "index chunk cache not written");
    }
}

/// Removes the entries of `dir` the last render did not use (and leftovers of interrupted writes).
pub(crate) fn remove_unused(dir: &Path, used: &HashSet<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|name| used.contains(name)) {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "stale index chunk not removed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(names: impl Iterator<Item = String>) -> Vec<String> {
        let mut chunker = Chunker::new();
        for name in names {
            let out = chunker.entry(&name);
            out.push_str(&format!("Package: {name}\n{}\n\n", "x".repeat(300)));
        }
        chunker.finish()
    }

    fn gunzip(bytes: &[u8]) -> String {
        let mut out = String::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_new_entry_changes_only_the_chunk_it_falls_in() {
        let before = entries((0..2000).map(|i| format!("p{i:05}")));
        assert!(before.len() > 4, "{} chunks", before.len());
        assert!(before[..before.len() - 1]
            .iter()
            .all(|c| c.len() >= MIN_CHUNK_BYTES));
        let mut names: Vec<String> = (0..2000).map(|i| format!("p{i:05}")).collect();
        names.push("p01000a".into());
        names.push("p00001a".into());
        names.sort();
        let after = entries(names.into_iter());
        let old: HashSet<&String> = before.iter().collect();
        let changed = after.iter().filter(|c| !old.contains(c)).count();
        // Two insertions, one near the start: each changes its own chunk and at most one more.
        assert!(
            (2..=4).contains(&changed),
            "{changed} of {} chunks changed",
            after.len()
        );
        assert_eq!(
            after.concat().len(),
            before.concat().len() + 2 * ("Package: p01000a\n".len() + 302)
        );
    }

    #[test]
    fn cut_follows_the_chunker_on_inputs() {
        let names: Vec<String> = (0..3000).map(|i| format!("p{:05}", i / 2)).collect();
        let text = |name: &str| format!("Package: {name}\n{}\n\n", "x".repeat(300));
        let ranges = cut(names.iter().map(|n| (n.as_str(), text(n).len())));
        let mut chunker = Chunker::new();
        for name in &names {
            chunker.entry(name).push_str(&text(name));
        }
        let chunks = chunker.finish();
        assert!(ranges.len() > 4, "{} chunks", ranges.len());
        assert_eq!(ranges.len(), chunks.len());
        for (range, chunk) in ranges.iter().zip(&chunks) {
            let joined: String = names[range.clone()].iter().map(|n| text(n)).collect();
            assert_eq!(&joined, chunk);
        }
        assert_eq!(ranges.last().map(|r| r.end), Some(names.len()));
        assert!(cut(std::iter::empty()).is_empty());
    }

    #[test]
    fn cached_members_are_reused_and_unused_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChunkCache::in_dir(dir.path().to_owned());
        let chunks = entries((0..1000).map(|i| format!("p{i:05}")));
        let first = cache.gzip("dists/x/Packages.gz", &chunks).unwrap();
        assert_eq!(first.compressed, chunks.len());
        assert_eq!(gunzip(&first.bytes), chunks.concat());
        let again = cache.gzip("dists/x/Packages.gz", &chunks).unwrap();
        assert_eq!((again.compressed, &again.bytes), (0, &first.bytes));

        let mut changed = chunks.clone();
        changed[1].push_str("Package: zz\n\n");
        let next = cache.gzip("dists/x/Packages.gz", &changed).unwrap();
        assert_eq!(next.compressed, 1);
        assert_eq!(gunzip(&next.bytes), changed.concat());
        let scope = dir.path().join(scope_dir_name("dists/x/Packages.gz"));
        assert_eq!(std::fs::read_dir(&scope).unwrap().count(), chunks.len());
    }

    #[test]
    fn a_corrupt_entry_is_compressed_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChunkCache::in_dir(dir.path().to_owned());
        let chunks = ["Package: a\n".to_string()];
        let first = cache.gzip("s", &chunks).unwrap();
        let scope = dir.path().join(scope_dir_name("s"));
        let entry = std::fs::read_dir(&scope).unwrap().next().unwrap().unwrap().path();
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry, bytes).unwrap();
        let again = cache.gzip("s", &chunks).unwrap();
        assert_eq!((again.compressed, again.bytes), (1, first.bytes));
    }

    #[test]
    fn without_a_directory_everything_is_compressed() {
        let chunks = entries((0..1000).map(|i| format!("p{i:05}")));
        let gz = ChunkCache::default().gzip("s", &chunks).unwrap();
        assert_eq!(gz.compressed, chunks.len());
        assert_eq!(gunzip(&gz.bytes), chunks.concat());
        assert_eq!(digest_of(&chunks).1, chunks.concat().len());
    }
}
