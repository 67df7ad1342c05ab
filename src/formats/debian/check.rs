//! Installability: every `Depends` and `Pre-Depends` clause of every package must be satisfiable by
//! the repository's packages plus the base repositories — by a real package of a fitting version and
//! architecture, or by a `Provides` (versioned provides satisfy versioned dependencies, unversioned
//! ones only unversioned, as in Debian Policy §7.5).
//!
//! This is apt's view of one clause at a time, not a full solver: conflicts and the choice between
//! alternatives are apt's business at install time. Architecture: a package of architecture A is
//! satisfied by A or `all` packages; an `all` package must be satisfiable on every architecture the
//! packages span (any, if they are all `all`). `Multi-Arch` qualifiers (`:any`) are read as the plain
//! name.

use std::collections::{BTreeSet, HashMap};

use super::control::Stanza;
use super::relation::{parse_relations, Relation};
use super::version::Version;
use crate::formats::{FormatError, IndexedPackage, Unresolved};

/// The relationship fields that must be satisfiable for a package to install.
const DEPENDENCY_FIELDS: [&str; 2] = ["Pre-Depends", "Depends"];

/// Something that can satisfy a dependency on a name.
struct Provider {
    /// The real package's version, or a versioned `Provides`' version; `None` for an unversioned
    /// `Provides`, which satisfies only unversioned dependencies.
    version: Option<Version>,
    /// The providing package's architecture.
    architecture: String,
}

/// One package's parsed entry.
struct Parsed<'a> {
    /// The package.
    package: &'a IndexedPackage,
    /// Its stanza.
    stanza: Stanza,
}

/// See the module documentation.
pub fn check(packages: &[IndexedPackage], base: &[IndexedPackage]) -> Result<Vec<Unresolved>, FormatError> {
    let parse = |p: &'_ IndexedPackage| -> Result<Stanza, FormatError> {
        Stanza::parse(&p.package.entry).map_err(|reason| entry_error(p, reason))
    };
    let mut providers: HashMap<String, Vec<Provider>> = HashMap::new();
    let mut ours = Vec::with_capacity(packages.len());
    for (package, is_ours) in packages
        .iter()
        .map(|p| (p, true))
        .chain(base.iter().map(|p| (p, false)))
    {
        let stanza = parse(package)?;
        add_providers(&mut providers, package, &stanza)?;
        if is_ours {
            ours.push(Parsed { package, stanza });
        }
    }
    let mut arches: BTreeSet<Option<&str>> = packages
        .iter()
        .chain(base)
        .map(|p| p.package.architecture.as_str())
        .filter(|a| *a != "all")
        .map(Some)
        .collect();
    if arches.is_empty() {
        arches.insert(None);
    }

    let mut unresolved = Vec::new();
    for Parsed { package, stanza } in &ours {
        let own_arch = package.package.architecture.as_str();
        let needs: Vec<Option<&str>> = if own_arch == "all" {
            arches.iter().copied().collect()
        } else {
            vec![Some(own_arch)]
        };
        for field in DEPENDENCY_FIELDS {
            let Some(value) = stanza.get(field) else { continue };
            for clause_text in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                let clause = parse_relations(clause_text)
                    .map_err(|reason| entry_error(package, format!("{field}: {reason}")))?;
                let alternatives = clause.into_iter().next().unwrap_or_default();
                let satisfied = needs
                    .iter()
                    .all(|need| alternatives.iter().any(|r| satisfies(&providers, r, *need)));
                if !satisfied {
                    unresolved.push(Unresolved {
                        package: identity(package),
                        dependency: clause_text.split_whitespace().collect::<Vec<_>>().join(" "),
                    });
                }
            }
        }
    }
    Ok(unresolved)
}

/// Registers `package` and what it `Provides`.
fn add_providers(
    providers: &mut HashMap<String, Vec<Provider>>,
    package: &IndexedPackage,
    stanza: &Stanza,
) -> Result<(), FormatError> {
    let p = &package.package;
    let version = Version::parse(&p.version).map_err(|reason| entry_error(package, reason))?;
    providers.entry(p.name.clone()).or_default().push(Provider {
        version: Some(version),
        architecture: p.architecture.clone(),
    });
    if let Some(provides) = stanza.get("Provides") {
        let clauses = parse_relations(provides)
            .map_err(|reason| entry_error(package, format!("Provides: {reason}")))?;
        for relation in clauses.into_iter().flatten() {
            let version = match relation.version {
                Some((super::relation::Op::Equal, v)) => Some(v),
                // Policy allows only `=` in Provides; dpkg refuses others, so do we.
                Some(_) => {
                    return Err(entry_error(
                        package,
                        format!("Provides: {} uses an operator other than =", relation.name),
                    ))
                }
                None => None,
            };
            providers.entry(relation.name).or_default().push(Provider {
                version,
                architecture: p.architecture.clone(),
            });
        }
    }
    Ok(())
}

/// Whether some provider satisfies `relation` on architecture `need` (`None`: any).
fn satisfies(providers: &HashMap<String, Vec<Provider>>, relation: &Relation, need: Option<&str>) -> bool {
    let Some(candidates) = providers.get(&relation.name) else {
        return false;
    };
    candidates.iter().any(|c| {
        let arch_ok = c.architecture == "all" || need.is_none_or(|n| n == c.architecture);
        let version_ok = match (&relation.version, &c.version) {
            (None, _) => true,
            (Some((op, wanted)), Some(have)) => op.holds(have, wanted),
            (Some(_), None) => false,
        };
        arch_ok && version_ok
    })
}

/// `name_version_arch`, how [`Unresolved`] names a package.
fn identity(package: &IndexedPackage) -> String {
    let p = &package.package;
    format!("{}_{}_{}", p.name, p.version, p.architecture)
}

/// An unreadable stored entry.
fn entry_error(package: &IndexedPackage, reason: String) -> FormatError {
    FormatError::Entry {
        package: identity(package),
        reason,
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
