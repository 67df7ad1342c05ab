//! `Packages` indexes: which packages go into which `<component>/binary-<arch>/Packages`, and the
//! text of each.
//!
//! `Architecture: all` packages are listed once, in `binary-all`, not repeated in every
//! `binary-<arch>`: apt (≥ 1.2) reads `binary-all` for every configured architecture when `Release`
//! lists `all` in `Architectures:` (see `release.rs`), which keeps an `all` package's bytes in one
//! index instead of one per architecture. The component is taken from the package's `Section`
//! (`contrib/net` → `contrib`, as Debian spells non-main sections) when that component is configured,
//! else the repository's first component.

use std::collections::BTreeMap;

use super::control::Stanza;
use super::version::Version;
use crate::formats::{DebianSettings, FormatError, IndexedPackage};

/// The architecture whose index holds architecture-independent packages.
pub const ARCH_ALL: &str = "all";

/// One `Packages` index before compression.
#[derive(Debug, PartialEq, Eq)]
pub struct PackagesIndex {
    /// `<component>/binary-<arch>` (relative to `dists/<codename>/`).
    pub dir: String,
    /// The uncompressed `Packages` text: stanzas separated by blank lines.
    pub text: String,
}

/// A package on its way into an index.
struct Listed<'a> {
    /// The package.
    package: &'a IndexedPackage,
    /// Its parsed version (the sort key).
    version: Version,
    /// Its entry.
    stanza: Stanza,
}

impl Listed<'_> {
    /// Name, then dpkg version order, then location (two files of one version: stable order).
    fn sort_key(&self) -> (&str, &Version, &str) {
        (&self.package.package.name, &self.version, &self.package.href)
    }
}

/// The architectures with a `binary-<arch>` index: the configured ones, then `all`.
pub fn index_architectures(settings: &DebianSettings) -> Vec<&str> {
    let mut arches: Vec<&str> = Vec::new();
    for arch in settings
        .architectures
        .iter()
        .map(String::as_str)
        .chain([ARCH_ALL])
    {
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    arches
}

/// Every `Packages` index of the distribution — one per component and architecture, empty ones
/// included (a `Release` that names an index apt cannot fetch fails `apt-get update`) — in a stable
/// order, each listing its packages sorted by name, version (dpkg order) and architecture so that
/// unchanged input renders byte-identical output.
pub fn packages_indexes(
    settings: &DebianSettings,
    packages: &[IndexedPackage],
) -> Result<Vec<PackagesIndex>, FormatError> {
    let arches = index_architectures(settings);
    let mut grouped: BTreeMap<(usize, usize), Vec<Listed<'_>>> = BTreeMap::new();
    for package in packages {
        let p = &package.package;
        let Some(arch) = arches.iter().position(|a| *a == p.architecture) else {
            // Linked here under an older configuration: not listed, not an error, so that dropping
            // an architecture from the config does not stop publishing.
            tracing::warn!(
                package = %p.file_name,
                architecture = %p.architecture,
                "package architecture is not configured for this distribution; not listed"
            );
            continue;
        };
        let stanza = Stanza::parse(&p.entry).map_err(|reason| entry_error(package, reason))?;
        check_href(package)?;
        let component = component_of(settings, &stanza);
        let version = Version::parse(&p.version).map_err(|reason| entry_error(package, reason))?;
        grouped.entry((component, arch)).or_default().push(Listed {
            package,
            version,
            stanza,
        });
    }
    let mut indexes = Vec::new();
    for (c, component) in settings.components.iter().enumerate() {
        for (a, arch) in arches.iter().enumerate() {
            let mut members = grouped.remove(&(c, a)).unwrap_or_default();
            members.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
            let mut text = String::new();
            for Listed { package, stanza, .. } in members {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&stanza_with_filename(stanza, &package.href));
            }
            indexes.push(PackagesIndex {
                dir: format!("{component}/binary-{arch}"),
                text,
            });
        }
    }
    Ok(indexes)
}

/// The entry as it appears in `Packages`: `Filename` placed before `Size`, where dpkg-scanpackages,
/// dak and aptly put it (apt does not care about the order; people reading the file do).
fn stanza_with_filename(stanza: Stanza, href: &str) -> String {
    let text = stanza.to_text();
    let filename = format!("Filename: {href}\n");
    match text.find("\nSize: ") {
        Some(at) => format!("{}{filename}{}", &text[..=at], &text[at + 1..]),
        None => format!("{text}{filename}"),
    }
}

/// Which configured component (index into `settings.components`) a package belongs to.
fn component_of(settings: &DebianSettings, stanza: &Stanza) -> usize {
    stanza
        .get("Section")
        .and_then(|section| section.split_once('/'))
        .and_then(|(prefix, _)| settings.components.iter().position(|c| c == prefix))
        .unwrap_or(0)
}

/// A `Filename` must be a relative path on one line: anything else would corrupt the stanza or
/// point apt outside the repository root.
fn check_href(package: &IndexedPackage) -> Result<(), FormatError> {
    let href = &package.href;
    if href.is_empty() || href.starts_with('/') || href.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(entry_error(package, format!("unusable Filename {href:?}")));
    }
    Ok(())
}

/// A stored entry that does not read back.
fn entry_error(package: &IndexedPackage, reason: String) -> FormatError {
    FormatError::Entry {
        package: package.package.file_name.clone(),
        reason,
    }
}
