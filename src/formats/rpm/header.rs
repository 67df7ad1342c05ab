//! Reading an `.rpm`'s lead, signature header and main header off the stream, checking every
//! count, offset and length against the bytes actually there before the `rpm` crate sees them:
//! the crate slices its store by header-supplied offsets and multiplies header-supplied counts
//! unchecked (rpm 0.30: `attempt to multiply with overflow` in `Header::parse` on a corrupt
//! signature header), so a damaged or hostile package would otherwise panic the daemon. The checks
//! are rpm's own (`hdrchkRange`, `hdrchkData`, `hdrchkTags` in rpm's lib/header_internal.h).

use std::io::{self, Read};

/// Size of the lead, the obsolete fixed-size preamble (rpm's `struct rpmlead_s`).
pub const LEAD_BYTES: usize = 96;
/// Lead magic.
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// Header magic and version 1 (`rpm_header_magic`).
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// The 16-byte header intro: magic, 4 reserved bytes, entry count, data length (big-endian).
const INTRO_BYTES: usize = 16;
/// One index entry: tag, type, offset, count (big-endian u32 each).
const ENTRY_BYTES: usize = 16;
/// Most index entries a header may have: rpm's `hdrchkTags` refuses counts with any of the top 16
/// bits set.
pub const MAX_ENTRIES: usize = 0xffff;
/// Most data bytes one header may have: rpm's `HEADER_DATA_MAX` (256 MiB − 1). This bounds the
/// memory inspection can be made to allocate.
pub const MAX_DATA_BYTES: usize = 0x0fff_ffff;

/// What went wrong reading the headers.
#[derive(Debug)]
pub enum HeaderError {
    /// The file could not be read (not its content's fault).
    Io(io::Error),
    /// The bytes are not a well-formed package; the reason says where.
    Invalid(String),
}

impl From<io::Error> for HeaderError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Invalid("truncated: the file ends inside its headers".into())
        } else {
            Self::Io(e)
        }
    }
}

/// The raw metadata of a package and where its main header lies in the file.
pub struct RawHeaders {
    /// Lead, signature header (with its padding) and main header, exactly as in the file.
    pub bytes: Vec<u8>,
    /// Offset of the main header (`rpm:header-range start`).
    pub header_start: u64,
    /// Offset just past the main header, where the payload starts (`rpm:header-range end`).
    pub header_end: u64,
}

/// Reads and checks the lead and both headers from `input`, leaving it at the payload.
pub fn read_headers(input: &mut impl Read) -> Result<RawHeaders, HeaderError> {
    let mut bytes = vec![0u8; LEAD_BYTES];
    input.read_exact(&mut bytes)?;
    if bytes[..4] != LEAD_MAGIC {
        return Err(HeaderError::Invalid(
            "no RPM lead magic (ed ab ee db) at the start".into(),
        ));
    }
    let signature_data = read_header(input, &mut bytes, "signature header")?;
    // The signature header's data is padded to a multiple of 8 bytes.
    let padding = (8 - signature_data % 8) % 8;
    let at = bytes.len();
    bytes.resize(at + padding, 0);
    input.read_exact(&mut bytes[at..])?;
    let header_start = bytes.len() as u64;
    read_header(input, &mut bytes, "main header")?;
    let header_end = bytes.len() as u64;
    Ok(RawHeaders {
        bytes,
        header_start,
        header_end,
    })
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Appends one header to `out` after checking it; returns its data length.
fn read_header(input: &mut impl Read, out: &mut Vec<u8>, what: &str) -> Result<usize, HeaderError> {
    let start = out.len();
    out.resize(start + INTRO_BYTES, 0);
    input.read_exact(&mut out[start..])?;
    let intro = &out[start..start + INTRO_BYTES];
    if intro[..4] != HEADER_MAGIC {
        return Err(HeaderError::Invalid(format!(
            "{what} at byte {start}: no header magic (8e ad e8 01)"
        )));
    }
    let (entries, data) = (be32(&intro[8..12]), be32(&intro[12..16]));
    if entries == 0 || entries > MAX_ENTRIES {
        return Err(HeaderError::Invalid(format!(
            "{what}: {entries} index entries (1..={MAX_ENTRIES} allowed)"
        )));
    }
    if data > MAX_DATA_BYTES {
        return Err(HeaderError::Invalid(format!(
            "{what}: {data} data bytes (at most {MAX_DATA_BYTES})"
        )));
    }
    let body = start + INTRO_BYTES;
    out.resize(body + entries * ENTRY_BYTES + data, 0);
    input.read_exact(&mut out[body..])?;
    let (index, store) = out[body..].split_at(entries * ENTRY_BYTES);
    for (i, entry) in index.chunks_exact(ENTRY_BYTES).enumerate() {
        check_entry(entry, store).map_err(|reason| {
            HeaderError::Invalid(format!(
                "{what}: index entry {i} (tag {}): {reason}",
                be32(&entry[0..4])
            ))
        })?;
    }
    Ok(data)
}

/// rpm's `hdrchkRange`/`dataLength` checks: the entry's data lies inside the store.
fn check_entry(entry: &[u8], store: &[u8]) -> Result<(), String> {
    let (kind, offset, count) = (be32(&entry[4..8]), be32(&entry[8..12]), be32(&entry[12..16]));
    if count == 0 || count > MAX_DATA_BYTES {
        return Err(format!("count {count}"));
    }
    if offset > store.len() {
        return Err(format!("offset {offset} past the {} data bytes", store.len()));
    }
    let width = match kind {
        // NULL: no data. Region tags (the header's own trailer) are BIN and checked below.
        0 => return Ok(()),
        1 | 2 | 7 => 1,
        3 => 2,
        4 => 4,
        5 => 8,
        6 | 8 | 9 => {
            if kind == 6 && count != 1 {
                return Err(format!("a STRING with count {count}"));
            }
            // `count` NUL-terminated strings from `offset`, all inside the store.
            let mut rest = &store[offset..];
            for _ in 0..count {
                let nul = rest
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| "a string runs past the data".to_string())?;
                rest = &rest[nul + 1..];
            }
            return Ok(());
        }
        other => return Err(format!("unknown data type {other}")),
    };
    let end = offset
        .checked_add(count.saturating_mul(width))
        .filter(|end| *end <= store.len());
    match end {
        Some(_) => Ok(()),
        None => Err(format!(
            "{count} items of {width} bytes at {offset} run past the {} data bytes",
            store.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entries: &[[u32; 4]], store: &[u8]) -> Vec<u8> {
        let mut v = HEADER_MAGIC.to_vec();
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        v.extend_from_slice(&(store.len() as u32).to_be_bytes());
        for e in entries {
            for x in e {
                v.extend_from_slice(&x.to_be_bytes());
            }
        }
        v.extend_from_slice(store);
        v
    }

    fn package(sig: &[u8], main: &[u8], sig_data: usize) -> Vec<u8> {
        let mut v = LEAD_MAGIC.to_vec();
        v.resize(LEAD_BYTES, 0);
        v.extend_from_slice(sig);
        v.resize(v.len() + (8 - sig_data % 8) % 8, 0);
        v.extend_from_slice(main);
        v
    }

    #[test]
    fn well_formed_headers_are_read_with_their_range() {
        let sig = header(&[[1000, 7, 0, 3]], b"abc");
        let main = header(&[[1000, 6, 0, 1], [1001, 4, 4, 1]], b"foo\0\0\0\0\x07");
        let bytes = package(&sig, &main, 3);
        let mut reader = &bytes[..];
        let raw = read_headers(&mut reader).expect("valid");
        assert_eq!(raw.header_start as usize, LEAD_BYTES + sig.len() + 5);
        assert_eq!(raw.header_end as usize, bytes.len());
        assert_eq!(raw.bytes, bytes);
    }

    #[test]
    fn corrupt_headers_are_refused_with_a_reason() {
        let ok_sig = header(&[[1000, 7, 0, 3]], b"abc");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (package(&header(&[[1000, 4, 2, 1]], b"abc"), &[], 3), "run past"),
            (
                package(&header(&[[1000, 6, 0, 1]], b"abc"), &[], 3),
                "string runs past",
            ),
            (package(&header(&[[1000, 4, 99, 1]], b"abc"), &[], 3), "offset 99"),
            (
                package(&header(&[[1000, 4, 0, u32::MAX]], b"abcd"), &[], 4),
                "count",
            ),
            (
                package(&header(&[[1000, 42, 0, 1]], b"abc"), &[], 3),
                "unknown data type",
            ),
            (
                package(&ok_sig, &header(&[[1000, 3, 0, 2]], b"abc"), 3),
                "main header",
            ),
            (package(&ok_sig, &[], 3), "truncated"),
            (b"not an rpm".repeat(20), "lead magic"),
        ];
        for (bytes, want) in cases {
            let mut reader = &bytes[..];
            match read_headers(&mut reader) {
                Err(HeaderError::Invalid(reason)) => assert!(reason.contains(want), "{reason}"),
                Err(HeaderError::Io(e)) => panic!("io error {e} for {want}"),
                Ok(_) => panic!("accepted a corrupt header ({want})"),
            }
        }
        // A huge entry count is refused before anything is allocated for it.
        let mut huge = package(&ok_sig, &[], 3);
        huge[LEAD_BYTES + 8..LEAD_BYTES + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut reader = &huge[..];
        assert!(
            matches!(read_headers(&mut reader), Err(HeaderError::Invalid(r)) if r.contains("index entries"))
        );
    }
}
