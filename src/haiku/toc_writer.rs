//! Building an HPKG table of contents from a directory tree (`PackageWriterImpl::_AddEntry`,
//! `_AddData`): one `dir:entry` per file, directory or symlink with its type (unless a plain file),
//! permissions (unless the default), access/modification/creation times, and its data — inline
//! when at most 8 bytes, otherwise appended to the heap — or its symlink target.
//!
//! Entries are written in byte order of their names (Haiku uses `readdir` order, which is not
//! reproducible), except that a top-level `.PackageInfo` comes last, as in the packages Haiku's tool
//! writes. Users, groups and extended attributes are not written (Haiku's own writer has a TODO for
//! users and groups; Linux has no BFS attributes to carry).

use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::haiku::attributes::{
    AttributeId as Id, FILE_TYPE_DIRECTORY, FILE_TYPE_SYMLINK, MAX_INLINE_DATA_SIZE,
};
use crate::haiku::heap_writer::HeapWriter;
use crate::haiku::section_writer::{AttrNode, AttrValue};

/// Name of the package-info file in a package's root (`B_HPKG_PACKAGE_INFO_FILE_NAME`).
pub const PACKAGE_INFO_FILE_NAME: &str = ".PackageInfo";
/// Default permissions of a file entry (`B_HPKG_DEFAULT_FILE_PERMISSIONS`); others are written.
const DEFAULT_FILE_PERMISSIONS: u32 = 0o644;
/// Default permissions of a directory entry (`B_HPKG_DEFAULT_DIRECTORY_PERMISSIONS`).
const DEFAULT_DIRECTORY_PERMISSIONS: u32 = 0o755;
/// Default permissions of a symlink entry (`B_HPKG_DEFAULT_SYMLINK_PERMISSIONS`).
const DEFAULT_SYMLINK_PERMISSIONS: u32 = 0o777;
/// Permission bits kept from `st_mode` (`ALLPERMS`).
const ALL_PERMISSIONS: u32 = 0o7777;

/// A file system problem while reading the package contents.
#[derive(Debug, thiserror::Error)]
#[error("cannot add {} to the package: {source}", path.display())]
pub struct TocError {
    /// The entry that could not be read.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The `.PackageInfo` file to store at the package root, replacing any in the directory.
#[derive(Debug, Clone)]
pub struct PackageInfoEntry {
    /// The file's contents.
    pub contents: Vec<u8>,
    /// Its metadata (times and permissions are taken from it).
    pub metadata: Metadata,
}

/// Builds the top-level TOC entries for `root`'s contents, streaming file data into `heap`.
pub fn build_toc<W: Write>(
    root: &Path,
    package_info: &PackageInfoEntry,
    heap: &mut HeapWriter<W>,
) -> Result<Vec<AttrNode<'static>>, TocError> {
    let mut entries = Vec::new();
    for name in sorted_names(root)? {
        if name == PACKAGE_INFO_FILE_NAME {
            continue;
        }
        entries.push(entry(&root.join(&name), &name, heap)?);
    }
    let mut info = entry_node(PACKAGE_INFO_FILE_NAME, &package_info.metadata, 0);
    add_data(&mut info, &package_info.contents, heap);
    entries.push(info);
    Ok(entries)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TocError + '_ {
    move |source| TocError {
        path: path.to_owned(),
        source,
    }
}

/// The names in a directory, sorted bytewise so packages are reproducible.
fn sorted_names(dir: &Path) -> Result<Vec<String>, TocError> {
    let mut names = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let item = item.map_err(io_error(dir))?;
        let name = item.file_name().into_string().map_err(|raw| TocError {
            path: dir.join(&raw),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not UTF-8"),
        })?;
        names.push(name);
    }
    names.sort_unstable();
    Ok(names)
}

/// One entry and, for a directory, its children.
fn entry<W: Write>(path: &Path, name: &str, heap: &mut HeapWriter<W>) -> Result<AttrNode<'static>, TocError> {
    let metadata = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    let file_type = metadata.file_type();
    if file_type.is_file() {
        let mut node = entry_node(name, &metadata, 0);
        add_file_data(&mut node, path, metadata.len(), heap)?;
        Ok(node)
    } else if file_type.is_symlink() {
        let target = std::fs::read_link(path).map_err(io_error(path))?;
        let mut node = entry_node(name, &metadata, FILE_TYPE_SYMLINK);
        node.children.push(AttrNode::owned_string(
            Id::SymlinkPath,
            target.to_string_lossy().into_owned(),
        ));
        Ok(node)
    } else if file_type.is_dir() {
        let mut node = entry_node(name, &metadata, FILE_TYPE_DIRECTORY);
        for child in sorted_names(path)? {
            node.children.push(entry(&path.join(&child), &child, heap)?);
        }
        Ok(node)
    } else {
        Err(TocError {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::Unsupported, "unsupported node type"),
        })
    }
}

/// A `dir:entry` with the stat data Haiku's writer records, in its order.
fn entry_node(name: &str, metadata: &Metadata, file_type: u64) -> AttrNode<'static> {
    let mut node = AttrNode::owned_string(Id::DirectoryEntry, name.to_owned());
    let default_permissions = match file_type {
        FILE_TYPE_DIRECTORY => DEFAULT_DIRECTORY_PERMISSIONS,
        FILE_TYPE_SYMLINK => DEFAULT_SYMLINK_PERMISSIONS,
        _ => DEFAULT_FILE_PERMISSIONS,
    };
    if file_type != 0 {
        node.children.push(AttrNode::uint(Id::FileType, file_type));
    }
    let permissions = metadata.mode() & ALL_PERMISSIONS;
    if permissions != default_permissions {
        node.children
            .push(AttrNode::uint(Id::FilePermissions, u64::from(permissions)));
    }
    // Haiku stores the times as uint32 seconds; a non-Haiku host has no creation time, so Haiku's
    // writer uses the modification time there too.
    let seconds = |t: i64| u64::from(t.clamp(0, i64::from(u32::MAX)) as u32);
    node.children
        .push(AttrNode::uint(Id::FileAtime, seconds(metadata.atime())));
    node.children
        .push(AttrNode::uint(Id::FileMtime, seconds(metadata.mtime())));
    node.children
        .push(AttrNode::uint(Id::FileCrtime, seconds(metadata.mtime())));
    node
}

/// Adds the `data` attribute of the `size`-byte file at `path`: inline up to 8 bytes, otherwise
/// streamed into the heap (never read whole: a package may hold files of any size). The file must
/// still hold `size` bytes; one that shrank while being packaged is an error, and bytes it gained
/// are not read, so the entry's size and its data always agree.
fn add_file_data<W: Write>(
    node: &mut AttrNode<'_>,
    path: &Path,
    size: u64,
    heap: &mut HeapWriter<W>,
) -> Result<(), TocError> {
    if size <= MAX_INLINE_DATA_SIZE {
        let data = std::fs::read(path).map_err(io_error(path))?;
        let data = data.get(..size as usize).ok_or_else(|| shrank(path))?;
        add_data(node, data, heap);
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let offset = heap.append_reader(file, size).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => shrank(path),
        _ => TocError {
            path: path.to_owned(),
            source: e,
        },
    })?;
    node.children.push(AttrNode {
        id: Id::Data,
        value: AttrValue::RawHeap { size, offset },
        children: Vec::new(),
    });
    Ok(())
}

fn shrank(path: &Path) -> TocError {
    TocError {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file shrank while it was being packaged",
        ),
    }
}

/// Adds a `data` attribute: inline up to 8 bytes, otherwise a heap reference.
fn add_data<W: Write>(node: &mut AttrNode<'_>, data: &[u8], heap: &mut HeapWriter<W>) {
    if data.is_empty() {
        return;
    }
    let value = if data.len() as u64 <= MAX_INLINE_DATA_SIZE {
        AttrValue::RawInline(data.to_vec())
    } else {
        AttrValue::RawHeap {
            size: data.len() as u64,
            offset: heap.append(data),
        }
    };
    node.children.push(AttrNode {
        id: Id::Data,
        value,
        children: Vec::new(),
    });
}
