//! Reading `.hpkg` packages: header, heap, package-attributes section and TOC into a [`Package`];
//! random access to file data through [`PackageFile`]; the licence files a repository embeds.
//! Order of checks follows `PackageReaderImpl::Init` / `ParseContent`.

use std::path::Path;

use crate::haiku::format_error::{FormatError, FormatErrorKind, FormatResult};
use crate::haiku::header::{check_section, HpkgHeader, MAX_PACKAGE_ATTRIBUTES_SIZE, MAX_TOC_SIZE};
use crate::haiku::heap::{HeapReader, HeapSource};
use crate::haiku::package_attributes_reader::{
    build_package_info, read_package_attributes, PackageAttribute,
};
use crate::haiku::package_info::PackageInfo;
use crate::haiku::section::{DataRef, Section};
use crate::haiku::toc::{read_toc, EntryType, TocEntry};

/// File offset of `attributes_length` in the HPKG header (for errors about that section).
const ATTRIBUTES_LENGTH_FIELD: u64 = 40;
/// File offset of `toc_length` in the HPKG header.
const TOC_LENGTH_FIELD: u64 = 56;

/// A decoded package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The file header.
    pub header: HpkgHeader,
    /// The package attributes as a model.
    pub info: PackageInfo,
    /// The package attributes in file order, as Haiku's reader reports them (for listings).
    pub attributes: Vec<PackageAttribute>,
    /// The top-level TOC entries.
    pub toc: Vec<TocEntry>,
}

/// A licence file shipped in a package (`data/licenses/<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseFile {
    /// The file name, which is the licence's name.
    pub name: String,
    /// The file's contents.
    pub data: Vec<u8>,
}

/// A package file held in memory with its decoded contents, for reading file data.
#[derive(Debug, Clone)]
pub struct PackageFile {
    /// The whole file.
    bytes: Vec<u8>,
    /// The heap layout, for reading file data out of `bytes`.
    heap: HeapReader,
    /// The decoded package.
    pub package: Package,
}

/// Reads the whole file, labelling failures with its path.
pub(crate) fn read_file(path: &Path) -> FormatResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| FormatError::at_file(0, FormatErrorKind::Io(e.to_string())).in_file(path))
}

/// Parses a whole package held in `bytes`.
fn parse(bytes: &[u8]) -> FormatResult<(Package, HeapReader)> {
    parse_from(bytes, bytes, bytes.len() as u64)
}

/// Parses a package of `file_len` bytes whose first bytes (at least the header) are `prefix`, reading
/// the heap from `bytes`.
fn parse_from<S: HeapSource + ?Sized>(
    prefix: &[u8],
    bytes: &S,
    file_len: u64,
) -> FormatResult<(Package, HeapReader)> {
    let header = HpkgHeader::parse_prefix(prefix, file_len)?;
    let heap = HeapReader::new(bytes, &header.common)?;
    let heap_size = heap.uncompressed_size();
    let minor = header.common.minor_version;

    let attributes_offset = check_section(
        "package attributes",
        heap_size,
        u64::from(header.attributes_length),
        MAX_PACKAGE_ATTRIBUTES_SIZE,
        Some((
            u64::from(header.attributes_strings_length),
            u64::from(header.attributes_strings_count),
        )),
        ATTRIBUTES_LENGTH_FIELD,
    )?;
    let toc_offset = check_section(
        "TOC",
        attributes_offset,
        header.toc_length,
        MAX_TOC_SIZE,
        Some((header.toc_strings_length, header.toc_strings_count)),
        TOC_LENGTH_FIELD,
    )?;

    // Haiku parses the package attributes first, then the TOC.
    let data = heap.read(bytes, attributes_offset, u64::from(header.attributes_length))?;
    let mut section = Section::new(
        "package attributes",
        data,
        attributes_offset,
        u64::from(header.attributes_strings_length),
        u64::from(header.attributes_strings_count),
        minor,
    )?;
    let attributes = read_package_attributes(&mut section)?;
    section.finish()?;

    let data = heap.read(bytes, toc_offset, header.toc_length)?;
    let mut section = Section::new(
        "TOC",
        data,
        toc_offset,
        header.toc_strings_length,
        header.toc_strings_count,
        minor,
    )?;
    let toc = read_toc(&mut section, heap_size)?;

    let info = build_package_info(&attributes);
    Ok((
        Package {
            header,
            info,
            attributes,
            toc,
        },
        heap,
    ))
}

/// Reads and decodes the package at `path`; errors name the file.
pub fn read_package(path: &Path) -> FormatResult<Package> {
    let bytes = read_file(path)?;
    parse(&bytes)
        .map(|(package, _)| package)
        .map_err(|e| e.in_file(path))
}

/// Decodes a package held in memory.
pub fn read_package_bytes(bytes: &[u8]) -> FormatResult<Package> {
    parse(bytes).map(|(package, _)| package)
}

impl PackageFile {
    /// Reads and decodes the package at `path`, keeping its bytes for data access.
    pub fn open(path: &Path) -> FormatResult<PackageFile> {
        Self::from_bytes(read_file(path)?).map_err(|e| e.in_file(path))
    }

    /// Decodes a package from its bytes, keeping them for data access.
    pub fn from_bytes(bytes: Vec<u8>) -> FormatResult<PackageFile> {
        let (package, heap) = parse(&bytes)?;
        Ok(PackageFile { bytes, heap, package })
    }

    /// The raw file bytes (e.g. to checksum them).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The contents `data` refers to.
    pub fn read_data(&self, data: &DataRef) -> FormatResult<Vec<u8>> {
        match data {
            DataRef::Inline(bytes) => Ok(bytes.clone()),
            DataRef::Heap { offset, size } => self.heap.read(&self.bytes, *offset, *size),
        }
    }

    /// The regular files directly in the top-level `data/licenses/` directory, with their contents,
    /// in TOC order: what `package_repo` embeds for APPROVE_LICENSE packages.
    pub fn license_files(&self) -> FormatResult<Vec<LicenseFile>> {
        license_files(&self.package, |data| self.read_data(data))
    }
}

/// A package read from an open file with positional reads: only the header, the chunk table and the
/// chunks holding the two sections are read to decode it, and file data only when asked for, so
/// memory stays bounded whatever the package's size (a publisher scanning a 1 GiB package holds a
/// few chunks, not the file).
#[derive(Debug)]
pub struct PackageReader {
    /// The open package file.
    file: std::fs::File,
    /// The heap layout, for reading file data out of `file`.
    heap: HeapReader,
    /// The decoded package.
    pub package: Package,
}

impl PackageReader {
    /// Decodes the package in `file`, which is `file_len` bytes long.
    pub fn new(file: std::fs::File, file_len: u64) -> FormatResult<PackageReader> {
        use crate::haiku::header::HPKG_HEADER_SIZE;
        let prefix_len = file_len.min(HPKG_HEADER_SIZE as u64);
        let prefix = file.bytes_at(0, prefix_len)?.into_owned();
        let (package, heap) = parse_from(&prefix, &file, file_len)?;
        Ok(PackageReader { file, heap, package })
    }

    /// The contents `data` refers to.
    pub fn read_data(&self, data: &DataRef) -> FormatResult<Vec<u8>> {
        match data {
            DataRef::Inline(bytes) => Ok(bytes.clone()),
            DataRef::Heap { offset, size } => self.heap.read(&self.file, *offset, *size),
        }
    }

    /// The licence files, as [`PackageFile::license_files`].
    pub fn license_files(&self) -> FormatResult<Vec<LicenseFile>> {
        license_files(&self.package, |data| self.read_data(data))
    }
}

/// The regular files directly in `package`'s top-level `data/licenses/`, read with `read`.
fn license_files(
    package: &Package,
    read: impl Fn(&DataRef) -> FormatResult<Vec<u8>>,
) -> FormatResult<Vec<LicenseFile>> {
    let licenses = package
        .toc
        .iter()
        .find(|e| e.name == "data")
        .and_then(|data| data.child("licenses"));
    let Some(licenses) = licenses else {
        return Ok(Vec::new());
    };
    licenses
        .children
        .iter()
        .filter(|e| e.entry_type == EntryType::File)
        .map(|e| {
            let data = match &e.data {
                Some(data) => read(data)?,
                None => Vec::new(),
            };
            Ok(LicenseFile {
                name: e.name.clone(),
                data,
            })
        })
        .collect()
}

/// The licence files of the package at `path` (see [`PackageFile::license_files`]).
pub fn package_license_files(path: &Path) -> FormatResult<Vec<LicenseFile>> {
    let file = PackageFile::open(path)?;
    file.license_files().map_err(|e| e.in_file(path))
}
