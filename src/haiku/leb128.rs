//! Unsigned LEB128, the variable-length integer used for tags, sizes, indices and offsets inside
//! HPKG/HPKR sections: 7 bits per byte, least-significant group first, 0x80 = more bytes follow
//! (`ReaderImplBase::ReadUnsignedLEB128`, `WriterImplBase::WriteUnsignedLEB128`).

/// Longest encoding of a u64: ceil(64 / 7) bytes.
pub const MAX_LEB128_BYTES: usize = 10;

/// Why a LEB128 number could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leb128Error {
    /// The input ended while the continuation bit was set.
    Truncated,
    /// The number needs more than 64 bits. (Haiku's reader silently shifts bits away; rejecting is
    /// safer and no conforming writer produces such numbers.)
    Overflow,
}

/// Decodes the number starting at `*pos` in `bytes` and advances `*pos` past it.
pub fn read_unsigned(bytes: &[u8], pos: &mut usize) -> Result<u64, Leb128Error> {
    let mut result = 0u64;
    let mut shift = 0u32;
    let mut at = *pos;
    loop {
        let byte = *bytes.get(at).ok_or(Leb128Error::Truncated)?;
        at += 1;
        let group = u64::from(byte & 0x7f);
        if shift >= 64 || (shift == 63 && group > 1) {
            if group != 0 {
                return Err(Leb128Error::Overflow);
            }
            // Zero groups past bit 63 (redundant padding) add nothing but still cannot run forever.
            if at - *pos > MAX_LEB128_BYTES {
                return Err(Leb128Error::Overflow);
            }
        } else {
            result |= group << shift;
        }
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    *pos = at;
    Ok(result)
}

/// Appends the encoding of `value` to `out`.
pub fn write_unsigned(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(u64, usize), Leb128Error> {
        let mut pos = 0;
        read_unsigned(bytes, &mut pos).map(|v| (v, pos))
    }

    #[test]
    fn decodes_known_values() {
        assert_eq!(decode(&[0x00]), Ok((0, 1)));
        assert_eq!(decode(&[0x7f]), Ok((127, 1)));
        assert_eq!(decode(&[0x80, 0x01]), Ok((128, 2)));
        assert_eq!(decode(&[0xe5, 0x8e, 0x26]), Ok((624_485, 3)));
        assert_eq!(decode(&[0x90, 0x13, 0xff]), Ok((0x990, 2)));
    }

    #[test]
    fn round_trips_edge_values() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_unsigned(&mut out, value);
            assert!(out.len() <= MAX_LEB128_BYTES);
            assert_eq!(decode(&out), Ok((value, out.len())));
        }
    }

    #[test]
    fn rejects_truncation_and_overflow() {
        assert_eq!(decode(&[]), Err(Leb128Error::Truncated));
        assert_eq!(decode(&[0x80, 0x80]), Err(Leb128Error::Truncated));
        // 2^64 needs 65 bits.
        let mut too_big = vec![0x80; 9];
        too_big.push(0x02);
        assert_eq!(decode(&too_big), Err(Leb128Error::Overflow));
        // Endless continuation bytes are cut off, not looped over.
        assert_eq!(decode(&[0x80; 64]), Err(Leb128Error::Overflow));
    }

    #[test]
    fn position_advances_only_on_success() {
        let bytes = [0x05, 0x80];
        let mut pos = 0;
        assert_eq!(read_unsigned(&bytes, &mut pos), Ok(5));
        assert_eq!(pos, 1);
        assert_eq!(read_unsigned(&bytes, &mut pos), Err(Leb128Error::Truncated));
        assert_eq!(pos, 1);
    }
}
