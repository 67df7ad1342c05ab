//! The first entry line of `debian/changelog`, which is where a Debian source package's name and
//! version live (deb-changelog(5): `package (version) distributions; metadata`). The rest of the file
//! is history that a build does not need; `dpkg-parsechangelog` reads the same line.

use crate::formats::debian::version::Version;

/// The name and version of a source package, as its changelog's newest entry states them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangelogHead {
    /// The source package name (`libgreet`).
    pub source: String,
    /// The version being built (`1.0-1`), parsed so it orders as dpkg orders it.
    pub version: Version,
}

/// Reads the first non-blank line of a changelog. Errors say what is wrong with the line; the caller
/// adds which file it came from.
pub fn parse_head(text: &str) -> Result<ChangelogHead, String> {
    let line = text
        .lines()
        .map(str::trim_end)
        .find(|line| !line.trim().is_empty())
        .ok_or("the changelog is empty")?;
    let (source, rest) = line
        .split_once(' ')
        .ok_or_else(|| format!("first line {line:?} is not 'package (version) distributions; …'"))?;
    let version = rest
        .trim_start()
        .strip_prefix('(')
        .and_then(|rest| rest.split_once(')'))
        .map(|(version, _)| version)
        .ok_or_else(|| format!("first line {line:?} has no '(version)' after the package name"))?;
    if source.is_empty()
        || !source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
    {
        return Err(format!(
            "first line {line:?}: {source:?} is not a source package name"
        ));
    }
    Ok(ChangelogHead {
        source: source.to_owned(),
        version: Version::parse(version)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_and_version_of_the_newest_entry() {
        let head = parse_head(
            "\nhello-greet (1:2.1-1) bookworm; urgency=medium\n\n  * x\n\n -- A <a@b>  Sun, 06 Dec 2026 12:00:00 +0000\n\
             hello-greet (2.0-1) bookworm; urgency=low\n",
        )
        .unwrap();
        assert_eq!(head.source, "hello-greet");
        assert_eq!(head.version, Version::parse("1:2.1-1").unwrap());
    }

    #[test]
    fn refuses_what_dpkg_parsechangelog_refuses() {
        for bad in [
            "",
            "hello",
            "hello 2.0 bookworm",
            "Hello (1.0) x; u=l",
            "hello (x1.0) b; u=l",
            "hello (1.0",
        ] {
            assert!(parse_head(bad).is_err(), "{bad:?} accepted");
        }
    }
}
