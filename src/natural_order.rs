//! Natural ordering of strings (Haiku's `BPrivate::NaturalCompare`, `src/kits/shared/NaturalCompare.cpp`):
//! runs of digits compare as numbers, everything else case-insensitively, so `hrev9` sorts before
//! `hrev10`. Haiku versions are ordered by it ([`crate::haiku::version`]); it is also the order of
//! anything numbered people read in sequence (a recipe's `SOURCE_URI_2` after `SOURCE_URI`, a
//! manifest's sources), which is why it lives outside the Haiku module.

use std::cmp::Ordering;

/// What kind of chunk `NaturalCompare` sees next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChunkKind {
    /// End of the string.
    End,
    /// A run of digits (leading zeros and surrounding white space are skipped).
    Number,
    /// A run of anything else, up to the next digit or white space.
    Text,
}

/// C's `isspace` in the "C" locale.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn chunk_kind(rest: &[u8]) -> ChunkKind {
    match rest.first() {
        None | Some(0) => ChunkKind::End,
        Some(&b) if b.is_ascii_digit() || is_space(b) => ChunkKind::Number,
        Some(_) => ChunkKind::Text,
    }
}

/// Takes the next chunk of `kind` from `rest`: returns the chunk's significant bytes and how many
/// bytes it consumed (always at least one, so the comparison loop makes progress).
fn fetch_chunk(rest: &[u8], kind: ChunkKind) -> (&[u8], usize) {
    if kind == ChunkKind::Text {
        let len = rest
            .iter()
            .position(|&b| b.is_ascii_digit() || is_space(b) || b == 0)
            .unwrap_or(rest.len());
        return (&rest[..len], len);
    }
    // Leading zeros and white space (in any mix) are not significant.
    let skip = rest
        .iter()
        .position(|&b| b != b'0' && !is_space(b))
        .unwrap_or(rest.len());
    let digits = &rest[skip..];
    let len = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let trailing = digits[len..]
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(digits.len() - len);
    (&digits[..len], skip + len + trailing)
}

/// `strcasecmp` (ASCII case folding), reduced to an ordering.
fn case_insensitive_compare(a: &[u8], b: &[u8]) -> Ordering {
    let a = a.iter().take_while(|&&c| c != 0).map(u8::to_ascii_lowercase);
    let b = b.iter().take_while(|&&c| c != 0).map(u8::to_ascii_lowercase);
    a.cmp(b)
}

/// Haiku's `BPrivate::NaturalCompare`: runs of digits compare as numbers (ignoring leading zeros, of
/// any length), other runs compare case-insensitively; when one string has a number where the other
/// has text, the remainders compare case-insensitively.
pub fn natural_compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut index_a, mut index_b) = (0usize, 0usize);
    loop {
        let (rest_a, rest_b) = (&a[index_a..], &b[index_b..]);
        let (kind_a, kind_b) = (chunk_kind(rest_a), chunk_kind(rest_b));
        match (kind_a, kind_b) {
            (ChunkKind::End, ChunkKind::End) => return Ordering::Equal,
            (ChunkKind::End, _) => return Ordering::Less,
            (_, ChunkKind::End) => return Ordering::Greater,
            _ if kind_a != kind_b => return case_insensitive_compare(rest_a, rest_b),
            _ => {}
        }
        let (chunk_a, used_a) = fetch_chunk(rest_a, kind_a);
        let (chunk_b, used_b) = fetch_chunk(rest_b, kind_b);
        index_a += used_a;
        index_b += used_b;
        let order = if kind_a == ChunkKind::Text {
            case_insensitive_compare(chunk_a, chunk_b)
        } else {
            // Numbers compare as digit strings so any length works: longer is larger, then bytewise.
            chunk_a
                .len()
                .cmp(&chunk_b.len())
                .then_with(|| chunk_a.cmp(chunk_b))
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_compare_orders_numbers_numerically() {
        assert_eq!(natural_compare("9", "10"), Ordering::Less);
        assert_eq!(natural_compare("010", "10"), Ordering::Equal);
        assert_eq!(natural_compare("1a", "1B"), Ordering::Less);
        assert_eq!(natural_compare("abc", "ABC"), Ordering::Equal);
        assert_eq!(natural_compare("", "0"), Ordering::Less);
        assert_eq!(natural_compare("a", "1"), Ordering::Greater);
        assert_eq!(natural_compare("2017_08_05", "2017_8_5"), Ordering::Equal);
        assert_eq!(
            natural_compare("99999999999999999999", "100000000000000000000"),
            Ordering::Less
        );
        assert_eq!(natural_compare("r1", "r1"), Ordering::Equal);
        assert_eq!(natural_compare("hrev9", "hrev10"), Ordering::Less);
    }
}
