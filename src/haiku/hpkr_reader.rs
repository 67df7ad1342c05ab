//! Reading HPKR repository files: header, heap, the repository-info section (a little-endian
//! flattened BMessage, decoded by [`RepositoryInfo::decode`]) and the packages section, one
//! `package` entry per package, in file order. Checks follow `RepositoryReaderImpl::Init` and
//! `BRepositoryInfo::SetTo(BMessage)`.

use std::path::Path;

use crate::haiku::attributes::{Architecture, AttributeId};
use crate::haiku::format_error::{FormatError, FormatErrorKind, FormatResult};
use crate::haiku::header::{check_section, HpkrHeader, MAX_PACKAGES_SIZE, MAX_REPOSITORY_INFO_SIZE};
use crate::haiku::heap::HeapReader;
use crate::haiku::hpkg_reader::read_file;
use crate::haiku::package_attributes_reader::{
    build_package_info, read_package_attributes, PackageAttribute,
};
use crate::haiku::package_info::PackageInfo;
use crate::haiku::repo_info::RepositoryInfo;
use crate::haiku::section::Section;

/// File offset of `info_length` in the HPKR header.
const INFO_LENGTH_FIELD: u64 = 40;
/// File offset of `packages_length` in the HPKR header.
const PACKAGES_LENGTH_FIELD: u64 = 48;

/// A decoded repository file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The file header.
    pub header: HpkrHeader,
    /// The repository description from the info section.
    pub info: RepositoryInfo,
    /// Every package, in file order.
    pub packages: Vec<PackageInfo>,
    /// Every package's attributes in file order, as Haiku's reader reports them (for listings);
    /// `package_attributes[i]` belongs to `packages[i]`.
    pub package_attributes: Vec<Vec<PackageAttribute>>,
}

impl Repository {
    /// The base URL as `BRepositoryInfo` reports it: the `baseUrl` field, or, for files written
    /// before that field existed, the identifier when it is an `http…` URL.
    pub fn base_url(&self) -> &str {
        if self.info.base_url.is_empty() && self.info.identifier.starts_with("http") {
            &self.info.identifier
        } else {
            &self.info.base_url
        }
    }
}

/// The parts of a repository file located before decoding: header, heap and section offsets.
struct Layout {
    /// The checked header.
    header: HpkrHeader,
    /// The heap layout.
    heap: HeapReader,
    /// Heap offset of the repository-info section.
    info_offset: u64,
    /// Heap offset of the packages section.
    packages_offset: u64,
}

fn layout(bytes: &[u8]) -> FormatResult<Layout> {
    let header = HpkrHeader::parse(bytes)?;
    let heap = HeapReader::new(bytes, &header.common)?;
    let packages_offset = check_section(
        "packages",
        heap.uncompressed_size(),
        header.packages_length,
        MAX_PACKAGES_SIZE,
        Some((header.packages_strings_length, header.packages_strings_count)),
        PACKAGES_LENGTH_FIELD,
    )?;
    let info_offset = check_section(
        "repository info",
        packages_offset,
        u64::from(header.info_length),
        MAX_REPOSITORY_INFO_SIZE,
        None,
        INFO_LENGTH_FIELD,
    )?;
    Ok(Layout {
        header,
        heap,
        info_offset,
        packages_offset,
    })
}

fn info_bytes(bytes: &[u8], layout: &Layout) -> FormatResult<Vec<u8>> {
    layout
        .heap
        .read(bytes, layout.info_offset, u64::from(layout.header.info_length))
}

/// Size of a flattened BMessage header before its hash table, in bytes (`message_header`).
const BMESSAGE_HEADER_SIZE: usize = 48;
/// Size of one flattened BMessage field header, in bytes (`field_header`).
const BMESSAGE_FIELD_HEADER_SIZE: usize = 24;
/// `FIELD_FLAG_FIXED_SIZE` of a BMessage field header.
const BMESSAGE_FIELD_FIXED_SIZE: u16 = 0x0002;

/// Rejects a fixed-size field that claims items but stores no bytes: no Haiku writer produces one,
/// and [`RepositoryInfo::decode`] cannot split such a field (it would divide the data into
/// zero-byte items). Everything else is left to the decoder.
fn check_fixed_size_fields(section: &[u8]) -> Result<(), String> {
    let u32_at = |at: usize| -> Option<u32> {
        section
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(field_count), Some(hash_table_size)) = (u32_at(40), u32_at(44)) else {
        return Ok(()); // too short: the decoder reports it
    };
    let fields_start = (hash_table_size as usize)
        .saturating_mul(4)
        .saturating_add(BMESSAGE_HEADER_SIZE);
    for index in 0..field_count as usize {
        let at = index
            .saturating_mul(BMESSAGE_FIELD_HEADER_SIZE)
            .saturating_add(fields_start);
        let Some(header) = section.get(at..at.saturating_add(BMESSAGE_FIELD_HEADER_SIZE)) else {
            return Ok(());
        };
        let flags = u16::from_le_bytes([header[0], header[1]]);
        let count = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        let size = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if flags & BMESSAGE_FIELD_FIXED_SIZE != 0 && count > 0 && size < count {
            return Err(format!(
                "field {index} holds {count} fixed-size items in {size} bytes"
            ));
        }
    }
    Ok(())
}

/// `keep_attributes`: whether to keep each package's attribute list (listings need it; the
/// repository writer needs only the model, and the lists double the memory of a large repository).
fn parse(bytes: &[u8], keep_attributes: bool) -> FormatResult<Repository> {
    let layout = layout(bytes)?;
    let header = layout.header;
    let info_section = info_bytes(bytes, &layout)?;
    check_fixed_size_fields(&info_section)
        .map_err(|e| FormatError::at_heap(layout.info_offset, FormatErrorKind::BadRepositoryInfo(e)))?;
    let info = RepositoryInfo::decode(&info_section).map_err(|e| {
        FormatError::at_heap(
            layout.info_offset,
            FormatErrorKind::BadRepositoryInfo(e.to_string()),
        )
    })?;
    if info.architecture == Architecture::Any {
        return Err(FormatError::at_heap(
            layout.info_offset,
            FormatErrorKind::BadRepositoryInfo("architecture \"any\" is not allowed".to_owned()),
        ));
    }

    let data = layout
        .heap
        .read(bytes, layout.packages_offset, header.packages_length)?;
    let mut section = Section::new(
        "packages",
        data,
        layout.packages_offset,
        header.packages_strings_length,
        header.packages_strings_count,
        header.common.minor_version,
    )?;
    let mut packages = Vec::new();
    let mut package_attributes = Vec::new();
    while let Some(attribute) = section.next_attribute()? {
        if attribute.known_id() != Some(AttributeId::Package) {
            if !section.ignore_unknown() {
                return Err(section.error_at(
                    attribute.offset,
                    FormatErrorKind::BadAttribute(format!(
                        "unexpected attribute id {} at the top of the packages section",
                        attribute.id
                    )),
                ));
            }
            if attribute.has_children {
                section.skip_children()?;
            }
            continue;
        }
        let attributes = if attribute.has_children {
            read_package_attributes(&mut section)?
        } else {
            Vec::new()
        };
        packages.push(build_package_info(&attributes));
        package_attributes.push(if keep_attributes { attributes } else { Vec::new() });
    }
    section.finish()?;
    Ok(Repository {
        header,
        info,
        packages,
        package_attributes,
    })
}

/// Reads and decodes the repository file at `path`; errors name the file.
pub fn read_repository(path: &Path) -> FormatResult<Repository> {
    let bytes = read_file(path)?;
    parse(&bytes, true).map_err(|e| e.in_file(path))
}

/// Decodes a repository file held in memory.
pub fn read_repository_bytes(bytes: &[u8]) -> FormatResult<Repository> {
    parse(bytes, true)
}

/// Like [`read_repository`], but every `package_attributes` list is left empty: for tools that only
/// need the [`PackageInfo`] models (the repository writer), at about half the memory.
pub fn read_repository_models(path: &Path) -> FormatResult<Repository> {
    let bytes = read_file(path)?;
    parse(&bytes, false).map_err(|e| e.in_file(path))
}

/// The raw bytes of the repository-info section (the flattened BMessage) of a repository file held
/// in memory, exactly as stored.
pub fn repository_info_section_bytes(bytes: &[u8]) -> FormatResult<Vec<u8>> {
    let layout = layout(bytes)?;
    info_bytes(bytes, &layout)
}

/// The raw bytes of the repository-info section of the repository file at `path`.
pub fn repository_info_section(path: &Path) -> FormatResult<Vec<u8>> {
    let bytes = read_file(path)?;
    repository_info_section_bytes(&bytes).map_err(|e| e.in_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::bmessage::Message;

    #[test]
    fn fixed_size_field_without_bytes_is_rejected() {
        let mut message = Message::default();
        message.add_u8("priority", 1);
        let mut bytes = message.flatten();
        assert_eq!(check_fixed_size_fields(&bytes), Ok(()));
        // The first field header follows the 48-byte header and the 5-slot hash table; its data size
        // is at +12.
        let size_at = BMESSAGE_HEADER_SIZE + 4 * 5 + 12;
        bytes[size_at..size_at + 4].copy_from_slice(&0u32.to_le_bytes());
        assert!(check_fixed_size_fields(&bytes).is_err());
    }
}
