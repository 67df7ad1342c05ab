//! From the variables bash printed to a [`Port`], as HaikuPorter's `Port._parseRecipeFile` builds its
//! packages: entries parsed by [`recipe_keys`](crate::ports::recipe_keys), checked by
//! [`validate`](crate::ports::validate), then one package per extension that provides something.
//!
//! - A package is named `portName[_suffix]` (`portBaseName[_suffix]` when it is `any`), unless
//!   `PACKAGE_NAME[_suffix]` names it; `PACKAGE_VERSION_<suffix>` replaces its version.
//! - Its status on the target is its `ARCHITECTURES` entry for the target, else `any`'s (`all`
//!   expands to every machine architecture); on a secondary architecture, its
//!   `SECONDARY_ARCHITECTURES` entry. A package whose `ARCHITECTURES` does not mention the target
//!   at all (and is not `any`) makes the recipe broken, as in HaikuPorter.
//! - Only packages that are buildable (stable, or untested when untested ports are allowed) are the
//!   port's packages; the port's status is the first package's, whether buildable or not.
//! - Requires-like entries lose `#` comments and duplicates; provides are read as HaikuPorter reads
//!   them back from its DependencyInfo files ([`recipe`](crate::haiku::resolvable::recipe)).

use crate::haiku::resolvable::{recipe, Provides, ResolvableExpression};
use crate::haiku::version::Version;
use crate::ports::evaluate::Attributes;
use crate::ports::model::{ArchStatus, Port, PortPackage};
use crate::ports::recipe_keys::{parse_entries, ArchMap, Value};
use crate::ports::scan::RecipeFile;
use crate::ports::validate::{validate, RecipeContext, RecipeKeys};

/// How a port is built from its evaluation, beyond the recipe itself.
#[derive(Clone, Debug)]
pub struct PortSettings {
    /// `targetArchitecture`.
    pub target_arch: String,
    /// Whether untested packages are buildable (HaikuPorter's `ALLOW_UNTESTED`).
    pub allow_untested: bool,
}

/// The status on `arch` of a package with these `ARCHITECTURES` (`Package.getStatusOnArchitecture`).
pub fn status_on(map: &ArchMap, arch: &str) -> ArchStatus {
    match map.get(arch).or_else(|| map.get("any")) {
        Some(status) => *status,
        None if map.contains_key("source") => ArchStatus::Stable,
        None => ArchStatus::Unsupported,
    }
}

/// Parses an `ARCHITECTURES`-style value (see [`recipe_keys::parse_architectures`](crate::ports::recipe_keys::parse_architectures)).
pub fn parse_architectures(key: &str, value: &str) -> Result<ArchMap, String> {
    crate::ports::recipe_keys::parse_architectures(key, value)
}

/// Whether `SECONDARY_ARCHITECTURES` mentions `arch` at all (with or without `?`/`!`): only such a
/// recipe can give a buildable secondary-architecture port, so only it is evaluated a second time.
pub fn lists_secondary_arch(attributes: &Attributes, arch: &str) -> bool {
    attributes
        .iter()
        .filter(|(k, _)| *k == "SECONDARY_ARCHITECTURES" || k.starts_with("SECONDARY_ARCHITECTURES_"))
        .any(|(_, v)| {
            v.split_whitespace()
                .any(|w| w.trim_start_matches(['?', '!']).eq_ignore_ascii_case(arch))
        })
}

/// Requires-like entries as HaikuPorter writes them into DependencyInfo files: `#` comments cut,
/// trimmed, empty and repeated entries dropped.
fn requires_of(key: &str, keys: &RecipeKeys) -> Result<Vec<ResolvableExpression>, String> {
    let mut seen: Vec<&str> = Vec::new();
    for entry in keys.get(key).map(Value::list).unwrap_or_default() {
        let entry = entry.split('#').next().unwrap_or("").trim();
        if !entry.is_empty() && !seen.contains(&entry) {
            seen.push(entry);
        }
    }
    seen.into_iter()
        .map(|entry| recipe::requires(entry).map_err(|e| format!("{key}: {e}")))
        .collect()
}

fn provides_of(keys: &RecipeKeys) -> Result<Vec<Provides>, String> {
    keys.get("PROVIDES")
        .map(Value::list)
        .unwrap_or_default()
        .iter()
        .map(|entry| recipe::provides(entry).map_err(|e| format!("PROVIDES: {e}")))
        .collect()
}

/// Builds the port one evaluation describes. `secondary_arch` is the architecture it was evaluated
/// for (`None`: the primary one). Errors are HaikuPorter's reasons for calling the recipe broken.
pub fn build_port(
    recipe_file: &RecipeFile,
    secondary_arch: Option<&str>,
    attributes: &Attributes,
    context: &RecipeContext,
    settings: &PortSettings,
) -> Result<Port, String> {
    let by_extension = validate(parse_entries(attributes)?, context)?;
    let base = &by_extension[""];
    let revision = match base.get("REVISION") {
        Some(Value::Int(n)) => u32::try_from(*n).map_err(|_| format!("REVISION {n} is out of range"))?,
        _ => return Err("No REVISION found".into()),
    };
    if let Some(Value::Indexed(sources)) = base.get("SOURCE_URI") {
        for (index, uris) in sources {
            if uris.list().is_empty() {
                return Err(match index.as_str() {
                    "1" => "SOURCE_URI is empty".into(),
                    _ => format!("SOURCE_URI_{index} is empty"),
                });
            }
        }
    }
    let target = settings.target_arch.as_str();
    let port_name = match secondary_arch {
        Some(arch) => format!("{}_{arch}", recipe_file.name),
        None => recipe_file.name.clone(),
    };
    let mut first_status = None;
    let mut packages = Vec::new();
    for (extension, keys) in &by_extension {
        let provides = provides_of(keys)?;
        if provides.is_empty() {
            continue; // HaikuPorter creates no package that provides nothing
        }
        let archs = keys
            .get("ARCHITECTURES")
            .map(Value::architectures)
            .unwrap_or_default();
        let secondary = keys
            .get("SECONDARY_ARCHITECTURES")
            .map(Value::architectures)
            .unwrap_or_default();
        let is_any = archs.contains_key("any");
        let mut name = if is_any {
            recipe_file.name.clone()
        } else {
            port_name.clone()
        };
        if !extension.is_empty() {
            name = format!("{name}_{extension}");
        }
        if let Some(custom) = keys
            .get("PACKAGE_NAME")
            .and_then(Value::text)
            .filter(|t| !t.is_empty())
        {
            name = custom.to_owned();
        }
        let version = keys
            .get("PACKAGE_VERSION")
            .and_then(Value::text)
            .filter(|t| !t.is_empty())
            .unwrap_or(&recipe_file.version);
        let is_source = extension == "source";
        let architecture = if is_source {
            "source"
        } else if is_any {
            "any"
        } else if secondary_arch.is_some_and(|a| secondary.contains_key(a)) || archs.contains_key(target) {
            target
        } else {
            return Err(format!(
                "package {name}-{version} cannot be built for architecture {target}"
            ));
        };
        let status = match secondary_arch {
            Some(arch) if !is_any => secondary.get(arch).copied().unwrap_or(ArchStatus::Unsupported),
            _ => status_on(&archs, target),
        };
        first_status.get_or_insert(match (is_any, secondary_arch) {
            (true, Some(_)) => ArchStatus::Unsupported,
            _ => status,
        });
        // Source packages are only made when HaikuPorter is told to (CREATE_SOURCE_PACKAGES, off by
        // default); buildmaster never does.
        let buildable =
            status == ArchStatus::Stable || (status == ArchStatus::Untested && settings.allow_untested);
        if is_source || !buildable {
            continue;
        }
        packages.push(PortPackage {
            version: Version::parse(&format!("{version}-{revision}"))
                .ok_or_else(|| format!("{name}: {version:?} is not a valid package version"))?,
            name,
            architecture: architecture.to_owned(),
            status,
            provides,
            requires: requires_of("REQUIRES", keys)?,
        });
    }
    let status = first_status.ok_or_else(|| "recipe doesn't define any package".to_owned())?;
    Ok(Port {
        name: recipe_file.name.clone(),
        version: recipe_file.version.clone(),
        revision,
        category: recipe_file.category.clone(),
        recipe_path: recipe_file.relative.clone(),
        secondary_arch: secondary_arch.map(str::to_owned),
        status,
        build_requires: requires_of("BUILD_REQUIRES", base)?,
        build_prerequires: requires_of("BUILD_PREREQUIRES", base)?,
        packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lookup_order() {
        let map = parse_architectures("ARCHITECTURES", "all !x86_gcc2 ?arm64").unwrap();
        assert_eq!(status_on(&map, "x86_64"), ArchStatus::Stable);
        assert_eq!(status_on(&map, "x86_gcc2"), ArchStatus::Broken);
        assert_eq!(status_on(&map, "arm64"), ArchStatus::Untested);
        let map = parse_architectures("ARCHITECTURES", "x86").unwrap();
        assert_eq!(status_on(&map, "x86_64"), ArchStatus::Unsupported);
        let map = parse_architectures("ARCHITECTURES", "?any").unwrap();
        assert_eq!(status_on(&map, "x86_64"), ArchStatus::Untested);
    }
}
