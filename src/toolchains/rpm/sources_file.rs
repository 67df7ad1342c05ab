//! Fedora's dist-git `sources` file: one line per source archive kept in the lookaside cache
//! instead of git, `SHA512 (FILE) = HEX` (what `fedpkg new-sources` writes). The master checks the
//! files that are present beside the spec against it; the others are inputs from the source cache.

/// One line of a `sources` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEntry {
    /// The file name (a plain name: no `/`, not hidden).
    pub file_name: String,
    /// Lowercase hex SHA-512 of the file.
    pub sha512: String,
}

/// Hex digits in a SHA-512.
const SHA512_HEX_LEN: usize = 128;

/// Parses a `sources` file; `Err` names the first line that is not `SHA512 (FILE) = HEX` (the old
/// `MD5  FILE` form is refused: MD5 does not pin a file).
pub fn parse_sources(text: &str) -> Result<Vec<SourceEntry>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| parse_line(line).ok_or_else(|| format!("line {line:?} is not `SHA512 (FILE) = HEX`")))
        .collect()
}

fn parse_line(line: &str) -> Option<SourceEntry> {
    let rest = line.trim_end().strip_prefix("SHA512 (")?;
    let (file_name, hex) = rest.rsplit_once(") = ")?;
    let plain = !file_name.is_empty() && !file_name.contains('/') && !file_name.starts_with('.');
    let hex_ok = hex.len() == SHA512_HEX_LEN && hex.bytes().all(|c| c.is_ascii_hexdigit());
    (plain && hex_ok).then(|| SourceEntry {
        file_name: file_name.to_owned(),
        sha512: hex.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fedpkg_lines_and_refuses_others() {
        let hex = "a".repeat(128);
        let entries = parse_sources(&format!("SHA512 (x-1.0.tar.gz) = {hex}\n\n")).unwrap();
        assert_eq!(entries[0].file_name, "x-1.0.tar.gz");
        for bad in [
            format!("{}  x.tar.gz", "a".repeat(32)),
            format!("SHA512 (../x) = {hex}"),
            "SHA512 (x) = abc".to_owned(),
        ] {
            assert!(parse_sources(&bad).is_err(), "{bad:?} accepted");
        }
    }
}
