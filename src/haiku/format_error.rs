//! The one error type of the HPKG/HPKR readers: what is wrong, where (file and byte offset) and in
//! which part of the file. Every malformed input ends up here instead of in a panic.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which address space an error offset is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpace {
    /// A byte offset in the file itself (headers, heap chunks, chunk-size table).
    File,
    /// A byte offset in the uncompressed heap (sections, file data).
    Heap,
}

/// What is wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatErrorKind {
    /// The file could not be read at all.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The data ends before a structure that should be there.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The magic number is not the expected one.
    #[error("bad magic {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// What the file holds.
        found: u32,
        /// What this reader expects (`hpkg` or `hpkr`).
        expected: u32,
    },
    /// The format version is not 2.
    #[error("unsupported format version {0}, expected 2")]
    BadVersion(u16),
    /// Sizes in the header or the heap disagree with each other or with the file.
    #[error("inconsistent sizes: {0}")]
    InconsistentSize(String),
    /// A section is larger than Haiku's reader accepts.
    #[error("{section} section is {length} bytes, over the {limit}-byte limit")]
    SectionTooLarge {
        /// Section name.
        section: &'static str,
        /// Declared length.
        length: u64,
        /// Haiku's sanity limit.
        limit: u64,
    },
    /// The heap compression code is not 0, 1 or 2.
    #[error("unknown heap compression {0}")]
    BadCompression(u16),
    /// A heap chunk does not decompress to the expected size.
    #[error("heap chunk {chunk} is corrupt: {reason}")]
    BadChunk {
        /// Chunk index.
        chunk: u64,
        /// What went wrong.
        reason: String,
    },
    /// An unsigned LEB128 number is longer than 64 bits.
    #[error("LEB128 number does not fit in 64 bits")]
    Leb128Overflow,
    /// The string table is malformed.
    #[error("bad string table: {0}")]
    BadStringTable(String),
    /// A string-table index is out of range.
    #[error("string index {index} out of range ({count} strings)")]
    StringIndexOutOfRange {
        /// The index found.
        index: u64,
        /// How many strings the table has.
        count: u64,
    },
    /// An attribute tag, type, encoding or value is invalid.
    #[error("bad attribute: {0}")]
    BadAttribute(String),
    /// Attributes nest deeper than this reader allows.
    #[error("attributes nested deeper than {0} levels")]
    TooDeep(usize),
    /// More attributes than this reader allows in one section.
    #[error("more than {0} attributes in one section")]
    TooManyAttributes(usize),
    /// The repository-info BMessage cannot be decoded.
    #[error("bad repository info: {0}")]
    BadRepositoryInfo(String),
}

/// A malformed or unreadable HPKG/HPKR file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The file, when reading from a path.
    pub file: Option<PathBuf>,
    /// Byte offset of the problem, in `space`.
    pub offset: u64,
    /// Whether `offset` is a file offset or an uncompressed-heap offset.
    pub space: OffsetSpace,
    /// What is wrong.
    pub kind: FormatErrorKind,
}

impl FormatError {
    /// An error at a file offset.
    pub fn at_file(offset: u64, kind: FormatErrorKind) -> FormatError {
        FormatError {
            file: None,
            offset,
            space: OffsetSpace::File,
            kind,
        }
    }

    /// An error at an uncompressed-heap offset.
    pub fn at_heap(offset: u64, kind: FormatErrorKind) -> FormatError {
        FormatError {
            file: None,
            offset,
            space: OffsetSpace::Heap,
            kind,
        }
    }

    /// The same error, labelled with the file it came from.
    pub fn in_file(mut self, path: &Path) -> FormatError {
        self.file = Some(path.to_path_buf());
        self
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        let space = match self.space {
            OffsetSpace::File => "file offset",
            OffsetSpace::Heap => "uncompressed heap offset",
        };
        write!(f, "{} (at {space} {})", self.kind, self.offset)
    }
}

impl std::error::Error for FormatError {}

/// Shorthand for reader results.
pub type FormatResult<T> = Result<T, FormatError>;
