//! The `Release` file of a distribution (`dists/<codename>/Release`): what apt trusts first, naming
//! every index with its SHA-256 and size.
//!
//! What apt 2.6 needs, checked against it (docs/formats-debian.md): every index it may fetch listed
//! with its uncompressed name too (apt silently skips an index whose uncompressed `Packages` entry
//! is missing), `Architectures:` including `all` (or `binary-all` is never read), `Acquire-By-Hash:
//! yes` (so apt fetches `by-hash/SHA256/<digest>` and never sees an index newer than its `Release`),
//! and a `Date:` that is not in the future. No `Valid-Until:`: a repository nobody republishes must
//! keep working, and apt treats a missing `Valid-Until` as "no expiry".

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::formats::{DebianSettings, FormatError};

/// One file `Release` names.
pub struct ReleaseEntry {
    /// Path relative to `dists/<codename>/`.
    pub path: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
}

/// The `Release` text for `settings`, dated `now`, naming `entries`.
pub fn release_text(
    settings: &DebianSettings,
    architectures: &[&str],
    entries: &[ReleaseEntry],
    now: SystemTime,
) -> String {
    let mut out = String::new();
    if let Some(origin) = &settings.origin {
        // Origin and Label are what apt pinning (`o=`, `l=`) matches; one setting feeds both.
        let _ = writeln!(out, "Origin: {origin}");
        let _ = writeln!(out, "Label: {origin}");
    }
    let suite = settings.suite.as_deref().unwrap_or(&settings.codename);
    let _ = writeln!(out, "Suite: {suite}");
    let _ = writeln!(out, "Codename: {}", settings.codename);
    let _ = writeln!(out, "Date: {}", rfc2822_utc(now));
    let _ = writeln!(out, "Architectures: {}", architectures.join(" "));
    let _ = writeln!(out, "Components: {}", settings.components.join(" "));
    let _ = writeln!(out, "Acquire-By-Hash: yes");
    let _ = writeln!(out, "SHA256:");
    let width = entries
        .iter()
        .map(|e| e.size.to_string().len())
        .max()
        .unwrap_or(0);
    for entry in entries {
        let _ = writeln!(out, " {} {:>width$} {}", entry.sha256, entry.size, entry.path);
    }
    out
}

/// `Sat, 01 Jan 2026 00:00:00 UTC`: the date form apt parses in `Date:` (RFC 1123/2822, UTC).
pub fn rfc2822_utc(time: SystemTime) -> String {
    // Before 1970 cannot happen on a sane clock; date it at the epoch rather than fail a publish.
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days` (days since 1970-01-01 → year, month 1–12, day 1–31).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Refuses settings that cannot make a distribution apt reads: names that are not single path
/// segments (they become directories under `dists/` and words in `Release`), no architectures.
pub fn check_settings(id: &str, settings: &DebianSettings) -> Result<(), FormatError> {
    let bad = |reason: String| FormatError::Settings {
        id: id.to_owned(),
        reason,
    };
    let word = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if !word(&settings.codename) {
        return Err(bad(format!(
            "codename {:?} must be letters, digits, '.', '_' or '-'",
            settings.codename
        )));
    }
    if let Some(suite) = &settings.suite {
        if suite.is_empty() || suite.chars().any(char::is_whitespace) {
            return Err(bad(format!("suite {suite:?} must be one word")));
        }
    }
    if let Some(origin) = &settings.origin {
        if origin.contains('\n') {
            return Err(bad("origin must be one line".into()));
        }
    }
    if settings.components.is_empty() {
        return Err(bad("no components".into()));
    }
    for component in &settings.components {
        if !component.split('/').all(word) {
            return Err(bad(format!(
                "component {component:?} must be letters, digits, '.', '_' or '-'"
            )));
        }
    }
    if settings.compressions.is_empty() {
        return Err(bad("no compressions (name at least one of gz, xz, none)".into()));
    }
    for (i, compression) in settings.compressions.iter().enumerate() {
        if settings.compressions[..i].contains(compression) {
            return Err(bad(format!(
                "compression {} named twice",
                format!("{compression:?}").to_lowercase()
            )));
        }
    }
    if settings.architectures.is_empty() {
        return Err(bad(
            "no architectures (name at least one, e.g. amd64; 'all' is added)".into(),
        ));
    }
    for arch in &settings.architectures {
        if arch.is_empty()
            || !arch
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(format!(
                "architecture {arch:?} is not a Debian architecture name"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_as_apt_reads_them() {
        assert_eq!(rfc2822_utc(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(rfc2822_utc(t), "Thu, 29 Feb 2024 12:34:56 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799); // 2099-12-31 23:59:59
        assert_eq!(rfc2822_utc(t), "Thu, 31 Dec 2099 23:59:59 UTC");
    }

    #[test]
    fn settings_checked() {
        let mut s = DebianSettings {
            codename: "bookworm".into(),
            suite: None,
            components: vec!["main".into()],
            architectures: vec!["amd64".into()],
            origin: None,
            compressions: vec![crate::formats::DebianCompression::Gz],
        };
        assert!(check_settings("d", &s).is_ok());
        s.codename = "../x".into();
        let err = check_settings("deb-x", &s).unwrap_err();
        assert!(err.to_string().starts_with("repository deb-x: codename"), "{err}");
        s.codename = "bookworm".into();
        s.architectures.clear();
        assert!(check_settings("d", &s).is_err());
    }
}
