//! One section of an HPKG/HPKR heap (TOC, package attributes, repository packages): its string table
//! and a cursor that decodes the attribute entries one at a time (tag, typed value, has-children),
//! with Haiku's checks (`ReaderImplBase::ParseStrings`, `_ReadAttribute`, `ReadAttributeValue`).
//! Interpreting the entries is up to `toc.rs` and `package_attributes_reader.rs`.
//! Facts: `haiku-formats.md` §1.4.

use crate::haiku::attributes::{
    AttributeId, AttributeType, Tag, ENCODING_INT_64_BIT, ENCODING_RAW_HEAP, ENCODING_RAW_INLINE,
    ENCODING_STRING_INLINE, ENCODING_STRING_TABLE, MAX_INLINE_DATA_SIZE,
};
use crate::haiku::format_error::{FormatError, FormatErrorKind, FormatResult};
use crate::haiku::header::KNOWN_MINOR_VERSION;
use crate::haiku::leb128::{self, Leb128Error};

/// Deepest attribute nesting this reader follows. Haiku has no explicit limit; real TOCs nest a few
/// dozen levels (one per path component, and Haiku paths are at most 1024 bytes), so 256 is ample and
/// keeps adversarial input from growing the parse stack without bound.
pub const MAX_NESTING_DEPTH: usize = 256;

/// Most attributes this reader decodes from one section: a bound on the memory a small, highly
/// compressible file can make us allocate. Haiku's largest packages have a few hundred thousand.
pub const MAX_ATTRIBUTES_PER_SECTION: usize = 8 * 1024 * 1024;

/// File data referenced by a `data` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRef {
    /// Up to 8 bytes stored in the section itself.
    Inline(Vec<u8>),
    /// `size` bytes at `offset` in the uncompressed heap.
    Heap {
        /// Offset in the uncompressed heap.
        offset: u64,
        /// Length in bytes.
        size: u64,
    },
}

impl DataRef {
    /// The data's length in bytes.
    pub fn size(&self) -> u64 {
        match self {
            DataRef::Inline(bytes) => bytes.len() as u64,
            DataRef::Heap { size, .. } => *size,
        }
    }
}

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INT.
    Int(i64),
    /// UINT.
    Uint(u64),
    /// STRING (decoded as UTF-8, invalid sequences replaced).
    String(String),
    /// RAW.
    Raw(DataRef),
}

impl Value {
    /// The value as an unsigned number (INT values reinterpreted, as Haiku's union does).
    pub fn as_uint(&self) -> u64 {
        match self {
            Value::Uint(v) => *v,
            Value::Int(v) => *v as u64,
            _ => 0,
        }
    }

    /// The value as a string slice ("" for non-strings).
    pub fn as_str(&self) -> &str {
        match self {
            Value::String(s) => s,
            _ => "",
        }
    }

    /// Takes the string out of a STRING value.
    pub fn into_string(self) -> String {
        match self {
            Value::String(s) => s,
            _ => String::new(),
        }
    }
}

/// One attribute entry as read from a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The raw ID (may exceed the known IDs in files of a newer minor version).
    pub id: u8,
    /// The value.
    pub value: Value,
    /// Whether a child list follows.
    pub has_children: bool,
    /// Heap offset of the entry's tag, for error messages.
    pub offset: u64,
}

impl Attribute {
    /// The ID as a known [`AttributeId`], if it is one.
    pub fn known_id(&self) -> Option<AttributeId> {
        AttributeId::from_u8(self.id)
    }
}

/// A section's bytes, string table and read position.
#[derive(Debug)]
pub struct Section {
    /// Section name for messages ("TOC", "package attributes", …).
    name: &'static str,
    /// The whole section, uncompressed.
    data: Vec<u8>,
    /// Heap offset of `data[0]`.
    base: u64,
    /// The string table's strings.
    strings: Vec<String>,
    /// Read position in `data`.
    pos: usize,
    /// Whether unknown attribute IDs are skipped (file minor version newer than ours) or rejected.
    ignore_unknown: bool,
    /// Attributes decoded so far, against [`MAX_ATTRIBUTES_PER_SECTION`].
    attribute_count: usize,
}

impl Section {
    /// Parses the string table at the start of `data` (`strings_length` bytes holding exactly
    /// `strings_count` strings) and positions the cursor on the first attribute.
    pub fn new(
        name: &'static str,
        data: Vec<u8>,
        base: u64,
        strings_length: u64,
        strings_count: u64,
        minor_version: u16,
    ) -> FormatResult<Section> {
        let mut section = Section {
            name,
            data,
            base,
            strings: Vec::new(),
            pos: 0,
            ignore_unknown: minor_version > KNOWN_MINOR_VERSION,
            attribute_count: 0,
        };
        section.parse_strings(strings_length, strings_count)?;
        Ok(section)
    }

    /// The section's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether unknown IDs and unexpected attributes are skipped rather than rejected.
    pub fn ignore_unknown(&self) -> bool {
        self.ignore_unknown
    }

    /// Heap offset of the read position.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// An error at the read position.
    pub fn error(&self, kind: FormatErrorKind) -> FormatError {
        FormatError::at_heap(self.offset(), kind)
    }

    /// An error at heap offset `offset`.
    pub fn error_at(&self, offset: u64, kind: FormatErrorKind) -> FormatError {
        FormatError::at_heap(offset, kind)
    }

    fn parse_strings(&mut self, strings_length: u64, strings_count: u64) -> FormatResult<()> {
        // `check_section` made sure strings_length <= section length.
        let table_end = strings_length as usize;
        if strings_count == 0 {
            self.pos = table_end;
            return Ok(());
        }
        let table = &self.data[..table_end];
        let mut strings = Vec::new();
        let mut at = 0usize;
        loop {
            let Some(len) = table[at..].iter().position(|&b| b == 0) else {
                return Err(FormatError::at_heap(
                    self.base + at as u64,
                    FormatErrorKind::BadStringTable(format!("{} strings: string not terminated", self.name)),
                ));
            };
            if len == 0 {
                if at + 1 != table_end {
                    return Err(FormatError::at_heap(
                        self.base + at as u64,
                        FormatErrorKind::BadStringTable(format!(
                            "{} strings: {} excess bytes",
                            self.name,
                            table_end - (at + 1)
                        )),
                    ));
                }
                if strings.len() as u64 != strings_count {
                    return Err(FormatError::at_heap(
                        self.base + at as u64,
                        FormatErrorKind::BadStringTable(format!(
                            "{} strings: {} strings, header says {strings_count}",
                            self.name,
                            strings.len()
                        )),
                    ));
                }
                self.strings = strings;
                self.pos = table_end;
                return Ok(());
            }
            if strings.len() as u64 >= strings_count {
                return Err(FormatError::at_heap(
                    self.base + at as u64,
                    FormatErrorKind::BadStringTable(format!(
                        "{} strings: more strings than the {strings_count} the header says",
                        self.name
                    )),
                ));
            }
            strings.push(String::from_utf8_lossy(&table[at..at + len]).into_owned());
            at += len + 1;
        }
    }

    fn leb128(&mut self) -> FormatResult<u64> {
        let start = self.offset();
        leb128::read_unsigned(&self.data, &mut self.pos).map_err(|e| match e {
            Leb128Error::Truncated => FormatError::at_heap(
                start,
                FormatErrorKind::Truncated(format!(
                    "LEB128 number runs past the end of the {} section",
                    self.name
                )),
            ),
            Leb128Error::Overflow => FormatError::at_heap(start, FormatErrorKind::Leb128Overflow),
        })
    }

    fn bytes(&mut self, count: usize) -> FormatResult<&[u8]> {
        let Some(end) = self.pos.checked_add(count).filter(|&end| end <= self.data.len()) else {
            return Err(self.error(FormatErrorKind::Truncated(format!(
                "{count}-byte value runs past the end of the {} section",
                self.name
            ))));
        };
        let start = self.pos;
        self.pos = end;
        Ok(&self.data[start..end])
    }

    fn inline_string(&mut self) -> FormatResult<String> {
        let rest = &self.data[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(self.error(FormatErrorKind::Truncated(format!(
                "string runs past the end of the {} section",
                self.name
            ))));
        };
        let s = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(s)
    }

    /// Reads the next attribute; `None` is the 0 tag that ends the current list.
    pub fn next_attribute(&mut self) -> FormatResult<Option<Attribute>> {
        let offset = self.offset();
        let raw_tag = self.leb128()?;
        if raw_tag == 0 {
            return Ok(None);
        }
        self.attribute_count += 1;
        if self.attribute_count > MAX_ATTRIBUTES_PER_SECTION {
            return Err(self.error_at(
                offset,
                FormatErrorKind::TooManyAttributes(MAX_ATTRIBUTES_PER_SECTION),
            ));
        }
        let bad = |message: String| FormatError::at_heap(offset, FormatErrorKind::BadAttribute(message));
        let tag =
            Tag::decompose(raw_tag).ok_or_else(|| bad(format!("tag {raw_tag:#x} has bits above 13")))?;
        let value_type = AttributeType::from_u8(tag.type_)
            .filter(|t| *t != AttributeType::Invalid)
            .ok_or_else(|| bad(format!("attribute type {} not supported", tag.type_)))?;
        match AttributeId::from_u8(tag.id) {
            Some(id) if id.value_type() != value_type => {
                return Err(bad(format!(
                    "type {} for attribute {} (expected {})",
                    tag.type_,
                    id.name(),
                    id.value_type() as u8
                )));
            }
            Some(_) => {}
            None if self.ignore_unknown => {}
            None => return Err(bad(format!("attribute id {} not supported", tag.id))),
        }
        let value = self.value(value_type, tag.encoding, offset)?;
        Ok(Some(Attribute {
            id: tag.id,
            value,
            has_children: tag.has_children,
            offset,
        }))
    }

    fn value(&mut self, value_type: AttributeType, encoding: u8, offset: u64) -> FormatResult<Value> {
        let bad = |message: String| FormatError::at_heap(offset, FormatErrorKind::BadAttribute(message));
        match value_type {
            AttributeType::Int | AttributeType::Uint => {
                // Encodings 0..3 (`ENCODING_INT_8_BIT` … `ENCODING_INT_64_BIT`) mean 1, 2, 4, 8 bytes.
                let width = 1usize << (encoding & ENCODING_INT_64_BIT);
                let raw = self
                    .bytes(width)?
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                Ok(if value_type == AttributeType::Int {
                    // Sign-extend from the stored width, as Haiku's typed reads do.
                    let shift = 64 - 8 * width as u32;
                    Value::Int(((raw << shift) as i64) >> shift)
                } else {
                    Value::Uint(raw)
                })
            }
            AttributeType::String => match encoding {
                ENCODING_STRING_TABLE => {
                    let index = self.leb128()?;
                    let count = self.strings.len() as u64;
                    match usize::try_from(index).ok().and_then(|i| self.strings.get(i)) {
                        Some(s) => Ok(Value::String(s.clone())),
                        None => Err(FormatError::at_heap(
                            offset,
                            FormatErrorKind::StringIndexOutOfRange { index, count },
                        )),
                    }
                }
                ENCODING_STRING_INLINE => Ok(Value::String(self.inline_string()?)),
                other => Err(bad(format!("invalid string encoding {other}"))),
            },
            AttributeType::Raw => {
                let size = self.leb128()?;
                match encoding {
                    ENCODING_RAW_INLINE => {
                        if size > MAX_INLINE_DATA_SIZE {
                            return Err(bad(format!("inline data of {size} bytes (at most 8 allowed)")));
                        }
                        Ok(Value::Raw(DataRef::Inline(self.bytes(size as usize)?.to_vec())))
                    }
                    ENCODING_RAW_HEAP => {
                        let data_offset = self.leb128()?;
                        Ok(Value::Raw(DataRef::Heap {
                            offset: data_offset,
                            size,
                        }))
                    }
                    other => Err(bad(format!("invalid raw data encoding {other}"))),
                }
            }
            AttributeType::Invalid => Err(bad("invalid attribute type 0".to_owned())),
        }
    }

    /// Skips the child list of an attribute that had `has_children` set, including any deeper lists.
    pub fn skip_children(&mut self) -> FormatResult<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next_attribute()? {
                None => depth -= 1,
                Some(attribute) if attribute.has_children => {
                    depth += 1;
                    if depth > MAX_NESTING_DEPTH {
                        return Err(
                            self.error_at(attribute.offset, FormatErrorKind::TooDeep(MAX_NESTING_DEPTH))
                        );
                    }
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Checks that the whole section was consumed (Haiku: "excess byte(s) in … section").
    pub fn finish(&self) -> FormatResult<()> {
        if self.pos < self.data.len() {
            return Err(self.error(FormatErrorKind::InconsistentSize(format!(
                "{} excess bytes at the end of the {} section",
                self.data.len() - self.pos,
                self.name
            ))));
        }
        Ok(())
    }
}
