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

use super::version::Version;
use crate::formats::chunks::Chunker;
use crate::formats::parallel;
use crate::formats::{DebianSettings, FormatError, IndexedPackage};

/// The architecture whose index holds architecture-independent packages.
pub const ARCH_ALL: &str = "all";

/// One `Packages` index before compression.
#[derive(Debug, PartialEq, Eq)]
pub struct PackagesIndex {
    /// `<component>/binary-<arch>` (relative to `dists/<codename>/`).
    pub dir: String,
    /// The uncompressed `Packages` text — stanzas separated by blank lines — cut into stable chunks
    /// ([`Chunker`]) so that only the chunks a publish changed are compressed again.
    pub chunks: Vec<String>,
}

/// A package on its way into an index.
struct Listed<'a> {
    /// The package.
    package: &'a IndexedPackage,
    /// Its parsed version (the sort key).
    version: Version,
    /// Its index: (component, architecture) as positions in the settings' components and the
    /// index architectures.
    index: (usize, usize),
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
    // Checking and placing each package is independent of the others: spread over the cores.
    let placed = parallel::try_map(packages, |package| place(settings, &arches, package))?;
    let mut grouped: BTreeMap<(usize, usize), Vec<Listed<'_>>> = BTreeMap::new();
    for listed in placed.into_iter().flatten() {
        grouped.entry(listed.index).or_default().push(listed);
    }
    let mut indexes = Vec::new();
    for (c, component) in settings.components.iter().enumerate() {
        for (a, arch) in arches.iter().enumerate() {
            let mut members = grouped.remove(&(c, a)).unwrap_or_default();
            members.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
            let mut chunker = Chunker::new();
            for (n, Listed { package, .. }) in members.into_iter().enumerate() {
                let out = chunker.entry(&package.package.name);
                if n > 0 {
                    out.push('\n');
                }
                push_with_filename(out, &package.package.entry, &package.href);
            }
            indexes.push(PackagesIndex {
                dir: format!("{component}/binary-{arch}"),
                chunks: chunker.finish(),
            });
        }
    }
    Ok(indexes)
}

/// `package` with its parsed version and the index it is listed in; `None` when its architecture is
/// not configured.
fn place<'a>(
    settings: &DebianSettings,
    arches: &[&str],
    package: &'a IndexedPackage,
) -> Result<Option<Listed<'a>>, FormatError> {
    let p = &package.package;
    let Some(arch) = arches.iter().position(|a| *a == p.architecture) else {
        // Linked here under an older configuration: not listed, not an error, so that dropping an
        // architecture from the config does not stop publishing.
        tracing::warn!(
            package = %p.file_name,
            architecture = %p.architecture,
            "package architecture is not configured for this distribution; not listed"
        );
        return Ok(None);
    };
    // The stored entry is the stanza as inspection wrote it (`Stanza::to_text`): used as it is, not
    // parsed again, after checking that it cannot break the index apart.
    check_entry(package)?;
    check_href(package)?;
    let component = component_of(settings, &p.entry);
    let version = Version::parse(&p.version).map_err(|reason| entry_error(package, reason))?;
    Ok(Some(Listed {
        package,
        version,
        index: (component, arch),
    }))
}

/// Appends the entry as it appears in `Packages`: `Filename` placed before `Size`, where
/// dpkg-scanpackages, dak and aptly put it (apt does not care about the order; people reading the
/// file do).
fn push_with_filename(out: &mut String, entry: &str, href: &str) {
    let at = entry.find("\nSize: ").map_or(entry.len(), |at| at + 1);
    out.push_str(&entry[..at]);
    out.push_str("Filename: ");
    out.push_str(href);
    out.push('\n');
    out.push_str(&entry[at..]);
}

/// Which configured component (index into `settings.components`) a package belongs to: the prefix
/// of its `Section` (`contrib/net`), when that component is configured.
fn component_of(settings: &DebianSettings, entry: &str) -> usize {
    entry
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("Section").then_some(value.trim())
        })
        .and_then(|section| section.split_once('/'))
        .and_then(|(prefix, _)| settings.components.iter().position(|c| c == prefix))
        .unwrap_or(0)
}

/// A stored entry must be one stanza as inspection writes it — fields, each line ending in `\n`, no
/// blank or whitespace-only line (apt would read the rest as another package) — and name a `Size`
/// (where `Filename` goes).
fn check_entry(package: &IndexedPackage) -> Result<(), FormatError> {
    let entry = &package.package.entry;
    let problem = if !entry.ends_with('\n') || entry.starts_with([' ', '\t']) {
        Some("not a stanza ending in a newline")
    } else if entry.split_terminator('\n').any(|line| line.trim().is_empty()) {
        Some("a blank line inside the stanza")
    } else if !entry.starts_with("Size: ") && !entry.contains("\nSize: ") {
        Some("no Size field")
    } else {
        None
    };
    match problem {
        Some(reason) => Err(entry_error(package, reason.into())),
        None => Ok(()),
    }
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
