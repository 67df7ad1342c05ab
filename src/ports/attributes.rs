//! From the attribute values bash printed to a [`Port`]: HaikuPorter's `ConfigParser` and
//! `Port._parseRecipeFile` rules for the attributes the planner needs.
//!
//! - Subpackages are the suffixes of `PROVIDES_<suffix>`; a subpackage inherits `ARCHITECTURES` and
//!   `SECONDARY_ARCHITECTURES` from the base package and defaults `REQUIRES` to empty
//!   (HaikuPorter's `Extendable.INHERITED` / `Extendable.DEFAULT`).
//! - Lists hold one entry per line; `#` starts a comment; entries are lower-cased and a dash in a
//!   name is an error, as in HaikuPorter.
//! - `ARCHITECTURES` words: `arch` stable, `?arch` untested, `!arch` broken; the status on the target
//!   is the exact entry, else `any`'s, else `all`'s, else unsupported. `any` makes the package
//!   architecture-independent. A secondary-architecture port's status is its
//!   `SECONDARY_ARCHITECTURES` entry (HaikuPorter's `getStatusOnSecondaryArchitecture`).

use std::collections::BTreeMap;

use crate::haiku::attributes::ResolvableOperator;
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::haiku::version::Version;
use crate::ports::evaluate::Attributes;
use crate::ports::model::{ArchStatus, Port, PortPackage};
use crate::ports::scan::RecipeFile;

/// Architectures HaikuPorter knows (`RecipeTypes.Architectures`), plus the `all` wildcard.
const KNOWN_ARCHITECTURES: &[&str] = &[
    "x86_gcc2", "x86", "x86_64", "ppc", "arm", "arm64", "m68k", "riscv64", "sparc", "any", "all", "source",
];

/// Architecture → status, as one `ARCHITECTURES` value lists them.
pub type ArchMap = BTreeMap<String, ArchStatus>;

/// Parses an `ARCHITECTURES` / `SECONDARY_ARCHITECTURES` value.
pub fn parse_architectures(key: &str, value: &str) -> Result<ArchMap, String> {
    let mut map = ArchMap::new();
    for word in value.split_whitespace() {
        let word = word.to_lowercase();
        let (status, arch) = match word.as_bytes()[0] {
            b'?' => (ArchStatus::Untested, &word[1..]),
            b'!' => (ArchStatus::Broken, &word[1..]),
            _ => (ArchStatus::Stable, &word[..]),
        };
        if !KNOWN_ARCHITECTURES.contains(&arch) {
            return Err(format!(
                "{key} refers to unknown architecture {arch:?} (known: {})",
                KNOWN_ARCHITECTURES.join(", ")
            ));
        }
        map.insert(arch.to_owned(), status);
    }
    if map.contains_key("any") && map.len() > 1 {
        return Err(format!("{key} specifies both 'any' and other architectures"));
    }
    Ok(map)
}

/// The status on `arch`: the exact entry, else `any`'s, else `all`'s, else unsupported.
pub fn status_on(map: &ArchMap, arch: &str) -> ArchStatus {
    map.get(arch)
        .or_else(|| map.get("any"))
        .or_else(|| map.get("all"))
        .copied()
        .unwrap_or(ArchStatus::Unsupported)
}

/// Whether `SECONDARY_ARCHITECTURES` mentions `arch` at all (with or without `?`/`!`): such a
/// recipe is evaluated a second time for that secondary architecture.
pub fn lists_secondary_arch(attributes: &Attributes, arch: &str) -> bool {
    attributes.get("SECONDARY_ARCHITECTURES").is_some_and(|v| {
        v.split_whitespace()
            .any(|w| w.trim_start_matches(['?', '!']).eq_ignore_ascii_case(arch))
    })
}

/// Splits a list attribute into entries: one per line, `#` comments and blank lines dropped,
/// lower-cased.
fn list_entries(value: &str) -> impl Iterator<Item = String> + '_ {
    value.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        (!line.is_empty()).then(|| line.to_lowercase())
    })
}

/// Splits an entry into words and operator runs (`lib:libfoo>=1.2` → `lib:libfoo`, `>=`, `1.2`).
fn tokens(entry: &str) -> Vec<&str> {
    let is_op = |c: char| matches!(c, '<' | '>' | '=' | '!');
    let mut out = Vec::new();
    for word in entry.split_whitespace() {
        let mut rest = word;
        while !rest.is_empty() {
            let op = rest.starts_with(is_op);
            let end = rest.find(|c: char| is_op(c) != op).unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
    out
}

fn check_name(key: &str, name: &str) -> Result<(), String> {
    if name.contains('-') {
        return Err(format!(
            "{key}: dashes are not allowed in provides or requires names ({name:?})"
        ));
    }
    Ok(())
}

fn version(key: &str, text: &str) -> Result<Version, String> {
    Version::parse(text).ok_or_else(|| format!("{key}: {text:?} is not a valid version"))
}

/// Parses a `PROVIDES` list: `name [= version [compat >= version]]` per line.
pub fn parse_provides(key: &str, value: &str) -> Result<Vec<Provides>, String> {
    list_entries(value)
        .map(|entry| {
            let t = tokens(&entry);
            let bad =
                || format!("{key}: cannot parse {entry:?} (expected `name [= version [compat >= version]]`)");
            check_name(key, t[0])?;
            let mut provides = Provides {
                name: t[0].to_owned(),
                ..Provides::default()
            };
            match t.len() {
                1 => {}
                3 | 6 if t[1] == "=" => {
                    provides.version = Some(version(key, t[2])?);
                    if t.len() == 6 {
                        if t[3] != "compat" || t[4] != ">=" {
                            return Err(bad());
                        }
                        provides.compatible_version = Some(version(key, t[5])?);
                    }
                }
                _ => return Err(bad()),
            }
            Ok(provides)
        })
        .collect()
}

/// Parses a requires-like list (`REQUIRES`, `BUILD_REQUIRES`, `BUILD_PREREQUIRES`):
/// `name [operator version] [base]` per line.
pub fn parse_requires(key: &str, value: &str) -> Result<Vec<ResolvableExpression>, String> {
    list_entries(value)
        .map(|entry| {
            let mut t = tokens(&entry);
            // `base` marks a requirement on a package of the base system; it does not change what
            // satisfies it.
            if t.len() > 1 && t.last() == Some(&"base") {
                t.pop();
            }
            check_name(key, t[0])?;
            let mut expression = ResolvableExpression {
                name: t[0].to_owned(),
                ..Default::default()
            };
            match t.len() {
                1 => {}
                3 => {
                    let op = ResolvableOperator::from_symbol(t[1])
                        .ok_or_else(|| format!("{key}: unknown operator {:?} in {entry:?}", t[1]))?;
                    expression.operator = Some(op);
                    expression.version = Some(version(key, t[2])?);
                }
                _ => {
                    return Err(format!(
                        "{key}: cannot parse {entry:?} (expected `name [operator version]`)"
                    ))
                }
            }
            Ok(expression)
        })
        .collect()
}

/// Builds the port one evaluation describes. `secondary_arch` is the architecture it was
/// evaluated for (`None`: the primary one). Errors name the attribute.
pub fn build_port(
    recipe: &RecipeFile,
    secondary_arch: Option<&str>,
    attributes: &Attributes,
    target_arch: &str,
) -> Result<Port, String> {
    let get = |key: &str| attributes.get(key).map(String::as_str);
    let revision_text = get("REVISION").ok_or("No REVISION found")?.trim();
    let revision: u32 = revision_text
        .parse()
        .map_err(|_| format!("REVISION {revision_text:?} is not a number"))?;
    let base_archs = parse_architectures(
        "ARCHITECTURES",
        get("ARCHITECTURES").ok_or("No ARCHITECTURES found")?,
    )?;
    let base_secondary = parse_architectures(
        "SECONDARY_ARCHITECTURES",
        get("SECONDARY_ARCHITECTURES").unwrap_or(""),
    )?;
    let package_version = version("portVersion", &format!("{}-{revision}", recipe.version))?;
    let port_name = match secondary_arch {
        Some(arch) => format!("{}_{arch}", recipe.name),
        None => recipe.name.clone(),
    };

    // '' first, then the subpackage suffixes in order, as HaikuPorter sorts its extensions.
    let mut extensions = vec![String::new()];
    extensions.extend(
        attributes
            .keys()
            .filter_map(|k| k.strip_prefix("PROVIDES_"))
            .filter(|suffix| !suffix.is_empty())
            .map(str::to_owned),
    );
    let mut packages = Vec::with_capacity(extensions.len());
    for extension in &extensions {
        let key = |base: &str| match extension.is_empty() {
            true => base.to_owned(),
            false => format!("{base}_{extension}"),
        };
        let provides_key = key("PROVIDES");
        let provides = parse_provides(&provides_key, get(&provides_key).ok_or("No PROVIDES found")?)?;
        let requires_key = key("REQUIRES");
        let requires = parse_requires(&requires_key, get(&requires_key).unwrap_or(""))?;
        let archs = match get(&key("ARCHITECTURES")) {
            Some(value) if !extension.is_empty() => parse_architectures(&key("ARCHITECTURES"), value)?,
            _ => base_archs.clone(),
        };
        let status = match secondary_arch {
            Some(arch) => match get(&key("SECONDARY_ARCHITECTURES")) {
                Some(value) if !extension.is_empty() => {
                    parse_architectures(&key("SECONDARY_ARCHITECTURES"), value)?
                        .get(arch)
                        .copied()
                }
                _ => base_secondary.get(arch).copied(),
            }
            .unwrap_or(ArchStatus::Unsupported),
            None => status_on(&archs, target_arch),
        };
        let architecture = if archs.contains_key("any") {
            "any"
        } else {
            target_arch
        };
        packages.push(PortPackage {
            name: match extension.is_empty() {
                true => port_name.clone(),
                false => format!("{port_name}_{extension}"),
            },
            version: package_version.clone(),
            architecture: architecture.to_owned(),
            status,
            provides,
            requires,
        });
    }
    Ok(Port {
        name: recipe.name.clone(),
        version: recipe.version.clone(),
        revision,
        category: recipe.category.clone(),
        recipe_path: recipe.relative.clone(),
        secondary_arch: secondary_arch.map(str::to_owned),
        status: packages[0].status,
        build_requires: parse_requires("BUILD_REQUIRES", get("BUILD_REQUIRES").unwrap_or(""))?,
        build_prerequires: parse_requires("BUILD_PREREQUIRES", get("BUILD_PREREQUIRES").unwrap_or(""))?,
        packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provides_with_compat_and_comments() {
        let list = "\n\tfoo = 1.2.3 compat >= 1\n\tlib:libFoo=1.2 # soname\n# whole line\n\tcmd:foo\n";
        let provides = parse_provides("PROVIDES", list).unwrap();
        assert_eq!(provides.len(), 3);
        assert_eq!(provides[0].compatible_version, Version::parse("1"));
        assert_eq!(provides[1].name, "lib:libfoo");
        assert_eq!(provides[1].version, Version::parse("1.2"));
        assert_eq!(provides[2].version, None);
        assert!(parse_provides("PROVIDES", "foo-bar = 1")
            .unwrap_err()
            .contains("dashes"));
        assert!(parse_provides("PROVIDES", "foo = 1 compat 2").is_err());
    }

    #[test]
    fn requires_with_operators() {
        let requires = parse_requires("REQUIRES", "haiku\nlib:libz >= 1.2\nfoo<2 base\n").unwrap();
        assert_eq!(requires[0].operator, None);
        assert_eq!(requires[1].operator, Some(ResolvableOperator::GreaterEqual));
        assert_eq!(requires[2].operator, Some(ResolvableOperator::Less));
        assert!(parse_requires("REQUIRES", "foo => 1").is_err());
    }

    #[test]
    fn architecture_lookup_order() {
        let map = parse_architectures("ARCHITECTURES", "all !x86_gcc2 ?arm64").unwrap();
        assert_eq!(status_on(&map, "x86_64"), ArchStatus::Stable);
        assert_eq!(status_on(&map, "x86_gcc2"), ArchStatus::Broken);
        assert_eq!(status_on(&map, "arm64"), ArchStatus::Untested);
        let map = parse_architectures("ARCHITECTURES", "x86").unwrap();
        assert_eq!(status_on(&map, "x86_64"), ArchStatus::Unsupported);
        assert!(parse_architectures("ARCHITECTURES", "any x86").is_err());
        assert!(parse_architectures("ARCHITECTURES", "vax").is_err());
    }
}
