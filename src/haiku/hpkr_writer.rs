//! Writing HPKR repository files (`haiku-formats.md` §1.2, §2; Haiku's `RepositoryWriterImpl.cpp`):
//! the uncompressed heap is the flattened repository-info BMessage followed by the packages section,
//! one `package` entry per package whose children are the package's attributes in canonical order.
//! The heap is always zlib-compressed, as `package_repo` does, but at [`REPOSITORY_ZLIB_LEVEL`]
//! rather than `package_repo`'s 9.

use std::borrow::Cow;

use crate::haiku::attributes::AttributeId;
use crate::haiku::heap_writer::{Compression, HeapWriter, CHUNK_SIZE};
use crate::haiku::package_attributes_writer::package_attributes;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::repo_info::RepositoryInfo;
use crate::haiku::section_writer::{AttrNode, AttrValue, StringCounter};

/// `hpkr` (`B_HPKG_REPO_MAGIC`).
const HPKR_MAGIC: &[u8; 4] = b"hpkr";
/// Size of `hpkg_repo_header` in bytes; also the heap's file offset.
pub const HPKR_HEADER_SIZE: u16 = 72;
/// `B_HPKG_REPO_VERSION`.
const HPKR_VERSION: u16 = 2;
/// `B_HPKG_REPO_MINOR_VERSION`.
const HPKR_MINOR_VERSION: u16 = 1;
/// zlib level of the repository heap. Haiku's `package_repo` writes level 9; its reader (and
/// `pkgman`'s) inflates any level. The index is rewritten on every publish and every `repo update`,
/// where level 9 was the largest cost (perf: deflate's match search); see `docs/performance.md`,
/// "Repository index", for the size and CPU of each level on the sample repository.
pub const REPOSITORY_ZLIB_LEVEL: u32 = 2;
/// Haiku's reader refuses an info section above 1 MiB (`kMaxRepositoryInfoSize`).
const MAX_REPOSITORY_INFO_SIZE: usize = 1024 * 1024;
/// Haiku's reader refuses a packages section above 64 MiB (`kMaxPackagesSize`).
const MAX_PACKAGES_SIZE: usize = 64 * 1024 * 1024;

/// Why a repository file could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum HpkrWriteError {
    /// A section exceeds what Haiku's reader accepts.
    #[error("the repository's {section} section would be {size} bytes, more than Haiku's limit of {limit}; split the repository or embed fewer licences")]
    TooLarge {
        /// Which section.
        section: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Compression failed (out of memory or similar; retrying may help).
    #[error("cannot compress the repository heap: {0}")]
    Compress(#[from] std::io::Error),
}

/// Encodes a repository file: `info` and `packages` in the given order. Each package's `checksum`
/// must already be set (the SHA-256 of its `.hpkg` file).
pub fn encode_repository(info: &RepositoryInfo, packages: &[PackageInfo]) -> Result<Vec<u8>, HpkrWriteError> {
    let info_section = info.encode();
    check_size("repository info", info_section.len(), MAX_REPOSITORY_INFO_SIZE)?;
    // Two passes over per-package trees, so only one package's tree exists at a time: a 10,000-package
    // repository as one tree would take several times the memory of the encoded section.
    let mut counter = StringCounter::default();
    for package in packages {
        counter.count(&[package_node(package)]);
    }
    let table = counter.into_table();
    let mut attributes = Vec::new();
    for package in packages {
        table.write_nodes(&mut attributes, &[package_node(package)]);
    }
    attributes.push(0);
    let section = table.into_section(attributes);
    check_size("packages", section.len(), MAX_PACKAGES_SIZE)?;

    let mut heap = HeapWriter::new(Compression::Zlib).with_zlib_level(REPOSITORY_ZLIB_LEVEL);
    heap.append(&info_section);
    heap.append(&section.strings);
    heap.append(&section.attributes);
    let heap = heap.finish()?;

    let mut out = Vec::with_capacity(usize::from(HPKR_HEADER_SIZE) + heap.bytes.len());
    out.extend_from_slice(HPKR_MAGIC);
    out.extend_from_slice(&HPKR_HEADER_SIZE.to_be_bytes());
    out.extend_from_slice(&HPKR_VERSION.to_be_bytes());
    let total_size = u64::from(HPKR_HEADER_SIZE) + heap.bytes.len() as u64;
    out.extend_from_slice(&total_size.to_be_bytes());
    out.extend_from_slice(&HPKR_MINOR_VERSION.to_be_bytes());
    out.extend_from_slice(&Compression::Zlib.code().to_be_bytes());
    out.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    out.extend_from_slice(&(heap.bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(&heap.uncompressed_size.to_be_bytes());
    // Size-checked above: fits in u32.
    out.extend_from_slice(&(info_section.len() as u32).to_be_bytes());
    // reserved1: Haiku leaves it uninitialised; we write 0.
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(section.len() as u64).to_be_bytes());
    out.extend_from_slice(&(section.strings.len() as u64).to_be_bytes());
    out.extend_from_slice(&section.strings_count.to_be_bytes());
    debug_assert_eq!(out.len(), usize::from(HPKR_HEADER_SIZE));
    out.extend_from_slice(&heap.bytes);
    Ok(out)
}

fn check_size(section: &'static str, size: usize, limit: usize) -> Result<(), HpkrWriteError> {
    if size > limit {
        return Err(HpkrWriteError::TooLarge { section, size, limit });
    }
    Ok(())
}

/// A repository entry: `package = <name>` with the package's attributes as children.
fn package_node(package: &PackageInfo) -> AttrNode<'_> {
    AttrNode {
        id: AttributeId::Package,
        value: AttrValue::Str(Cow::Borrowed(package.name.as_str())),
        children: package_attributes(package),
    }
}
