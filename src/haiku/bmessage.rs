//! Haiku's flattened `BMessage` (format `HMF1`), the encoding of an HPKR file's repository-info
//! section: encoder and decoder, byte-exact.
//!
//! Layout (`src/build/libbe/app/Message.cpp`, `headers/build/private/app/MessagePrivate.h`; see
//! `haiku-formats.md` §2.1). Everything is **little-endian**, unlike the rest of an HPKR file:
//! - a 68-byte header: format, what, flags, six ids that are always −1, data size, field count,
//!   hash-table size (5), then the hash table (5 × i32, the first field of each chain or −1);
//! - one 24-byte header per field: flags, name length (with NUL), type code, item count, data size
//!   (without the name), offset of the name in the data area, index of the next field in its chain;
//! - the data area: per field, its name with NUL, then its items. Fixed-size items are stored back to
//!   back; variable-size items (strings) each get a u32 length first.
//!
//! A field is appended to the **tail** of its hash chain, so decoding and re-encoding a message keeps
//! every byte.

use thiserror::Error;

/// `MESSAGE_FORMAT_HAIKU` (`MessagePrivate.h`): the bytes `HMF1` read as a little-endian u32.
const MESSAGE_FORMAT_HAIKU: u32 = 0x3146_4d48;
/// `MESSAGE_FLAG_VALID` (`MessagePrivate.h`), the only header flag a freshly flattened message has.
const MESSAGE_FLAG_VALID: u32 = 0x0001;
/// `FIELD_FLAG_VALID` (`MessagePrivate.h`).
const FIELD_FLAG_VALID: u16 = 0x0001;
/// `FIELD_FLAG_FIXED_SIZE` (`MessagePrivate.h`): items have one size and no per-item length.
const FIELD_FLAG_FIXED_SIZE: u16 = 0x0002;
/// Hash buckets: `BMessage::_InitHeader` (`Message.cpp`) starts every message with 5, and a message
/// this small never grows the table.
const HASH_TABLE_SIZE: usize = 5;
/// Bytes of the message header before the hash table: 12 × u32 (`message_header`).
const HEADER_FIXED_SIZE: usize = 12 * 4;
/// Bytes of one field header (`field_header`): u16 + u16 + 5 × u32.
const FIELD_HEADER_SIZE: usize = 24;

/// `B_STRING_TYPE` (`TypeConstants.h`): a NUL-terminated string.
pub const B_STRING_TYPE: u32 = u32::from_be_bytes(*b"CSTR");
/// `B_UINT8_TYPE` (`TypeConstants.h`): what `FindUInt8` accepts.
pub const B_UINT8_TYPE: u32 = u32::from_be_bytes(*b"UBYT");

/// The bytes are not a flattened message this decoder understands.
#[derive(Debug, Error)]
pub enum BMessageError {
    /// The first four bytes are not `HMF1`.
    #[error(
        "not a flattened BMessage (format {0:#010x}, expected HMF1); the repository-info section is damaged"
    )]
    BadFormat(u32),
    /// A header, field header or item points past the end of the bytes.
    #[error("flattened BMessage is truncated or inconsistent: {0}")]
    Truncated(&'static str),
    /// A field name is not valid UTF-8 or lacks its NUL.
    #[error("flattened BMessage has a malformed field name")]
    BadName,
    /// A field is missing or has another type than the caller needs.
    #[error("BMessage field {name:?} is missing or is not of the expected type")]
    MissingField {
        /// The field's name.
        name: String,
    },
}

/// One named field: a type code and its items, each as stored (strings keep their NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field name (without NUL).
    pub name: String,
    /// The four-character type code, e.g. [`B_STRING_TYPE`].
    pub type_code: u32,
    /// Whether all items have one size and are stored without per-item lengths.
    pub fixed_size: bool,
    /// The items' bytes.
    pub items: Vec<Vec<u8>>,
}

/// A message: its `what` code and its fields in insertion order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The message code (0 for archives).
    pub what: u32,
    /// Fields in the order they were added.
    pub fields: Vec<Field>,
}

impl Message {
    /// Appends a string item to field `name`, creating the field (type `CSTR`) if needed.
    pub fn add_string(&mut self, name: &str, value: &str) {
        let mut item = Vec::with_capacity(value.len() + 1);
        item.extend_from_slice(value.as_bytes());
        item.push(0);
        self.field_mut(name, B_STRING_TYPE, false).items.push(item);
    }

    /// Appends a `uint8` item to field `name`, creating the field (type `UBYT`) if needed.
    pub fn add_u8(&mut self, name: &str, value: u8) {
        self.field_mut(name, B_UINT8_TYPE, true).items.push(vec![value]);
    }

    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// All string items of field `name` (empty if there is no such field of type `CSTR`).
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.field(name) {
            Some(f) if f.type_code == B_STRING_TYPE => f.items.iter().map(|i| item_string(i)).collect(),
            _ => Vec::new(),
        }
    }

    /// The first string item of field `name`, like `FindString`.
    pub fn find_string(&self, name: &str) -> Option<String> {
        self.strings(name).into_iter().next()
    }

    /// The first `uint8` item of field `name`, like `FindUInt8` (which rejects other types).
    pub fn find_u8(&self, name: &str) -> Result<u8, BMessageError> {
        match self.field(name) {
            Some(f) if f.type_code == B_UINT8_TYPE && f.items.first().map(Vec::len) == Some(1) => {
                Ok(f.items[0][0])
            }
            _ => Err(BMessageError::MissingField {
                name: name.to_owned(),
            }),
        }
    }

    fn field_mut(&mut self, name: &str, type_code: u32, fixed_size: bool) -> &mut Field {
        let index = match self.fields.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.fields.push(Field {
                    name: name.to_owned(),
                    type_code,
                    fixed_size,
                    items: Vec::new(),
                });
                self.fields.len() - 1
            }
        };
        &mut self.fields[index]
    }

    /// Flattens the message exactly as Haiku's `BMessage::Flatten` does.
    pub fn flatten(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut headers = Vec::with_capacity(self.fields.len() * FIELD_HEADER_SIZE);
        let mut hash_table = [-1i32; HASH_TABLE_SIZE];
        let mut next_field = vec![-1i32; self.fields.len()];
        for (index, field) in self.fields.iter().enumerate() {
            // Append to the tail of the chain: walk from the bucket head to the last field.
            let bucket = (hash_name(&field.name) as usize) % HASH_TABLE_SIZE;
            if hash_table[bucket] < 0 {
                hash_table[bucket] = index as i32;
            } else {
                let mut last = hash_table[bucket] as usize;
                while next_field[last] >= 0 {
                    last = next_field[last] as usize;
                }
                next_field[last] = index as i32;
            }
        }
        for (index, field) in self.fields.iter().enumerate() {
            let offset = data.len();
            data.extend_from_slice(field.name.as_bytes());
            data.push(0);
            let values_start = data.len();
            for item in &field.items {
                if !field.fixed_size {
                    data.extend_from_slice(&(item.len() as u32).to_le_bytes());
                }
                data.extend_from_slice(item);
            }
            let flags = FIELD_FLAG_VALID
                | if field.fixed_size {
                    FIELD_FLAG_FIXED_SIZE
                } else {
                    0
                };
            headers.extend_from_slice(&flags.to_le_bytes());
            headers.extend_from_slice(&((field.name.len() + 1) as u16).to_le_bytes());
            for value in [
                field.type_code,
                field.items.len() as u32,
                (data.len() - values_start) as u32,
                offset as u32,
                next_field[index] as u32,
            ] {
                headers.extend_from_slice(&value.to_le_bytes());
            }
        }
        let mut out =
            Vec::with_capacity(HEADER_FIXED_SIZE + 4 * HASH_TABLE_SIZE + headers.len() + data.len());
        for value in [MESSAGE_FORMAT_HAIKU, self.what, MESSAGE_FLAG_VALID] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        // target, current_specifier, message_area, reply_port, reply_target, reply_team: unset.
        for _ in 0..6 {
            out.extend_from_slice(&(-1i32).to_le_bytes());
        }
        for value in [
            data.len() as u32,
            self.fields.len() as u32,
            HASH_TABLE_SIZE as u32,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for head in hash_table {
            out.extend_from_slice(&head.to_le_bytes());
        }
        out.extend_from_slice(&headers);
        out.extend_from_slice(&data);
        out
    }

    /// Decodes a flattened message; fields come back in their stored order.
    pub fn unflatten(bytes: &[u8]) -> Result<Message, BMessageError> {
        let u32_at = |at: usize| -> Result<u32, BMessageError> {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                .ok_or(BMessageError::Truncated("header"))
        };
        let format = u32_at(0)?;
        if format != MESSAGE_FORMAT_HAIKU {
            return Err(BMessageError::BadFormat(format));
        }
        let what = u32_at(4)?;
        let data_size = u32_at(36)? as usize;
        let field_count = u32_at(40)? as usize;
        let hash_table_size = u32_at(44)? as usize;
        let fields_start = hash_table_size
            .checked_mul(4)
            .and_then(|n| n.checked_add(HEADER_FIXED_SIZE))
            .ok_or(BMessageError::Truncated("hash table size"))?;
        let data_start = field_count
            .checked_mul(FIELD_HEADER_SIZE)
            .and_then(|n| n.checked_add(fields_start))
            .ok_or(BMessageError::Truncated("field count"))?;
        let data = data_start
            .checked_add(data_size)
            .and_then(|end| bytes.get(data_start..end))
            .ok_or(BMessageError::Truncated("data area"))?;
        let mut fields = Vec::with_capacity(field_count.min(1024));
        for index in 0..field_count {
            let at = fields_start + index * FIELD_HEADER_SIZE;
            let header = bytes
                .get(at..at + FIELD_HEADER_SIZE)
                .ok_or(BMessageError::Truncated("field header"))?;
            let word =
                |i: usize| u32::from_le_bytes(header[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes"));
            let flags = u16::from_le_bytes([header[0], header[1]]);
            let name_length = u16::from_le_bytes([header[2], header[3]]) as usize;
            let (type_code, count, size, offset) =
                (word(0), word(1) as usize, word(2) as usize, word(3) as usize);
            let name_bytes = offset
                .checked_add(name_length)
                .and_then(|end| data.get(offset..end))
                .ok_or(BMessageError::Truncated("field name"))?;
            let name = match name_bytes.split_last() {
                Some((0, name)) => std::str::from_utf8(name).map_err(|_| BMessageError::BadName)?,
                _ => return Err(BMessageError::BadName),
            };
            let values_start = offset + name_length;
            let values = values_start
                .checked_add(size)
                .and_then(|end| data.get(values_start..end))
                .ok_or(BMessageError::Truncated("field data"))?;
            let fixed_size = flags & FIELD_FLAG_FIXED_SIZE != 0;
            let items = split_items(values, count, fixed_size)?;
            fields.push(Field {
                name: name.to_owned(),
                type_code,
                fixed_size,
                items,
            });
        }
        Ok(Message { what, fields })
    }
}

/// Splits a field's data into `count` items.
fn split_items(values: &[u8], count: usize, fixed_size: bool) -> Result<Vec<Vec<u8>>, BMessageError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if fixed_size {
        // Items of zero bytes cannot be split (and `chunks(0)` would panic): a field claiming items
        // but holding no data is malformed.
        if values.is_empty() || !values.len().is_multiple_of(count) {
            return Err(BMessageError::Truncated("fixed-size items"));
        }
        return Ok(values.chunks(values.len() / count).map(<[u8]>::to_vec).collect());
    }
    let mut items = Vec::with_capacity(count.min(1024));
    let mut rest = values;
    for _ in 0..count {
        let (length, tail) = rest
            .split_at_checked(4)
            .ok_or(BMessageError::Truncated("item length"))?;
        let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
        let (item, tail) = tail
            .split_at_checked(length)
            .ok_or(BMessageError::Truncated("item"))?;
        items.push(item.to_vec());
        rest = tail;
    }
    Ok(items)
}

/// A string item without its trailing NUL (lossy for non-UTF-8 bytes).
fn item_string(item: &[u8]) -> String {
    let text = item.strip_suffix(&[0]).unwrap_or(item);
    String::from_utf8_lossy(text).into_owned()
}

/// The field-name hash of Haiku's `BMessage` (`_HashName` in `Message.cpp`).
fn hash_name(name: &str) -> u32 {
    let mut result: u32 = 0;
    for &ch in name.as_bytes() {
        result = (result << 7) ^ (result >> 24);
        result ^= u32::from(ch);
    }
    result ^ (result << 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_byte() {
        let mut m = Message::default();
        m.add_string("class", "");
        m.add_string("name", "HaikuPorts");
        m.add_string("url", "tag:x");
        m.add_u8("priority", 1);
        m.add_u8("architecture", 4);
        m.add_string("licenseName", "MIT");
        m.add_string("licenseName", "GPL");
        let flat = m.flatten();
        assert_eq!(&flat[..4], b"HMF1");
        let back = Message::unflatten(&flat).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.flatten(), flat);
        assert_eq!(back.find_u8("priority").unwrap(), 1);
        assert_eq!(back.strings("licenseName"), ["MIT", "GPL"]);
    }

    #[test]
    fn uint8_lookup_rejects_other_types() {
        let mut m = Message::default();
        m.add_string("priority", "1");
        assert!(m.find_u8("priority").is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut m = Message::default();
        m.add_string("name", "x");
        let flat = m.flatten();
        for cut in [0, 10, 70, flat.len() - 1] {
            assert!(Message::unflatten(&flat[..cut]).is_err(), "cut at {cut}");
        }
    }
}
