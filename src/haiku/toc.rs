//! The HPKG table of contents: walks the TOC section's `dir:entry` trees into [`TocEntry`] values
//! (files, directories, symlinks, their times, permissions, extended attributes and data
//! references), as Haiku's `PackageReaderImpl::EntryAttributeHandler` does. The walk is iterative, so
//! nesting depth costs heap memory (bounded by [`MAX_NESTING_DEPTH`]), not stack.

use crate::haiku::attributes::{AttributeId, FILE_TYPE_DIRECTORY, FILE_TYPE_FILE, FILE_TYPE_SYMLINK};
use crate::haiku::format_error::{FormatErrorKind, FormatResult};
use crate::haiku::section::{Attribute, DataRef, Section, Value, MAX_NESTING_DEPTH};

/// `S_IFMT`: the file-type bits of a mode, which `file:permissions` cannot set.
const MODE_TYPE_MASK: u32 = 0o170_000;
/// Permissions of a file without `file:permissions` (`B_HPKG_DEFAULT_FILE_PERMISSIONS`).
pub const DEFAULT_FILE_PERMISSIONS: u32 = 0o644;
/// Permissions of a directory without `file:permissions` (`B_HPKG_DEFAULT_DIRECTORY_PERMISSIONS`).
pub const DEFAULT_DIRECTORY_PERMISSIONS: u32 = 0o755;
/// Permissions of a symlink without `file:permissions` (`B_HPKG_DEFAULT_SYMLINK_PERMISSIONS`).
pub const DEFAULT_SYMLINK_PERMISSIONS: u32 = 0o777;

/// What a TOC entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryType {
    /// A regular file (the default when `file:type` is absent).
    #[default]
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
}

impl EntryType {
    fn default_permissions(self) -> u32 {
        match self {
            EntryType::File => DEFAULT_FILE_PERMISSIONS,
            EntryType::Directory => DEFAULT_DIRECTORY_PERMISSIONS,
            EntryType::Symlink => DEFAULT_SYMLINK_PERMISSIONS,
        }
    }
}

/// An extended attribute of a TOC entry (`file:attribute`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryAttribute {
    /// Attribute name, e.g. `BEOS:TYPE`.
    pub name: String,
    /// Haiku type code (`file:attribute:type`), e.g. `'MIMS'`.
    pub type_code: u32,
    /// The attribute's data, if any.
    pub data: Option<DataRef>,
}

/// One file, directory or symlink of a package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TocEntry {
    /// The entry's name (one path component).
    pub name: String,
    /// File, directory or symlink.
    pub entry_type: EntryType,
    /// Mode bits other than the file type (permissions, set-uid/gid, sticky).
    pub permissions: u32,
    /// `file:user`; Haiku's reader ignores it.
    pub user: String,
    /// `file:group`; Haiku's reader ignores it.
    pub group: String,
    /// Access time, seconds since the epoch.
    pub atime: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Creation time, seconds since the epoch.
    pub crtime: u64,
    /// Nanoseconds part of `atime`.
    pub atime_nanos: u64,
    /// Nanoseconds part of `mtime`.
    pub mtime_nanos: u64,
    /// Nanoseconds part of `crtime`.
    pub crtime_nanos: u64,
    /// A symlink's target.
    pub symlink_path: Option<String>,
    /// A file's contents.
    pub data: Option<DataRef>,
    /// Extended attributes, in file order.
    pub attributes: Vec<EntryAttribute>,
    /// A directory's entries, in file order.
    pub children: Vec<TocEntry>,
}

impl TocEntry {
    fn new(name: String) -> TocEntry {
        TocEntry {
            name,
            permissions: DEFAULT_FILE_PERMISSIONS,
            ..TocEntry::default()
        }
    }

    /// The full mode as `stat` would report it (type bits plus permissions).
    pub fn mode(&self) -> u32 {
        let type_bits = match self.entry_type {
            EntryType::File => 0o100_000,
            EntryType::Directory => 0o040_000,
            EntryType::Symlink => 0o120_000,
        };
        type_bits | self.permissions
    }

    /// Size of the entry's data in bytes (0 without data).
    pub fn size(&self) -> u64 {
        self.data.as_ref().map_or(0, DataRef::size)
    }

    /// The child called `name`, if any.
    pub fn child(&self, name: &str) -> Option<&TocEntry> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Checks a heap data reference lies inside the heap.
fn check_data(section: &Section, attribute: &Attribute, heap_size: u64) -> FormatResult<Option<DataRef>> {
    let Value::Raw(data) = &attribute.value else {
        return Ok(None);
    };
    if let DataRef::Heap { offset, size } = data {
        if offset.checked_add(*size).is_none_or(|end| end > heap_size) {
            return Err(section.error_at(
                attribute.offset,
                FormatErrorKind::InconsistentSize(format!(
                    "data of {size} bytes at heap offset {offset} runs past the {heap_size}-byte heap"
                )),
            ));
        }
    }
    Ok(Some(data.clone()))
}

/// Validates an entry name as `EntryAttributeHandler::Create` does.
fn check_name(section: &Section, attribute: &Attribute) -> FormatResult<String> {
    let name = attribute.value.as_str();
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(section.error_at(
            attribute.offset,
            FormatErrorKind::BadAttribute(format!("invalid entry name {name:?}")),
        ));
    }
    Ok(name.to_owned())
}

/// Reads the children of a `file:attribute` entry.
fn read_entry_attribute(
    section: &mut Section,
    root: &Attribute,
    heap_size: u64,
) -> FormatResult<EntryAttribute> {
    let mut attribute = EntryAttribute {
        name: root.value.as_str().to_owned(),
        ..Default::default()
    };
    if !root.has_children {
        return Ok(attribute);
    }
    while let Some(child) = section.next_attribute()? {
        match child.known_id() {
            Some(AttributeId::Data) => attribute.data = check_data(section, &child, heap_size)?,
            // Haiku stores the type as uint32.
            Some(AttributeId::FileAttributeType) => attribute.type_code = child.value.as_uint() as u32,
            _ => {}
        }
        if child.has_children {
            section.skip_children()?;
        }
    }
    Ok(attribute)
}

/// Applies one attribute to the entry being built. Returns `Some(name)` when the attribute opens a
/// child entry (whose attributes follow).
fn apply(
    section: &mut Section,
    entry: &mut TocEntry,
    attribute: Attribute,
    heap_size: u64,
) -> FormatResult<Option<String>> {
    let Some(id) = attribute.known_id() else {
        if attribute.has_children {
            section.skip_children()?;
        }
        return Ok(None);
    };
    match id {
        AttributeId::DirectoryEntry => {
            // An entry without children is never reported by Haiku's reader.
            if attribute.has_children {
                return Ok(Some(check_name(section, &attribute)?));
            }
            return Ok(None);
        }
        AttributeId::FileAttribute => {
            let extended = read_entry_attribute(section, &attribute, heap_size)?;
            entry.attributes.push(extended);
            return Ok(None);
        }
        AttributeId::FileType => {
            entry.entry_type = match attribute.value.as_uint() {
                FILE_TYPE_FILE => EntryType::File,
                FILE_TYPE_DIRECTORY => EntryType::Directory,
                FILE_TYPE_SYMLINK => EntryType::Symlink,
                other => {
                    return Err(section.error_at(
                        attribute.offset,
                        FormatErrorKind::BadAttribute(format!("invalid file type {other}")),
                    ))
                }
            };
            // Setting the type resets the permissions to that type's default, as in Haiku.
            entry.permissions = entry.entry_type.default_permissions();
        }
        AttributeId::FilePermissions => {
            entry.permissions = attribute.value.as_uint() as u32 & !MODE_TYPE_MASK
        }
        AttributeId::FileUser => entry.user = attribute.value.as_str().to_owned(),
        AttributeId::FileGroup => entry.group = attribute.value.as_str().to_owned(),
        AttributeId::FileAtime => entry.atime = attribute.value.as_uint(),
        AttributeId::FileMtime => entry.mtime = attribute.value.as_uint(),
        AttributeId::FileCrtime => entry.crtime = attribute.value.as_uint(),
        AttributeId::FileAtimeNanos => entry.atime_nanos = attribute.value.as_uint(),
        AttributeId::FileMtimeNanos => entry.mtime_nanos = attribute.value.as_uint(),
        AttributeId::FileCrtimeNanos => entry.crtime_nanos = attribute.value.as_uint(),
        AttributeId::Data => entry.data = check_data(section, &attribute, heap_size)?,
        AttributeId::SymlinkPath => entry.symlink_path = Some(attribute.value.as_str().to_owned()),
        // Anything else inside an entry is ignored by Haiku's reader.
        _ => {}
    }
    if attribute.has_children {
        section.skip_children()?;
    }
    Ok(None)
}

/// Walks the whole TOC section (after its string table) and returns the top-level entries.
/// `heap_size` bounds data references.
pub fn read_toc(section: &mut Section, heap_size: u64) -> FormatResult<Vec<TocEntry>> {
    let mut top_level = Vec::new();
    // Entries being built, outermost first.
    let mut open: Vec<TocEntry> = Vec::new();
    loop {
        let Some(attribute) = section.next_attribute()? else {
            match open.pop() {
                None => break,
                Some(done) => match open.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => top_level.push(done),
                },
            }
            continue;
        };
        let child_name = match open.last_mut() {
            Some(entry) => apply(section, entry, attribute, heap_size)?,
            None => {
                // At the top level only entries count; anything else (package attributes in very old
                // files) is skipped.
                if attribute.known_id() == Some(AttributeId::DirectoryEntry) && attribute.has_children {
                    Some(check_name(section, &attribute)?)
                } else {
                    if attribute.has_children {
                        section.skip_children()?;
                    }
                    None
                }
            }
        };
        if let Some(name) = child_name {
            if open.len() >= MAX_NESTING_DEPTH {
                return Err(section.error(FormatErrorKind::TooDeep(MAX_NESTING_DEPTH)));
            }
            open.push(TocEntry::new(name));
        }
    }
    section.finish()?;
    Ok(top_level)
}
