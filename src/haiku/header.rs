//! The fixed-size file headers: HPKG (`hpkg_header`, 80 bytes) and HPKR (`hpkg_repo_header`,
//! 72 bytes), both big-endian, and the checks Haiku's readers apply to them before touching the heap
//! (`ReaderImplBase::Init`, `PackageReaderImpl::Init`, `RepositoryReaderImpl::Init`).
//! Facts: `haiku-formats.md` §1.1–1.2, `headers/private/package/hpkg/HPKGDefsPrivate.h`.

use crate::haiku::format_error::{FormatError, FormatErrorKind, FormatResult};

/// `hpkg` as a big-endian u32 (`B_HPKG_MAGIC`).
pub const HPKG_MAGIC: u32 = u32::from_be_bytes(*b"hpkg");
/// `hpkr` as a big-endian u32 (`B_HPKG_REPO_MAGIC`).
pub const HPKR_MAGIC: u32 = u32::from_be_bytes(*b"hpkr");
/// The only format version readers accept (`B_HPKG_VERSION`, `B_HPKG_REPO_VERSION`).
pub const FORMAT_VERSION: u16 = 2;
/// The minor version this crate knows (`B_HPKG_MINOR_VERSION`); files with a higher minor version may
/// carry attribute IDs we do not know, which are then skipped instead of rejected.
pub const KNOWN_MINOR_VERSION: u16 = 1;
/// Size of `hpkg_header` in bytes.
pub const HPKG_HEADER_SIZE: usize = 80;
/// Size of `hpkg_repo_header` in bytes.
pub const HPKR_HEADER_SIZE: usize = 72;

/// Heap compression: none (`B_HPKG_COMPRESSION_NONE`).
pub const COMPRESSION_NONE: u16 = 0;
/// Heap compression: zlib (`B_HPKG_COMPRESSION_ZLIB`).
pub const COMPRESSION_ZLIB: u16 = 1;
/// Heap compression: zstd (`B_HPKG_COMPRESSION_ZSTD`).
pub const COMPRESSION_ZSTD: u16 = 2;

/// Haiku's sanity limit on an HPKG TOC section, in bytes (`kMaxTOCSize`, `PackageReaderImpl.cpp`).
pub const MAX_TOC_SIZE: u64 = 64 * 1024 * 1024;
/// Haiku's limit on an HPKG package-attributes section, in bytes (`kMaxPackageAttributesSize`).
pub const MAX_PACKAGE_ATTRIBUTES_SIZE: u64 = 1024 * 1024;
/// Haiku's limit on an HPKR repository-info section, in bytes (`kMaxRepositoryInfoSize`,
/// `RepositoryReaderImpl.cpp`).
pub const MAX_REPOSITORY_INFO_SIZE: u64 = 1024 * 1024;
/// Haiku's limit on an HPKR packages section, in bytes (`kMaxPackagesSize`).
pub const MAX_PACKAGES_SIZE: u64 = 64 * 1024 * 1024;

/// The header fields both formats share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonHeader {
    /// Header size in bytes; also the file offset where the heap starts.
    pub header_size: u16,
    /// Format version (2).
    pub version: u16,
    /// Total file size as recorded; equals the real file size.
    pub total_size: u64,
    /// Minor format version (1 today; 0 in files from before 2019).
    pub minor_version: u16,
    /// Heap compression (`COMPRESSION_*`).
    pub heap_compression: u16,
    /// Chunk size as recorded; readers ignore it (64 KiB is hard-wired).
    pub heap_chunk_size: u32,
    /// Stored heap size, including the chunk-size table.
    pub heap_size_compressed: u64,
    /// Size of the heap once decompressed.
    pub heap_size_uncompressed: u64,
}

/// An HPKG header (`hpkg_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HpkgHeader {
    /// Fields shared with HPKR.
    pub common: CommonHeader,
    /// Package-attributes section length (uncompressed).
    pub attributes_length: u32,
    /// Length of the attributes section's string table.
    pub attributes_strings_length: u32,
    /// Number of strings in that table.
    pub attributes_strings_count: u32,
    /// Reserved; not interpreted.
    pub reserved1: u32,
    /// TOC section length (uncompressed).
    pub toc_length: u64,
    /// Length of the TOC's string table.
    pub toc_strings_length: u64,
    /// Number of strings in that table.
    pub toc_strings_count: u64,
}

/// An HPKR header (`hpkg_repo_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HpkrHeader {
    /// Fields shared with HPKG.
    pub common: CommonHeader,
    /// Repository-info section length.
    pub info_length: u32,
    /// Reserved; real files hold uninitialised junk here.
    pub reserved1: u32,
    /// Packages section length (uncompressed).
    pub packages_length: u64,
    /// Length of the packages section's string table.
    pub packages_strings_length: u64,
    /// Number of strings in that table.
    pub packages_strings_count: u64,
}

/// Big-endian field access over a header that is known to be long enough.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[at..at + 4]);
        u32::from_be_bytes(b)
    }
    fn u64(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        u64::from_be_bytes(b)
    }
}

/// Parses and checks the shared fields at the start of `bytes` (at least the header) of a file of
/// `file_len` bytes; `header_len` is the struct size for this format.
fn parse_common(bytes: &[u8], file_len: u64, magic: u32, header_len: usize) -> FormatResult<CommonHeader> {
    if bytes.len() < header_len {
        return Err(FormatError::at_file(
            bytes.len() as u64,
            FormatErrorKind::Truncated(format!(
                "file has {} bytes, header needs {header_len}",
                bytes.len()
            )),
        ));
    }
    let f = Fields(bytes);
    let found = f.u32(0);
    if found != magic {
        return Err(FormatError::at_file(
            0,
            FormatErrorKind::BadMagic {
                found,
                expected: magic,
            },
        ));
    }
    let header = CommonHeader {
        header_size: f.u16(4),
        version: f.u16(6),
        total_size: f.u64(8),
        minor_version: f.u16(16),
        heap_compression: f.u16(18),
        heap_chunk_size: f.u32(20),
        heap_size_compressed: f.u64(24),
        heap_size_uncompressed: f.u64(32),
    };
    if usize::from(header.header_size) < header_len {
        return Err(FormatError::at_file(
            4,
            FormatErrorKind::InconsistentSize(format!(
                "header size {} is smaller than {header_len}",
                header.header_size
            )),
        ));
    }
    if header.version != FORMAT_VERSION {
        return Err(FormatError::at_file(
            6,
            FormatErrorKind::BadVersion(header.version),
        ));
    }
    if header.total_size != file_len {
        return Err(FormatError::at_file(
            8,
            FormatErrorKind::InconsistentSize(format!(
                "header says the file is {} bytes, it is {file_len}",
                header.total_size,
            )),
        ));
    }
    if !matches!(
        header.heap_compression,
        COMPRESSION_NONE | COMPRESSION_ZLIB | COMPRESSION_ZSTD
    ) {
        return Err(FormatError::at_file(
            18,
            FormatErrorKind::BadCompression(header.heap_compression),
        ));
    }
    let heap_end = u64::from(header.header_size).checked_add(header.heap_size_compressed);
    if heap_end.is_none_or(|end| end > header.total_size) {
        return Err(FormatError::at_file(
            24,
            FormatErrorKind::InconsistentSize(format!(
                "heap of {} bytes at offset {} runs past the end of the {}-byte file",
                header.heap_size_compressed, header.header_size, header.total_size
            )),
        ));
    }
    Ok(header)
}

/// Checks one section's declared sizes the way `ReaderImplBase::InitSection` does: it must fit before
/// `end_offset`, stay under `limit`, and its string table must be consistent. Returns the section's
/// start offset in the uncompressed heap. `field_offset` locates the length field for errors.
pub fn check_section(
    name: &'static str,
    end_offset: u64,
    length: u64,
    limit: u64,
    strings: Option<(u64, u64)>,
    field_offset: u64,
) -> FormatResult<u64> {
    if length > limit {
        return Err(FormatError::at_file(
            field_offset,
            FormatErrorKind::SectionTooLarge {
                section: name,
                length,
                limit,
            },
        ));
    }
    if length > end_offset {
        return Err(FormatError::at_file(
            field_offset,
            FormatErrorKind::InconsistentSize(format!(
                "{name} section of {length} bytes does not fit in the {end_offset} bytes before it ends"
            )),
        ));
    }
    if let Some((strings_length, strings_count)) = strings {
        if (strings_length <= 1) != (strings_count == 0) || strings_length > length {
            return Err(FormatError::at_file(
                field_offset,
                FormatErrorKind::BadStringTable(format!(
                    "{name}: {strings_count} strings in {strings_length} bytes of a {length}-byte section"
                )),
            ));
        }
    }
    Ok(end_offset - length)
}

impl HpkgHeader {
    /// Parses and checks an HPKG header at the start of `bytes` (the whole file).
    pub fn parse(bytes: &[u8]) -> FormatResult<HpkgHeader> {
        Self::parse_prefix(bytes, bytes.len() as u64)
    }

    /// Parses and checks an HPKG header from the first bytes of a file of `file_len` bytes, so a
    /// large package need not be in memory to be read.
    pub fn parse_prefix(bytes: &[u8], file_len: u64) -> FormatResult<HpkgHeader> {
        let common = parse_common(bytes, file_len, HPKG_MAGIC, HPKG_HEADER_SIZE)?;
        let f = Fields(bytes);
        Ok(HpkgHeader {
            common,
            attributes_length: f.u32(40),
            attributes_strings_length: f.u32(44),
            attributes_strings_count: f.u32(48),
            reserved1: f.u32(52),
            toc_length: f.u64(56),
            toc_strings_length: f.u64(64),
            toc_strings_count: f.u64(72),
        })
    }
}

impl HpkrHeader {
    /// Parses and checks an HPKR header at the start of `bytes` (the whole file).
    pub fn parse(bytes: &[u8]) -> FormatResult<HpkrHeader> {
        let common = parse_common(bytes, bytes.len() as u64, HPKR_MAGIC, HPKR_HEADER_SIZE)?;
        let f = Fields(bytes);
        Ok(HpkrHeader {
            common,
            info_length: f.u32(40),
            reserved1: f.u32(44),
            packages_length: f.u64(48),
            packages_strings_length: f.u64(56),
            packages_strings_count: f.u64(64),
        })
    }
}
