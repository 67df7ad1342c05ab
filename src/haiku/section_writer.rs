//! Writing one HPKG/HPKR section: the section's string table and the attribute tree that follows it,
//! numbers as unsigned LEB128 ([`crate::haiku::leb128`]); `haiku-formats.md` §1.4, Haiku's
//! `WriterImplBase::WriteCachedStrings`, `WriteAttributeValue`, `_WritePackageAttributes`.
//!
//! A section is built in memory as a tree of [`AttrNode`]s, then [`encode_section`] counts string
//! uses, puts every non-empty string used at least twice into the table (most used first) and writes
//! the tree with each integer in its smallest encoding.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::haiku::attributes::{
    AttributeId, AttributeType, Tag, ENCODING_INT_16_BIT, ENCODING_INT_32_BIT, ENCODING_INT_64_BIT,
    ENCODING_INT_8_BIT, ENCODING_RAW_HEAP, ENCODING_RAW_INLINE, ENCODING_STRING_INLINE,
    ENCODING_STRING_TABLE,
};
use crate::haiku::leb128::write_unsigned as write_uleb128;

/// A string goes into the table only if the section uses it at least this often
/// (`WriteCachedStrings(cache, 2)` in `WriterImplBase.cpp`); rarer strings are written inline.
const MIN_STRING_TABLE_USES: u32 = 2;

/// An attribute value, before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// An unsigned integer, written in the smallest of 1/2/4/8 big-endian bytes that holds it.
    Uint(u64),
    /// A string, written from the string table if used often enough, otherwise inline.
    Str(Cow<'a, str>),
    /// Raw bytes written inline (at most `MAX_INLINE_DATA_SIZE` bytes by convention).
    RawInline(Vec<u8>),
    /// Raw bytes stored in the heap: their size and offset in the uncompressed heap.
    RawHeap {
        /// Size in bytes.
        size: u64,
        /// Offset in the uncompressed heap.
        offset: u64,
    },
}

/// One attribute: an ID, a value and its child attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrNode<'a> {
    /// The attribute ID.
    pub id: AttributeId,
    /// The value.
    pub value: AttrValue<'a>,
    /// Child attributes, written after the value and closed by a 0 byte.
    pub children: Vec<AttrNode<'a>>,
}

impl<'a> AttrNode<'a> {
    /// A string attribute without children, borrowing its value (no copy while encoding).
    pub fn string(id: AttributeId, value: &'a str) -> AttrNode<'a> {
        AttrNode {
            id,
            value: AttrValue::Str(Cow::Borrowed(value)),
            children: Vec::new(),
        }
    }

    /// A string attribute without children that owns its value.
    pub fn owned_string(id: AttributeId, value: String) -> AttrNode<'a> {
        AttrNode {
            id,
            value: AttrValue::Str(Cow::Owned(value)),
            children: Vec::new(),
        }
    }

    /// An unsigned-integer attribute without children.
    pub fn uint(id: AttributeId, value: u64) -> AttrNode<'a> {
        AttrNode {
            id,
            value: AttrValue::Uint(value),
            children: Vec::new(),
        }
    }

    /// Adds a child and returns `self`, for building small trees inline.
    pub fn with_child(mut self, child: AttrNode<'a>) -> AttrNode<'a> {
        self.children.push(child);
        self
    }
}

/// An encoded section: the string table and the attribute tree, with the counts headers need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedSection {
    /// The string table: NUL-terminated strings, then one more 0 byte.
    pub strings: Vec<u8>,
    /// Number of strings in the table.
    pub strings_count: u64,
    /// The attribute tree, ending with the top-level list's 0 byte.
    pub attributes: Vec<u8>,
}

impl EncodedSection {
    /// Length of the whole section (string table + attributes) in bytes.
    pub fn len(&self) -> usize {
        self.strings.len() + self.attributes.len()
    }

    /// Whether the section is empty (never true for a written section: both parts end in a 0 byte).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// String → table index.
type Index<'a> = HashMap<Cow<'a, str>, u64, FastHash>;

/// Hash maps keyed by strings we wrote ourselves need no protection against crafted collisions, and
/// SipHash showed up in profiles of 10,000-package repositories; this is the Fx multiply-rotate hash
/// (as in rustc), 8 bytes at a time.
type FastHash = BuildHasherDefault<FxHasher>;

#[derive(Default)]
struct FxHasher(u64);

/// Fx's multiplier (rustc-hash).
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(FX_SEED);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(FX_SEED);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Encodes a section: string table (strings used ≥ 2 times, most used first; ties in first-use
/// order), then the attribute tree.
pub fn encode_section(nodes: &[AttrNode<'_>]) -> EncodedSection {
    let mut counter = StringCounter::default();
    counter.count(nodes);
    let table = counter.into_table();
    let mut attributes = Vec::new();
    table.write_nodes(&mut attributes, nodes);
    attributes.push(0);
    table.into_section(attributes)
}

/// First pass over a section: how often each non-empty string is used and where it first appears.
/// Keys are owned, so a large section can be counted in pieces that are dropped after counting
/// (the repository writer builds one package's tree at a time).
#[derive(Debug, Default)]
pub struct StringCounter<'a> {
    uses: HashMap<Cow<'a, str>, (u32, usize), FastHash>,
}

impl<'a> StringCounter<'a> {
    /// Counts the strings of `nodes` and all their descendants.
    pub fn count(&mut self, nodes: &[AttrNode<'a>]) {
        for node in nodes {
            if let AttrValue::Str(s) = &node.value {
                if !s.is_empty() {
                    // Look up by `&str` first so repeated strings cost no allocation.
                    if let Some(entry) = self.uses.get_mut(s.as_ref()) {
                        entry.0 += 1;
                    } else {
                        let next = self.uses.len();
                        self.uses.insert(s.clone(), (1, next));
                    }
                }
            }
            self.count(&node.children);
        }
    }

    /// The string table: strings used at least twice, most used first, ties in first-use order.
    pub fn into_table(self) -> StringTable<'a> {
        let mut table: Vec<(Cow<'a, str>, u32, usize)> = self
            .uses
            .into_iter()
            .filter(|(_, (count, _))| *count >= MIN_STRING_TABLE_USES)
            .map(|(s, (count, first))| (s, count, first))
            .collect();
        table.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let mut strings = Vec::new();
        let mut index = HashMap::with_capacity_and_hasher(table.len(), FastHash::default());
        for (i, (s, _, _)) in table.into_iter().enumerate() {
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            index.insert(s, i as u64);
        }
        strings.push(0);
        StringTable { strings, index }
    }
}

/// Second pass: the finished string table, used to write attribute entries.
#[derive(Debug)]
pub struct StringTable<'a> {
    strings: Vec<u8>,
    index: HashMap<Cow<'a, str>, u64, FastHash>,
}

impl StringTable<'_> {
    /// Appends `nodes` (with their children and the children's end markers) to `out`; the caller
    /// writes the final 0 that ends the top-level list.
    pub fn write_nodes(&self, out: &mut Vec<u8>, nodes: &[AttrNode<'_>]) {
        for node in nodes {
            write_node(out, node, &self.index);
        }
    }

    /// The section made of this table and the written `attributes` (ending with their 0 byte).
    pub fn into_section(self, attributes: Vec<u8>) -> EncodedSection {
        EncodedSection {
            strings: self.strings,
            strings_count: self.index.len() as u64,
            attributes,
        }
    }
}

fn write_list(out: &mut Vec<u8>, nodes: &[AttrNode<'_>], index: &Index<'_>) {
    for node in nodes {
        write_node(out, node, index);
    }
    out.push(0);
}

fn write_node(out: &mut Vec<u8>, node: &AttrNode<'_>, index: &Index<'_>) {
    let has_children = !node.children.is_empty();
    let tag = |type_: AttributeType, encoding: u8| Tag {
        id: node.id as u8,
        type_: type_ as u8,
        encoding,
        has_children,
    };
    match &node.value {
        AttrValue::Uint(value) => {
            let (encoding, width) = uint_encoding(*value);
            write_uleb128(out, tag(AttributeType::Uint, encoding).compose());
            out.extend_from_slice(&value.to_be_bytes()[8 - width..]);
        }
        AttrValue::Str(s) => match index.get(s.as_ref()) {
            Some(&i) => {
                write_uleb128(out, tag(AttributeType::String, ENCODING_STRING_TABLE).compose());
                write_uleb128(out, i);
            }
            None => {
                write_uleb128(out, tag(AttributeType::String, ENCODING_STRING_INLINE).compose());
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
        },
        AttrValue::RawInline(bytes) => {
            write_uleb128(out, tag(AttributeType::Raw, ENCODING_RAW_INLINE).compose());
            write_uleb128(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        AttrValue::RawHeap { size, offset } => {
            write_uleb128(out, tag(AttributeType::Raw, ENCODING_RAW_HEAP).compose());
            write_uleb128(out, *size);
            write_uleb128(out, *offset);
        }
    }
    if has_children {
        write_list(out, &node.children, index);
    }
}

/// The smallest INT encoding that holds `value`, and its width in bytes
/// (`AttributeValue::ApplicableEncoding`).
fn uint_encoding(value: u64) -> (u8, usize) {
    if value <= u64::from(u8::MAX) {
        (ENCODING_INT_8_BIT, 1)
    } else if value <= u64::from(u16::MAX) {
        (ENCODING_INT_16_BIT, 2)
    } else if value <= u64::from(u32::MAX) {
        (ENCODING_INT_32_BIT, 4)
    } else {
        (ENCODING_INT_64_BIT, 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_used_twice_go_to_the_table_most_used_first() {
        let nodes = vec![
            AttrNode::string(AttributeId::PackageCopyright, "once"),
            AttrNode::string(AttributeId::PackageLicense, "twice"),
            AttrNode::string(AttributeId::PackageLicense, "thrice"),
            AttrNode::string(AttributeId::PackageUrl, "twice"),
            AttrNode::string(AttributeId::PackageUrl, "thrice"),
            AttrNode::string(AttributeId::PackageUrl, "thrice"),
            AttrNode::string(AttributeId::PackageUrl, ""),
            AttrNode::string(AttributeId::PackageUrl, ""),
        ];
        let section = encode_section(&nodes);
        assert_eq!(section.strings, b"thrice\0twice\0\0");
        assert_eq!(section.strings_count, 2);
        // "once" and the empty strings are inline.
        let once_tag = Tag {
            id: AttributeId::PackageCopyright as u8,
            type_: AttributeType::String as u8,
            encoding: ENCODING_STRING_INLINE,
            has_children: false,
        };
        let mut expected = Vec::new();
        write_uleb128(&mut expected, once_tag.compose());
        expected.extend_from_slice(b"once\0");
        assert!(section.attributes.starts_with(&expected));
        assert_eq!(*section.attributes.last().unwrap(), 0);
    }

    #[test]
    fn empty_section_is_two_zero_bytes() {
        let section = encode_section(&[]);
        assert_eq!(section.strings, [0]);
        assert_eq!(section.strings_count, 0);
        assert_eq!(section.attributes, [0]);
    }

    #[test]
    fn integers_use_the_smallest_width() {
        for (value, width) in [(0u64, 1usize), (255, 1), (256, 2), (65_536, 4), (1 << 32, 8)] {
            let section = encode_section(&[AttrNode::uint(AttributeId::PackageFlags, value)]);
            // tag (2 bytes for id 20 | uint type) + value + end-of-list byte
            let mut tag = Vec::new();
            let encoding = uint_encoding(value).0;
            write_uleb128(
                &mut tag,
                Tag {
                    id: 20,
                    type_: 2,
                    encoding,
                    has_children: false,
                }
                .compose(),
            );
            assert_eq!(section.attributes.len(), tag.len() + width + 1, "value {value}");
        }
    }
}
