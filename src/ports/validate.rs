//! HaikuPorter's `Port.validateRecipeFile`: from the entries per extension to the recipe keys of
//! every package — required attributes, inheritance and defaults for subpackages, and the checks
//! that make HaikuPorter call a recipe broken (SUMMARY, DESCRIPTION, COPYRIGHT, LICENSE against the
//! licence files, patch files in `patches/` that PATCHES does not reference).

use std::collections::{BTreeMap, HashSet};

use crate::ports::recipe_keys::{Entries, EntriesByExtension, Extendable, Value, SPECS};

/// What the checks need to know beyond the recipe itself.
#[derive(Clone, Debug, Default)]
pub struct RecipeContext {
    /// `portName` (with `_<arch>` for a secondary-architecture port): SUMMARY may not start with it.
    pub port_name: String,
    /// `name-version` of the recipe file: the stem of the patch files that must be referenced.
    pub versioned_base_name: String,
    /// The architecture the recipe is evaluated for (the secondary one, if any).
    pub effective_arch: String,
    /// Whether the port is in `meta-ports` (no HOMEPAGE/SOURCE_URI needed, no patches checked).
    pub is_meta_port: bool,
    /// Haiku's licence file names; `None`: licence names are not checked (no directory configured).
    pub haiku_licenses: Option<HashSet<String>>,
    /// The file names in the port's `licenses/` directory.
    pub port_licenses: HashSet<String>,
    /// The file names in the port's `patches/` directory.
    pub patch_files: HashSet<String>,
}

/// Attribute name → value, for one package (the extension's own, inherited or default).
pub type RecipeKeys = BTreeMap<&'static str, Value>;

/// Package suffixes whose inherited SUMMARY gets a note (`RecipeAttributes` `suffix`).
fn summary_suffix(extension: &str) -> Option<&'static str> {
    match extension {
        "devel" => Some(" (development files)"),
        "debuginfo" => Some(" (debug info)"),
        "doc" => Some(" (documentation)"),
        "source" => Some(" (source files)"),
        _ => None,
    }
}

/// Validates the entries and returns each extension's recipe keys (main package `""` first).
pub fn validate(
    mut by_extension: EntriesByExtension,
    context: &RecipeContext,
) -> Result<BTreeMap<String, RecipeKeys>, String> {
    if !by_extension.contains_key("") {
        return Err("No base package defined".into());
    }
    let base_has = |key: &str| by_extension[""].contains_key(key);
    if base_has("PACKAGE_NAME") {
        return Err(
            "setting a custom name for the main package isn't supported, please rename the recipe instead."
                .into(),
        );
    }
    if base_has("PACKAGE_VERSION") {
        return Err("setting a custom version for the main package isn't supported, please rename the recipe instead.".into());
    }
    let mut result = BTreeMap::new();
    let mut all_patches: Vec<String> = Vec::new();
    let extensions: Vec<String> = by_extension.keys().cloned().collect();
    for extension in extensions {
        let mut keys = RecipeKeys::new();
        for spec in SPECS {
            let key = match extension.is_empty() {
                true => spec.name.to_owned(),
                false => format!("{}_{extension}", spec.name),
            };
            let entries = &by_extension[&extension];
            if !extension.is_empty() && !entries.contains_key(&key) {
                let value = match spec.extendable {
                    Extendable::Default => Value::default_of(spec),
                    _ => {
                        let base = by_extension[""].get(spec.name).cloned().unwrap_or(Value::Unset);
                        match (spec.name, base, summary_suffix(&extension)) {
                            ("SUMMARY", Value::Text(text), Some(suffix)) => Value::Text(text + suffix),
                            (_, base, _) => base,
                        }
                    }
                };
                keys.insert(spec.name, value);
                continue;
            }
            if !entries.contains_key(&key) {
                let required = spec.required
                    && !(context.is_meta_port && matches!(spec.name, "HOMEPAGE" | "SOURCE_URI"));
                if required {
                    return Err(format!("No {key} found"));
                }
                let default = Value::default_of(spec);
                by_extension
                    .get_mut(&extension)
                    .expect("extension listed")
                    .insert(key.clone(), default);
            }
            let entries = &by_extension[&extension];
            match spec.name {
                "SUMMARY" => check_summary(&key, entries, context)?,
                "DESCRIPTION" => check_description(&key, entries)?,
                "LICENSE" => check_license(&key, entries, context)?,
                "COPYRIGHT" => check_copyright(&key, entries)?,
                "PATCHES" => {
                    if let Some(Value::Indexed(indexes)) = entries.get(&key) {
                        for patches in indexes.values() {
                            all_patches.extend(
                                patches
                                    .list()
                                    .iter()
                                    .filter(|p| !p.trim_matches([' ', '\t']).starts_with('#'))
                                    .cloned(),
                            );
                        }
                    }
                }
                _ => {}
            }
            keys.insert(spec.name, entries[&key].clone());
        }
        result.insert(extension, keys);
    }
    if !context.is_meta_port {
        check_patch_files(&all_patches, context)?;
    }
    Ok(result)
}

/// A patch file in `patches/` named for this version (`name-version[-arch|-gcc4].patchset` …) must be
/// listed in PATCHES.
fn check_patch_files(referenced: &[String], context: &RecipeContext) -> Result<(), String> {
    let compiler = match context.effective_arch.as_str() {
        "x86_gcc2" => "-gcc2",
        _ => "-gcc4",
    };
    let arch_suffix = format!("-{}", context.effective_arch);
    for extension in ["diff", "patch", "patchset"] {
        for suffix in ["", arch_suffix.as_str(), compiler] {
            let file = format!("{}{suffix}.{extension}", context.versioned_base_name);
            if context.patch_files.contains(&file) && !referenced.contains(&file) {
                return Err(format!(
                    "Patch file {file} is not referenced in PATCHES, so it will not be used"
                ));
            }
        }
    }
    Ok(())
}

fn check_summary(key: &str, entries: &Entries, context: &RecipeContext) -> Result<(), String> {
    let summary = match entries.get(key) {
        Some(Value::Text(text)) if !text.is_empty() => text,
        _ => return Err(format!("No {key} found")),
    };
    let problem = if summary.contains('\n') {
        "must be a single line of text"
    } else if summary.to_lowercase().starts_with(&context.port_name) {
        "cannot start with the name of the port"
    } else if summary.chars().next().is_some_and(char::is_lowercase) {
        "must start with a capital letter"
    } else if summary.ends_with('.') {
        "cannot end in \".\""
    } else if summary.matches(' ').count() < 2 {
        "must have at least 3 words"
    } else if summary.chars().count() > 80 {
        "exceeds 80 chars"
    } else {
        return Ok(());
    };
    Err(format!("{key} {problem}"))
}

fn check_description(key: &str, entries: &Entries) -> Result<(), String> {
    let lines = entries.get(key).map(Value::list).unwrap_or_default();
    if lines.is_empty() {
        return Err(format!("No {key} found"));
    }
    if entries.get("SUMMARY").and_then(Value::text) == Some(lines.concat().as_str()) {
        return Err(format!("{key} cannot be the same as SUMMARY"));
    }
    Ok(())
}

fn check_license(key: &str, entries: &Entries, context: &RecipeContext) -> Result<(), String> {
    let licenses = entries.get(key).map(Value::list).unwrap_or_default();
    if licenses.is_empty() {
        return Err(format!("No {key} found"));
    }
    let Some(haiku) = &context.haiku_licenses else {
        return Ok(());
    };
    for license in licenses {
        if !haiku.contains(license) && !context.port_licenses.contains(license) {
            let mut known: Vec<&str> = haiku.iter().map(String::as_str).collect();
            known.sort_unstable();
            return Err(format!(
                "No match found for license {license}\nValid license filenames included with Haiku are:\n{}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

fn check_copyright(key: &str, entries: &Entries) -> Result<(), String> {
    let lines = entries.get(key).map(Value::list).unwrap_or_default();
    if lines.is_empty() {
        return Err(format!("No {key} found"));
    }
    let full = lines.join("\n");
    if full.contains('@') {
        return Err(format!("{key} must not contain e-mail addresses"));
    }
    let lower = full.to_lowercase();
    if lower.contains("copyright") || lower.contains("(c)") || lower.contains('©') {
        return Err(format!("{key} must not contain \"COPYRIGHT\", \"(C)\", or ©"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::recipe_keys::parse_entries;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SUMMARY", "A tool for the tests"),
            ("DESCRIPTION", "Longer text."),
            ("HOMEPAGE", "https://example.org"),
            ("COPYRIGHT", "2024 Someone"),
            ("LICENSE", "MIT"),
            ("REVISION", "1"),
            ("SOURCE_URI", "https://example.org/foo.tar.gz"),
            ("ARCHITECTURES", "all"),
            ("PROVIDES", "foo = 1"),
        ]
    }

    fn run(pairs: &[(&str, &str)], context: &RecipeContext) -> Result<BTreeMap<String, RecipeKeys>, String> {
        let attributes = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        validate(parse_entries(&attributes)?, context)
    }

    fn context() -> RecipeContext {
        RecipeContext {
            port_name: "foo".into(),
            versioned_base_name: "foo-1".into(),
            effective_arch: "x86_64".into(),
            ..RecipeContext::default()
        }
    }

    fn with(change: (&'static str, &'static str)) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != change.0).collect();
        pairs.push(change);
        pairs
    }

    #[test]
    fn subpackages_inherit_or_default() {
        let keys = run(&with(("PROVIDES_devel", "foo_devel = 1")), &context()).unwrap();
        assert_eq!(
            keys["devel"]["SUMMARY"],
            Value::Text("A tool for the tests (development files)".into())
        );
        assert_eq!(keys["devel"]["REQUIRES"], Value::List(Vec::new()));
        assert_eq!(keys["devel"]["ARCHITECTURES"], keys[""]["ARCHITECTURES"]);
    }

    #[test]
    fn haikuporter_refuses_these() {
        let c = context();
        assert!(run(&with(("SUMMARY", "foo is a tool")), &c)
            .unwrap_err()
            .contains("name of the port"));
        assert!(run(&with(("SUMMARY", "Two words")), &c)
            .unwrap_err()
            .contains("3 words"));
        assert!(run(&with(("COPYRIGHT", "(C) 2020 X")), &c)
            .unwrap_err()
            .contains("COPYRIGHT"));
        assert!(run(&with(("DESCRIPTION", "A tool for the tests")), &c).is_err());
        assert!(run(&with(("PACKAGE_NAME", "bar")), &c).is_err());
        let no_license: Vec<_> = base().into_iter().filter(|(k, _)| *k != "LICENSE").collect();
        assert_eq!(run(&no_license, &c).unwrap_err(), "No LICENSE found");
    }

    #[test]
    fn licences_must_be_haikus_or_the_ports_own() {
        let mut c = context();
        c.haiku_licenses = Some(["GNU GPL v2".to_owned()].into());
        assert!(run(&base(), &c)
            .unwrap_err()
            .starts_with("No match found for license MIT"));
        c.port_licenses = ["MIT".to_owned()].into();
        assert!(run(&base(), &c).is_ok());
    }

    #[test]
    fn unreferenced_patchsets_are_refused() {
        let mut c = context();
        c.patch_files = ["foo-1.patchset".to_owned(), "other.patch".to_owned()].into();
        assert!(run(&base(), &c)
            .unwrap_err()
            .contains("foo-1.patchset is not referenced"));
        assert!(run(&with(("PATCHES", "foo-1.patchset")), &c).is_ok());
        assert!(run(&with(("PATCHES", "# foo-1.patchset")), &c).is_err());
    }
}
