//! Writing `.hpkg` packages (`haiku-formats.md` §1.1, §1.3; Haiku's `PackageWriterImpl.cpp`):
//! the heap holds the file data, then the TOC section, then the package-attributes section; the
//! 80-byte header records where they are. This is `package create` natively.

use std::path::{Path, PathBuf};

use crate::haiku::heap_writer::{Compression, HeapWriter, CHUNK_SIZE};
use crate::haiku::output_file::write_atomically;
use crate::haiku::package_attributes_writer::package_attributes;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_info_file::{self, PackageInfoFileError};
use crate::haiku::section_writer::encode_section;
use crate::haiku::toc_writer::{build_toc, PackageInfoEntry, TocError, PACKAGE_INFO_FILE_NAME};

/// `hpkg` (`B_HPKG_MAGIC`).
const HPKG_MAGIC: &[u8; 4] = b"hpkg";
/// Size of `hpkg_header` in bytes; also the heap's file offset.
pub const HPKG_HEADER_SIZE: u16 = 80;
/// `B_HPKG_VERSION`.
const HPKG_VERSION: u16 = 2;
/// `B_HPKG_MINOR_VERSION`: 1 since attribute 55 (pre-uninstall scripts) was added in 2019.
const HPKG_MINOR_VERSION: u16 = 1;
/// Haiku's limit on the package-attributes section (`kMaxPackageAttributesSize`), in bytes; its
/// reader refuses larger sections, so we refuse to write them.
const MAX_PACKAGE_ATTRIBUTES_SIZE: usize = 1024 * 1024;
/// Haiku's limit on the TOC section (`kMaxTOCSize`), in bytes.
const MAX_TOC_SIZE: usize = 64 * 1024 * 1024;

/// Why a package could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HpkgWriteError {
    /// The `.PackageInfo` file is missing or invalid.
    #[error(transparent)]
    PackageInfo(#[from] PackageInfoFileError),
    /// A file of the package contents could not be read.
    #[error(transparent)]
    Contents(#[from] TocError),
    /// A section is larger than Haiku's reader accepts.
    #[error(
        "{section} section would be {size} bytes, more than Haiku's limit of {limit}; package fewer files"
    )]
    TooLarge {
        /// Which section.
        section: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Writing the output failed; nothing is left behind.
    #[error("cannot write package {}: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What to put into a package.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The `.PackageInfo` file; `None` means `<directory>/.PackageInfo`.
    pub info_file: Option<PathBuf>,
    /// The directory whose contents become the package's contents.
    pub directory: PathBuf,
    /// Heap compression.
    pub compression: Compression,
    /// The package's install path (`package create -I`); `None` leaves it unset.
    pub install_path: Option<String>,
}

/// Creates a package file from a directory and a `.PackageInfo`; returns the package's info.
pub fn create_package(options: &CreateOptions, output: &Path) -> Result<PackageInfo, HpkgWriteError> {
    let info_path = options
        .info_file
        .clone()
        .unwrap_or_else(|| options.directory.join(PACKAGE_INFO_FILE_NAME));
    let read_error = |source| PackageInfoFileError::Read {
        path: info_path.clone(),
        source,
    };
    let contents = std::fs::read(&info_path).map_err(read_error)?;
    let metadata = std::fs::metadata(&info_path).map_err(read_error)?;
    let mut info = package_info_file::parse(&String::from_utf8_lossy(&contents), &info_path)?;
    if let Some(install_path) = &options.install_path {
        info.install_path = install_path.clone();
    }
    let entry = PackageInfoEntry { contents, metadata };
    let bytes = encode_package(&info, &options.directory, &entry, options.compression)?;
    write_atomically(output, &bytes).map_err(|source| HpkgWriteError::Write {
        path: output.to_owned(),
        source,
    })?;
    Ok(info)
}

/// Encodes a whole package file in memory.
pub fn encode_package(
    info: &PackageInfo,
    directory: &Path,
    package_info_entry: &PackageInfoEntry,
    compression: Compression,
) -> Result<Vec<u8>, HpkgWriteError> {
    let mut heap = HeapWriter::new(compression);
    let toc = encode_section(&build_toc(directory, package_info_entry, &mut heap)?);
    let attributes = encode_section(&package_attributes(info));
    check_size("TOC", toc.len(), MAX_TOC_SIZE)?;
    check_size(
        "package attributes",
        attributes.len(),
        MAX_PACKAGE_ATTRIBUTES_SIZE,
    )?;
    heap.append(&toc.strings);
    heap.append(&toc.attributes);
    heap.append(&attributes.strings);
    heap.append(&attributes.attributes);
    let heap = heap.finish().map_err(|source| HpkgWriteError::Write {
        path: directory.to_owned(),
        source,
    })?;

    let mut out = Vec::with_capacity(usize::from(HPKG_HEADER_SIZE) + heap.bytes.len());
    out.extend_from_slice(HPKG_MAGIC);
    out.extend_from_slice(&HPKG_HEADER_SIZE.to_be_bytes());
    out.extend_from_slice(&HPKG_VERSION.to_be_bytes());
    let total_size = u64::from(HPKG_HEADER_SIZE) + heap.bytes.len() as u64;
    out.extend_from_slice(&total_size.to_be_bytes());
    out.extend_from_slice(&HPKG_MINOR_VERSION.to_be_bytes());
    out.extend_from_slice(&compression.code().to_be_bytes());
    out.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    out.extend_from_slice(&(heap.bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(&heap.uncompressed_size.to_be_bytes());
    // Both sections were size-checked above, so the u32 fields cannot overflow.
    out.extend_from_slice(&(attributes.len() as u32).to_be_bytes());
    out.extend_from_slice(&(attributes.strings.len() as u32).to_be_bytes());
    out.extend_from_slice(&(attributes.strings_count as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // reserved1
    out.extend_from_slice(&(toc.len() as u64).to_be_bytes());
    out.extend_from_slice(&(toc.strings.len() as u64).to_be_bytes());
    out.extend_from_slice(&toc.strings_count.to_be_bytes());
    debug_assert_eq!(out.len(), usize::from(HPKG_HEADER_SIZE));
    out.extend_from_slice(&heap.bytes);
    Ok(out)
}

fn check_size(section: &'static str, size: usize, limit: usize) -> Result<(), HpkgWriteError> {
    if size > limit {
        return Err(HpkgWriteError::TooLarge { section, size, limit });
    }
    Ok(())
}
