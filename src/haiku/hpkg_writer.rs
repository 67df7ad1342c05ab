//! Writing `.hpkg` packages (`haiku-formats.md` §1.1, §1.3; Haiku's `PackageWriterImpl.cpp`):
//! the heap holds the file data, then the TOC section, then the package-attributes section; the
//! 80-byte header records where they are. This is `package create` natively, streaming: file data
//! goes from the source tree through the compressor into the output file a batch at a time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::haiku::heap_writer::{Compression, HeapWriter, CHUNK_SIZE};
use crate::haiku::package_attributes_writer::package_attributes;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::package_info_file::{self, PackageInfoFileError};
use crate::haiku::section_writer::encode_section;
use crate::haiku::system_licenses::{missing_license, SystemLicenses};
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
    /// A declared licence is neither a system licence nor shipped in the package (Haiku's
    /// `package create` refuses the package the same way).
    #[error(
        "License '{license}' isn't contained in package: it is not one of Haiku's system licences and {} \
         does not exist; ship the licence text there, or declare a system licence (`Public Domain`, `MIT`, …)",
        path.display()
    )]
    LicenseNotInPackage {
        /// The licence name.
        license: String,
        /// Where the package would have to ship it.
        path: PathBuf,
    },
    /// The system licence directory could not be read.
    #[error("cannot read the system licences ({system:?}): {source}")]
    SystemLicenses {
        /// Where they were read from.
        system: SystemLicenses,
        /// The I/O error.
        source: std::io::Error,
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

/// Creates a package file from a directory and a `.PackageInfo`, checking its licences against
/// Haiku's built-in system licences; returns the package's info.
pub fn create_package(options: &CreateOptions, output: &Path) -> Result<PackageInfo, HpkgWriteError> {
    create_package_with(options, output, &SystemLicenses::BuiltIn)
}

/// Creates a package file as [`create_package`] does, with the system licences from `system`.
///
/// The package streams into a temporary file beside `output` (file data is read a batch at a time,
/// compressed and written), which is renamed over `output` when complete: memory stays at a few MiB
/// plus the TOC, whatever the package's size, and nobody sees a half-written package.
pub fn create_package_with(
    options: &CreateOptions,
    output: &Path,
    system: &SystemLicenses,
) -> Result<PackageInfo, HpkgWriteError> {
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
    check_licenses(&info, &options.directory, system)?;
    let entry = PackageInfoEntry { contents, metadata };
    let write_error = |source| HpkgWriteError::Write {
        path: output.to_owned(),
        source,
    };
    let temp = TempOutput::create(output).map_err(write_error)?;
    let file = temp.file().map_err(write_error)?;
    write_package(&info, &options.directory, &entry, options.compression, file)?;
    temp.persist().map_err(write_error)?;
    Ok(info)
}

/// Encodes a whole package in memory (small packages: tests and benchmark fixtures; use
/// [`create_package`] for real trees, which streams).
pub fn encode_package(
    info: &PackageInfo,
    directory: &Path,
    package_info_entry: &PackageInfoEntry,
    compression: Compression,
) -> Result<Vec<u8>, HpkgWriteError> {
    let mut out = Vec::new();
    let header = write_body(info, directory, package_info_entry, compression, &mut out)?;
    out[..header.len()].copy_from_slice(&header);
    Ok(out)
}

/// Writes a whole package into `file` (empty, at offset 0): the body streamed, then the header.
fn write_package(
    info: &PackageInfo,
    directory: &Path,
    package_info_entry: &PackageInfoEntry,
    compression: Compression,
    mut file: File,
) -> Result<(), HpkgWriteError> {
    let mut sink = BufWriter::with_capacity(WRITE_BUFFER_BYTES, &mut file);
    let header = write_body(info, directory, package_info_entry, compression, &mut sink)?;
    sink.into_inner()
        .map_err(|e| write_error(directory, e.into_error()))?;
    file.write_all_at(&header, 0)
        .map_err(|e| write_error(directory, e))
}

fn write_error(directory: &Path, source: std::io::Error) -> HpkgWriteError {
    HpkgWriteError::Write {
        path: directory.to_owned(),
        source,
    }
}

/// Writes a placeholder header and the heap (file data, TOC, package attributes) to `sink`; returns
/// the real header, which the caller writes over the placeholder once the sizes are known.
fn write_body<W: Write>(
    info: &PackageInfo,
    directory: &Path,
    package_info_entry: &PackageInfoEntry,
    compression: Compression,
    mut sink: W,
) -> Result<Vec<u8>, HpkgWriteError> {
    sink.write_all(&[0; HPKG_HEADER_SIZE as usize])
        .map_err(|e| write_error(directory, e))?;
    let mut heap = HeapWriter::with_sink(compression, sink);
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
    let (_, sizes) = heap.finish_into().map_err(|e| write_error(directory, e))?;
    let mut header = Vec::with_capacity(usize::from(HPKG_HEADER_SIZE));
    header.extend_from_slice(HPKG_MAGIC);
    header.extend_from_slice(&HPKG_HEADER_SIZE.to_be_bytes());
    header.extend_from_slice(&HPKG_VERSION.to_be_bytes());
    let total_size = u64::from(HPKG_HEADER_SIZE) + sizes.compressed;
    header.extend_from_slice(&total_size.to_be_bytes());
    header.extend_from_slice(&HPKG_MINOR_VERSION.to_be_bytes());
    header.extend_from_slice(&compression.code().to_be_bytes());
    header.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    header.extend_from_slice(&sizes.compressed.to_be_bytes());
    header.extend_from_slice(&sizes.uncompressed.to_be_bytes());
    // Both sections were size-checked above, so the u32 fields cannot overflow.
    header.extend_from_slice(&(attributes.len() as u32).to_be_bytes());
    header.extend_from_slice(&(attributes.strings.len() as u32).to_be_bytes());
    header.extend_from_slice(&(attributes.strings_count as u32).to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes()); // reserved1
    header.extend_from_slice(&(toc.len() as u64).to_be_bytes());
    header.extend_from_slice(&(toc.strings.len() as u64).to_be_bytes());
    header.extend_from_slice(&toc.strings_count.to_be_bytes());
    debug_assert_eq!(header.len(), usize::from(HPKG_HEADER_SIZE));
    Ok(header)
}

/// Bytes buffered between the heap writer and the package file (the heap writes chunk by chunk).
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// A temporary file beside the output (same directory, so the rename cannot cross file systems),
/// removed on every path that does not [`persist`](TempOutput::persist) it.
struct TempOutput {
    /// The temporary file's path.
    temp: PathBuf,
    /// The final path.
    output: PathBuf,
    /// Open for writing.
    file: File,
    /// Renamed into place: nothing to remove.
    persisted: bool,
}

impl TempOutput {
    fn create(output: &Path) -> std::io::Result<TempOutput> {
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = output.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&temp)?;
        Ok(TempOutput {
            temp,
            output: output.to_owned(),
            file,
            persisted: false,
        })
    }

    fn file(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    fn persist(mut self) -> std::io::Result<()> {
        std::fs::rename(&self.temp, &self.output)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Haiku's `_CheckLicenses`: every licence must be a system licence or shipped in the package.
fn check_licenses(info: &PackageInfo, root: &Path, system: &SystemLicenses) -> Result<(), HpkgWriteError> {
    let names = system.names().map_err(|source| HpkgWriteError::SystemLicenses {
        source,
        system: system.clone(),
    })?;
    match missing_license(&info.licenses, &names, root) {
        None => Ok(()),
        Some(license) => Err(HpkgWriteError::LicenseNotInPackage {
            license: license.to_owned(),
            path: root.join("data/licenses").join(license),
        }),
    }
}

fn check_size(section: &'static str, size: usize, limit: usize) -> Result<(), HpkgWriteError> {
    if size > limit {
        return Err(HpkgWriteError::TooLarge { section, size, limit });
    }
    Ok(())
}
