//! A repository's listing ([`super::records::Records::listing`]: every linked pool file without its
//! entry, with the entry's length) kept between publishes in `<state>/index-cache/listings/`, so that
//! a push of 10 packages into a 10,000-package repository reads its 10 new links from the state
//! database instead of joining all 10,000 again (issue 14, acceptance 5; bench/repos).
//!
//! Why a cached listing stays right: the records only ever add links and pool rows — no link is
//! removed or rewritten, and a pool row is never rewritten once inserted (`INSERT OR IGNORE`). So the
//! listing now is the cached one plus the links whose rowid is above the largest the cache saw. The
//! file carries a [`Stamp`] of the database when it was written: the database's epoch (a random id
//! stored the first time a listing is cached, so that another database is never mistaken for this
//! one), how many rewrites triggers have counted (any DELETE or UPDATE of links or pool rows, should
//! one ever happen, invalidates every cached listing), and the repository's link count and largest
//! link rowid. The cached rows are used only when the epoch and the rewrites match and the links now
//! number exactly the cached ones plus those above the cached rowid; otherwise the whole listing is
//! read again. A torn or damaged file fails its CRC-32 and is read again too.

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use crate::formats::chunks::write_cache_file;
use crate::formats::{FormatKind, InspectedPackage};

use super::records::PoolPackage;

/// First bytes of a cache file (and its layout version).
const MAGIC: &[u8; 8] = b"bmlist01";

/// The state of the records a listing was read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The database's epoch (see the module documentation).
    pub epoch: String,
    /// Rewrites of links or pool rows counted so far.
    pub rewrites: i64,
    /// The repository's links.
    pub count: u64,
    /// The largest rowid among them (0 without links).
    pub max_rowid: i64,
}

/// One package of a listing: its pool record (`entry` empty) and its entry's length in bytes.
pub type Listed = (PoolPackage, usize);

/// A listing as it was cached.
#[derive(Debug, PartialEq, Eq)]
pub struct Cached {
    /// When it was read.
    pub stamp: Stamp,
    /// The packages, in the order they were stored.
    pub rows: Vec<Listed>,
}

/// Where the listings of an instance's repositories are kept.
#[derive(Clone, Debug)]
pub struct ListingCache {
    /// The directory (created when first written).
    dir: PathBuf,
}

impl ListingCache {
    /// A cache under `dir`.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file of `repository` of `format`: named by a digest of both, whatever characters the id
    /// holds.
    fn file_name(repository: &str, format: FormatKind) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(repository.as_bytes());
        hex::encode(&hasher.finalize()[..12])
    }

    /// The cached listing of `repository` of `format`, if there is an intact one.
    pub fn load(&self, repository: &str, format: FormatKind) -> Option<Cached> {
        let bytes = std::fs::read(self.dir.join(Self::file_name(repository, format))).ok()?;
        decode(&bytes, format)
    }

    /// The intact cached listings of `repositories` (id and format), for
    /// [`super::records::Records::preload_listings`].
    pub fn load_all(&self, repositories: &[(String, FormatKind)]) -> Vec<(String, FormatKind, Cached)> {
        repositories
            .iter()
            .filter_map(|(id, format)| Some((id.clone(), *format, self.load(id, *format)?)))
            .collect()
    }

    /// Keeps `rows` as `repository`'s listing at `stamp`.
    pub fn store(&self, repository: &str, format: FormatKind, stamp: &Stamp, rows: &[Listed]) {
        write_cache_file(
            &self.dir,
            &Self::file_name(repository, format),
            &encode(stamp, rows),
        );
    }

    /// The directory, for tests that damage its files.
    #[cfg(test)]
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// Appends `text`, length first.
fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A cache file: magic, CRC-32 of the rest, the stamp, the rows.
fn encode(stamp: &Stamp, rows: &[Listed]) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + rows.len() * 300);
    put_str(&mut body, &stamp.epoch);
    body.extend_from_slice(&stamp.rewrites.to_le_bytes());
    body.extend_from_slice(&stamp.count.to_le_bytes());
    body.extend_from_slice(&stamp.max_rowid.to_le_bytes());
    body.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    for (pool, entry_len) in rows {
        let p = &pool.package;
        for text in [
            &p.sha256,
            &p.name,
            &p.version,
            &p.architecture,
            &p.file_name,
            &pool.pool_key,
        ] {
            put_str(&mut body, text);
        }
        body.extend_from_slice(&p.size.to_le_bytes());
        body.extend_from_slice(&pool.added_at.to_le_bytes());
        body.extend_from_slice(&(*entry_len as u64).to_le_bytes());
    }
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    let mut file = Vec::with_capacity(MAGIC.len() + 4 + body.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&crc.sum().to_le_bytes());
    file.extend_from_slice(&body);
    file
}

/// Reads a cache file's fields in order; every read fails past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(u32::from_le_bytes(self.take()?)).ok()?;
        let text = self.bytes.get(..len)?;
        self.bytes = &self.bytes[len..];
        String::from_utf8(text.to_vec()).ok()
    }
}

/// The listing in a cache file of `format`; `None` when it is not one, or not intact.
fn decode(file: &[u8], format: FormatKind) -> Option<Cached> {
    let rest = file.strip_prefix(MAGIC)?;
    let (stored_crc, body) = rest.split_first_chunk::<4>()?;
    let mut crc = flate2::Crc::new();
    crc.update(body);
    if crc.sum() != u32::from_le_bytes(*stored_crc) {
        return None;
    }
    let mut r = Reader { bytes: body };
    let stamp = Stamp {
        epoch: r.string()?,
        rewrites: r.i64()?,
        count: r.u64()?,
        max_rowid: r.i64()?,
    };
    let n = usize::try_from(r.u64()?).ok()?;
    // Bounded by what the file can hold, whatever its count says.
    let mut rows = Vec::with_capacity(n.min(body.len() / 48));
    for _ in 0..n {
        let (sha256, name, version, architecture, file_name, pool_key) = (
            r.string()?,
            r.string()?,
            r.string()?,
            r.string()?,
            r.string()?,
            r.string()?,
        );
        let (size, added_at, entry_len) = (r.u64()?, r.i64()?, r.u64()?);
        let package = InspectedPackage {
            name,
            version,
            architecture,
            size,
            sha256,
            file_name,
            entry: String::new(),
        };
        let pool = PoolPackage {
            format,
            package,
            pool_key,
            added_at,
        };
        rows.push((pool, usize::try_from(entry_len).ok()?));
    }
    r.bytes.is_empty().then_some(Cached { stamp, rows })
}

#[cfg(test)]
mod tests {
    use super::super::records::Records;
    use super::*;

    fn row(i: u64) -> Listed {
        let package = InspectedPackage {
            name: format!("p{i}"),
            version: "1.0-1".into(),
            architecture: "noarch".into(),
            size: 1000 + i,
            sha256: format!("{i:064x}"),
            file_name: format!("p{i}-1.0-1.noarch.rpm"),
            entry: String::new(),
        };
        let pool_key = format!("rpm/pool/00/{}/{}", package.sha256, package.file_name);
        let pool = PoolPackage {
            format: FormatKind::Rpm,
            package,
            pool_key,
            added_at: 7,
        };
        (pool, 300 + i as usize)
    }

    fn stamp() -> Stamp {
        Stamp {
            epoch: "e1".into(),
            rewrites: 0,
            count: 3,
            max_rowid: 3,
        }
    }

    #[test]
    fn a_stored_listing_loads_back_and_a_damaged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ListingCache::in_dir(dir.path().join("listings"));
        assert_eq!(cache.load("el/9/x86_64", FormatKind::Rpm), None);
        let rows: Vec<Listed> = (0..3).map(row).collect();
        cache.store("el/9/x86_64", FormatKind::Rpm, &stamp(), &rows);
        let loaded = cache.load("el/9/x86_64", FormatKind::Rpm).unwrap();
        assert_eq!(loaded, Cached { stamp: stamp(), rows });
        assert_eq!(cache.load("el/9/aarch64", FormatKind::Rpm), None);
        assert_eq!(cache.load("el/9/x86_64", FormatKind::Debian), None);

        let path = cache
            .dir()
            .join(ListingCache::file_name("el/9/x86_64", FormatKind::Rpm));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.load("el/9/x86_64", FormatKind::Rpm), None);
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(cache.load("el/9/x86_64", FormatKind::Rpm), None);
    }

    /// Records in `dir` whose pool holds `rows`, linked into `r` up to `linked`.
    fn records(dir: &std::path::Path, rows: &[Listed], linked: usize) -> Records {
        let mut records = Records::open(&dir.join("state.sqlite")).unwrap();
        let pools: Vec<PoolPackage> = rows.iter().map(|(p, len)| with_entry(p, *len)).collect();
        records.insert_pools(&pools).unwrap();
        link(&mut records, &rows[..linked]);
        records
    }

    fn with_entry(pool: &PoolPackage, len: usize) -> PoolPackage {
        let mut pool = pool.clone();
        pool.package.entry = "e".repeat(len);
        pool
    }

    fn link(records: &mut Records, rows: &[Listed]) {
        let links: Vec<(&str, FormatKind, &str)> = rows
            .iter()
            .map(|(p, _)| ("r", FormatKind::Rpm, p.package.sha256.as_str()))
            .collect();
        records.link_all(&links, 1).unwrap();
    }

    /// The listing of `r` as the records read it without a cache.
    fn fresh(dir: &std::path::Path) -> Vec<Listed> {
        Records::open(&dir.join("state.sqlite"))
            .unwrap()
            .listing("r", FormatKind::Rpm)
            .unwrap()
    }

    #[test]
    fn a_cached_listing_reads_only_new_links_and_equals_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Listed> = (0..6).rev().map(row).collect();
        let listings = dir.path().join("listings");
        let mut records = records(dir.path(), &rows, 3).with_listing_cache(listings.clone());
        let (first, from_cache) = records.listing_counted("r", FormatKind::Rpm).unwrap();
        assert_eq!((first.len(), from_cache), (3, 0));
        assert_eq!(first, fresh(dir.path()));

        link(&mut records, &rows[3..]);
        let (second, from_cache) = records.listing_counted("r", FormatKind::Rpm).unwrap();
        assert_eq!(
            (second.len(), from_cache),
            (6, 3),
            "3 cached, the 3 new links read"
        );
        assert_eq!(second, fresh(dir.path()));
        let names: Vec<&str> = second.iter().map(|(p, _)| p.package.name.as_str()).collect();
        assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5"]);
        assert_eq!(
            records.listing_counted("r", FormatKind::Rpm).unwrap(),
            (second, 6)
        );
    }

    #[test]
    fn a_rewrite_or_another_database_is_not_served_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let listings = dir.path().join("listings");
        let records = all_linked(dir.path(), 0..4, &listings);
        records.listing_counted("r", FormatKind::Rpm).unwrap();
        // Nothing rewrites records today; should anything ever, the triggers count it.
        Records::open(&dir.path().join("state.sqlite"))
            .unwrap()
            .conn_for_tests()
            .execute("UPDATE pool_packages SET name = 'renamed' WHERE name = 'p2'", [])
            .unwrap();
        let (after, from_cache) = records.listing_counted("r", FormatKind::Rpm).unwrap();
        assert_eq!(from_cache, 0);
        assert!(after.iter().any(|(p, _)| p.package.name == "renamed"));
        assert_eq!(after, fresh(dir.path()));

        // Another state database with as many links, the same cache directory.
        let other = tempfile::tempdir().unwrap();
        let other_records = all_linked(other.path(), 10..14, &listings);
        let (listed, from_cache) = other_records.listing_counted("r", FormatKind::Rpm).unwrap();
        assert_eq!(from_cache, 0);
        assert_eq!(listed, fresh(other.path()));
    }

    /// Records in `dir` with the packages `numbers` all linked into `r`, listed through `listings`.
    fn all_linked(
        dir: &std::path::Path,
        numbers: std::ops::Range<u64>,
        listings: &std::path::Path,
    ) -> Records {
        let rows: Vec<Listed> = numbers.map(row).collect();
        records(dir, &rows, rows.len()).with_listing_cache(listings.to_owned())
    }

    #[test]
    fn a_damaged_cache_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let listings = dir.path().join("listings");
        let records = all_linked(dir.path(), 0..4, &listings);
        let (first, _) = records.listing_counted("r", FormatKind::Rpm).unwrap();
        let path = listings.join(ListingCache::file_name("r", FormatKind::Rpm));
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(records.listing_counted("r", FormatKind::Rpm).unwrap(), (first, 0));
    }

    #[test]
    fn a_preloaded_listing_outdated_by_another_push_gives_the_fresh_listing() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<Listed> = (0..6).map(row).collect();
        let listings = dir.path().join("listings");
        let mut records = records(dir.path(), &rows, 3).with_listing_cache(listings.clone());
        records.listing_counted("r", FormatKind::Rpm).unwrap();
        // Read ahead, as a push does while it waits for the lock; then another push links more.
        let cache = ListingCache::in_dir(listings);
        let preloaded = cache.load_all(&[("r".into(), FormatKind::Rpm), ("s".into(), FormatKind::Rpm)]);
        assert_eq!(preloaded.len(), 1, "only r has a cached listing");
        link(&mut records, &rows[3..]);
        // Gone from disk: what the listing starts from can only be the copy read ahead.
        std::fs::remove_dir_all(cache.dir()).unwrap();
        records.preload_listings(preloaded);
        let (listed, from_cache) = records.listing_counted("r", FormatKind::Rpm).unwrap();
        assert_eq!(
            (listed.len(), from_cache),
            (6, 3),
            "the copy's 3, the 3 new links read"
        );
        assert_eq!(listed, fresh(dir.path()));
    }
}
