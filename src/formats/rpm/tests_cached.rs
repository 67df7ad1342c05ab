//! Tests of rendering through the chunk cache (src/formats/rpm/chunk_cache.rs): a cached render is
//! byte-identical to a fresh one, a change re-renders only the chunks it falls in, a damaged cache
//! file is rendered again, and the XML's exact output is pinned to [`RENDER_VERSION`].

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::chunk_cache::RENDER_VERSION;
use super::entry::RpmEntry;
use super::tests::{entry, gunzip, indexed, target};
use super::*;

/// A package whose file digest follows its entry, as real ones do (a new version is a new file).
fn package(name: &str, version: &str) -> IndexedPackage {
    let e: RpmEntry = entry(name, version);
    let mut p = indexed(&e);
    p.package.sha256 = hex::encode(Sha256::digest(p.package.entry.as_bytes()));
    p
}

fn repository(count: usize) -> Vec<IndexedPackage> {
    (0..count)
        .map(|i| package(&format!("pkg-{i:05}"), "1.0"))
        .collect()
}

fn render(format: &RpmFormat, packages: &[IndexedPackage]) -> Vec<IndexFile> {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    format
        .render(&target("x86_64"), packages, None, now)
        .expect("renders")
}

/// Every cache file under `dir`, by name.
fn cached(dir: &Path) -> HashSet<String> {
    walk(dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn a_cached_render_equals_a_fresh_one_and_renders_only_what_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let format = RpmFormat::with_cache(dir.path().to_owned());
    let mut packages = repository(1500);
    let first = render(&format, &packages);
    assert_eq!(first, render(&RpmFormat::default(), &packages));
    let before = cached(dir.path());
    assert!(before.len() > 8, "{} chunks", before.len());
    assert_eq!(render(&format, &packages), first, "from the cache alone");

    // A new version near the start and a new name in the middle.
    packages[3] = package("pkg-00003", "1.1");
    packages.push(package("pkg-00750a", "1.0"));
    let second = render(&format, &packages);
    assert_eq!(second, render(&RpmFormat::default(), &packages));
    assert_ne!(second, first);
    let after = cached(dir.path());
    let new = after.difference(&before).count();
    assert!(
        (2..=4).contains(&new),
        "{new} chunks rendered again of {}",
        after.len()
    );
    assert_eq!(
        after.len(),
        before.len() + new - before.difference(&after).count()
    );
    let primary = gunzip(&second[0].bytes);
    assert!(primary.contains("packages=\"1501\""));
    assert!(primary.contains("<name>pkg-00750a</name>"));
}

#[test]
fn a_damaged_cache_file_is_rendered_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let format = RpmFormat::with_cache(dir.path().to_owned());
    let packages = repository(400);
    let first = render(&format, &packages);
    for path in walk(dir.path()) {
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        std::fs::write(&path, bytes).expect("write");
    }
    assert_eq!(render(&format, &packages), first);
}

#[test]
fn an_old_cache_layout_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("0123456789abcdef01234567");
    std::fs::create_dir_all(&old).expect("mkdir");
    std::fs::write(old.join("member.gz"), b"old").expect("write");
    render(&RpmFormat::with_cache(dir.path().to_owned()), &repository(3));
    assert!(!old.exists());
    assert!(dir.path().join("chunks").is_dir());
}

/// The XML for fixed entries, to the byte. When this fails, the rendered XML changed: chunks cached
/// by an earlier build would be served as they were, so bump [`RENDER_VERSION`] and update both.
#[test]
fn xml_output_is_pinned() {
    let files = render(&RpmFormat::default(), &repository(3));
    let mut hasher = Sha256::new();
    for file in &files[..3] {
        hasher.update(gunzip(&file.bytes).as_bytes());
    }
    assert_eq!(
        (RENDER_VERSION, hex::encode(hasher.finalize()).as_str()),
        (
            1,
            "8a92e94f6c0a8901dd43ad1842b0a83971fa2078ea3c600808e3125e4c1984b7"
        )
    );
}

/// A repository's packages as a publish's records would give them, counting the entries read.
struct Counted<'a> {
    packages: &'a [IndexedPackage],
    entries_read: usize,
}

impl crate::formats::PackageSource for Counted<'_> {
    fn packages(&mut self) -> Result<Vec<IndexedPackage>, FormatError> {
        self.entries_read += self.packages.len();
        Ok(self.packages.to_vec())
    }

    fn listing(&mut self) -> Result<Vec<crate::formats::ListedPackage>, FormatError> {
        Ok(self
            .packages
            .iter()
            .map(|p| {
                let mut indexed = p.clone();
                indexed.package.entry.clear();
                crate::formats::ListedPackage {
                    indexed,
                    entry_len: p.package.entry.len(),
                }
            })
            .collect())
    }

    fn entries(&mut self, wanted: &[&IndexedPackage]) -> Result<Vec<String>, FormatError> {
        self.entries_read += wanted.len();
        wanted
            .iter()
            .map(|w| {
                let p = self
                    .packages
                    .iter()
                    .find(|p| p.package.sha256 == w.package.sha256);
                Ok(p.expect("listed").package.entry.clone())
            })
            .collect()
    }
}

/// [`RepositoryFormat::render_from`] of `packages`, and how many entries it read.
fn render_counted(format: &RpmFormat, packages: &[IndexedPackage]) -> (Vec<IndexFile>, usize) {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut source = Counted {
        packages,
        entries_read: 0,
    };
    let files = format
        .render_from(&target("x86_64"), &mut source, None, now)
        .expect("renders");
    (files, source.entries_read)
}

#[test]
fn a_publish_reads_only_the_entries_of_the_chunks_it_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let format = RpmFormat::with_cache(dir.path().to_owned());
    let mut packages = repository(1500);
    let (first, read) = render_counted(&format, &packages);
    assert_eq!(first, render(&RpmFormat::default(), &packages));
    assert_eq!(read, 1500, "an empty cache renders every chunk");

    packages[3] = package("pkg-00003", "1.1");
    packages.push(package("pkg-00750a", "1.0"));
    let (second, read) = render_counted(&format, &packages);
    assert_eq!(second, render(&RpmFormat::default(), &packages));
    assert!((2..=600).contains(&read), "{read} of 1501 entries read");
}
