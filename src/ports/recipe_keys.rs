//! HaikuPorter's recipe attributes (`RecipeAttributes.py`) and how its `ConfigParser` turns what bash
//! printed into typed entries per package extension: which variable belongs to which attribute,
//! extension (`PROVIDES_devel` → `devel`) or source index (`SOURCE_URI_2` → `2`), and each type's
//! rules (lists trimmed and lower-cased for provides/requires, `all` expanding to every machine
//! architecture, integers, yes/no). Anything HaikuPorter refuses here is an error message.

use std::collections::BTreeMap;

use crate::ports::evaluate::Attributes;
use crate::ports::model::ArchStatus;

/// How HaikuPorter reads one attribute's value (`RecipeTypes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string (`bytes`).
    Text,
    /// An integer (`REVISION`).
    Int,
    /// One entry per non-empty line, trimmed.
    List,
    /// A list whose entries are lower-cased and may not have a dash in their first word.
    Resolvables,
    /// Trimmed lines; only leading and trailing empty lines dropped (`DESCRIPTION`).
    LinesOfText,
    /// `PATCH`, `BUILD`, `TEST` or `INSTALL`.
    Phase,
    /// `ARCHITECTURES`-style words.
    Architectures,
    /// `yes`/`no`/`true`/`false`.
    YesNo,
}

/// Whether and how an attribute exists per package (`RecipeTypes.Extendable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extendable {
    /// Per port only.
    No,
    /// Per package; a package without its own value inherits the main package's.
    Inherited,
    /// Per package; a package without its own value gets the default.
    Default,
}

/// One recipe attribute.
#[derive(Debug)]
pub struct Spec {
    /// The variable name (`PROVIDES`).
    pub name: &'static str,
    /// How its value is read.
    pub kind: Kind,
    /// Whether the main package must set it.
    pub required: bool,
    /// Whether packages have their own.
    pub extendable: Extendable,
    /// Whether it is per source (`SOURCE_URI_2`).
    pub indexable: bool,
}

const fn spec(
    name: &'static str,
    kind: Kind,
    required: bool,
    extendable: Extendable,
    indexable: bool,
) -> Spec {
    Spec {
        name,
        kind,
        required,
        extendable,
        indexable,
    }
}

use Extendable::{Default as Dflt, Inherited as Inh, No};
use Kind::*;

/// HaikuPorter's attributes in its order (the order it validates them in).
pub const SPECS: &[Spec] = &[
    spec("ADDITIONAL_FILES", List, false, No, false),
    spec("BUILD_PACKAGE_ACTIVATION_PHASE", Phase, false, No, false),
    spec("BUILD_PREREQUIRES", Resolvables, false, No, false),
    spec("BUILD_REQUIRES", Resolvables, false, No, false),
    spec("DISABLE_SOURCE_PACKAGE", YesNo, false, No, false),
    spec("HOMEPAGE", List, true, No, false),
    spec("MESSAGE", Text, false, No, false),
    spec("REVISION", Int, true, No, false),
    spec("TEST_REQUIRES", Resolvables, false, No, false),
    spec("CHECKSUM_SHA256", Text, false, No, true),
    spec("PATCHES", List, false, No, true),
    spec("SOURCE_DIR", Text, false, No, true),
    spec("SOURCE_FILENAME", Text, false, No, true),
    spec("SOURCE_URI", List, true, No, true),
    spec("ARCHITECTURES", Architectures, true, Inh, false),
    spec("CONFLICTS", Resolvables, false, Dflt, false),
    spec("COPYRIGHT", List, false, Inh, false),
    spec("DESCRIPTION", LinesOfText, true, Inh, false),
    spec("FRESHENS", Resolvables, false, Dflt, false),
    spec("GLOBAL_WRITABLE_FILES", List, false, Dflt, false),
    spec("LICENSE", List, false, Inh, false),
    spec("PACKAGE_GROUPS", List, false, Dflt, false),
    spec("PACKAGE_NAME", Text, false, Dflt, false),
    spec("PACKAGE_USERS", List, false, Dflt, false),
    spec("PACKAGE_VERSION", Text, false, Dflt, false),
    spec("POST_INSTALL_SCRIPTS", List, false, Dflt, false),
    spec("PRE_UNINSTALL_SCRIPTS", List, false, Dflt, false),
    spec("PROVIDES", Resolvables, false, Dflt, false),
    spec("REPLACES", List, false, Dflt, false),
    spec("REQUIRES", Resolvables, false, Dflt, false),
    spec("SECONDARY_ARCHITECTURES", Architectures, false, Inh, false),
    spec("SUMMARY", Text, true, Inh, false),
    spec("SUPPLEMENTS", Resolvables, false, Dflt, false),
    spec("USER_SETTINGS_FILES", List, false, Dflt, false),
];

/// The attribute called `name`.
pub fn spec_of(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// The real machine architectures `all` stands for (`MachineArchitecture.getAll`).
pub const MACHINE_ARCHITECTURES: &[&str] = &[
    "arm", "arm64", "m68k", "ppc", "ppc64", "riscv64", "sparc", "x86", "x86_64", "x86_gcc2",
];

/// Architecture → status, as one `ARCHITECTURES` value lists them.
pub type ArchMap = BTreeMap<String, ArchStatus>;

/// One attribute's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// No value and no default (HaikuPorter's `None`).
    Unset,
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A list of entries (also lines of text).
    List(Vec<String>),
    /// Architecture statuses.
    Architectures(ArchMap),
    /// A yes/no value.
    Bool(bool),
    /// Per source index (`"1"`, `"2"`, …).
    Indexed(BTreeMap<String, Value>),
}

impl Value {
    /// The default of an attribute that is not set.
    pub fn default_of(spec: &Spec) -> Value {
        if spec.indexable {
            return Value::Indexed(BTreeMap::new());
        }
        match (spec.name, spec.kind) {
            ("REVISION", _) => Value::Int(1),
            ("BUILD_PACKAGE_ACTIVATION_PHASE", _) => Value::Text("BUILD".into()),
            ("DISABLE_SOURCE_PACKAGE", _) => Value::Bool(false),
            ("SECONDARY_ARCHITECTURES", _) => Value::Architectures(ArchMap::new()),
            (_, List | Resolvables) => Value::List(Vec::new()),
            _ => Value::Unset,
        }
    }

    /// The entries of a list value (empty for anything else).
    pub fn list(&self) -> &[String] {
        match self {
            Value::List(entries) => entries,
            _ => &[],
        }
    }

    /// The text of a string value.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The map of an architectures value (empty for anything else).
    pub fn architectures(&self) -> ArchMap {
        match self {
            Value::Architectures(map) => map.clone(),
            _ => ArchMap::new(),
        }
    }
}

/// Attribute name → value, for one extension.
pub type Entries = BTreeMap<String, Value>;

/// Extension (`""` for the main package) → its entries, keyed as HaikuPorter keys them: the full
/// variable name (`PROVIDES_devel`), or the attribute name for per-source values.
pub type EntriesByExtension = BTreeMap<String, Entries>;

/// Where a variable belongs.
enum Route {
    /// Attribute, extension, source index.
    Key(&'static Spec, String, String),
    /// Not an attribute HaikuPorter reads (it warns and ignores it).
    Ignored,
}

/// `ConfigParser`'s key routing: the variable itself, else its `_`-separated prefixes, shortest first.
fn route(key: &str) -> Route {
    if let Some(spec) = spec_of(key) {
        return Route::Key(spec, String::new(), "1".into());
    }
    let parts: Vec<&str> = key.split('_').collect();
    for taken in 1..=parts.len() {
        let Some(spec) = spec_of(&parts[..taken].join("_")) else {
            continue;
        };
        let rest = &parts[taken..];
        if spec.extendable != Extendable::No {
            return Route::Key(spec, rest.join("_"), "1".into());
        }
        if spec.indexable {
            match rest {
                [] => return Route::Key(spec, String::new(), "1".into()),
                [index] if !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()) => {
                    return Route::Key(spec, String::new(), (*index).to_owned())
                }
                _ => {}
            }
        }
    }
    Route::Ignored
}

/// Whether `name` is a variable HaikuPorter collects: `^(KEY)(_[0-9a-zA-Z_]+)?$`.
fn is_collected(name: &str) -> bool {
    SPECS.iter().any(|spec| {
        name.strip_prefix(spec.name).is_some_and(|rest| {
            rest.is_empty()
                || rest.strip_prefix('_').is_some_and(|r| {
                    !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        })
    })
}

/// Python's `str.splitlines` boundaries (the ones a value can still hold after bash escaped `\n`).
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// The `key=value` lines HaikuPorter's evaluator script prints for these variables (in `set`'s
/// order, newlines escaped as `\n`), split as Python's `splitlines` splits them.
fn output_lines(attributes: &Attributes) -> Vec<String> {
    let mut output = String::new();
    for (key, value) in attributes.iter().filter(|(k, _)| is_collected(k)) {
        output.push_str(key);
        output.push('=');
        output.push_str(&value.replace('\n', "\\n"));
        output.push('\n');
    }
    let mut lines = Vec::new();
    let mut rest = output.as_str();
    while !rest.is_empty() {
        let end = rest.find(is_line_break).unwrap_or(rest.len());
        lines.push(rest[..end].to_owned());
        rest = &rest[end..];
        if rest.starts_with("\r\n") {
            rest = &rest[2..];
        } else if let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
        }
    }
    lines
}

/// Reads what bash printed into entries per extension, as `ConfigParser.__init__` does.
pub fn parse_entries(attributes: &Attributes) -> Result<EntriesByExtension, String> {
    let mut by_extension = EntriesByExtension::new();
    for line in output_lines(attributes) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "evaluating the recipe produced the illegal key-values line {line:?} (expected <key>=<value>)"
            ));
        };
        let Route::Key(spec, extension, index) = route(key) else {
            continue;
        };
        let value = parse_value(spec, key, &value.replace("\\n", "\n"))?;
        let entries = by_extension.entry(extension).or_default();
        if spec.indexable {
            let slot = entries
                .entry(spec.name.to_owned())
                .or_insert_with(|| Value::Indexed(BTreeMap::new()));
            if let Value::Indexed(map) = slot {
                map.insert(index, value);
            }
        } else {
            entries.insert(key.to_owned(), value);
        }
    }
    Ok(by_extension)
}

/// One value by its attribute's kind.
fn parse_value(spec: &Spec, key: &str, text: &str) -> Result<Value, String> {
    let lines = || text.lines().map(str::trim).filter(|l| !l.is_empty());
    Ok(match spec.kind {
        Text => Value::Text(text.to_owned()),
        Int => {
            Value::Int(parse_int(text).ok_or_else(|| {
                format!("illegal value {text:?} for key {key}, expected an <integer> value")
            })?)
        }
        List => Value::List(lines().map(str::to_owned).collect()),
        Resolvables => {
            let entries: Vec<String> = lines().map(str::to_lowercase).collect();
            if let Some(bad) = entries
                .iter()
                .find(|e| e.split_whitespace().next().is_some_and(|w| w.contains('-')))
            {
                return Err(format!(
                    "illegal value {bad:?} for key {key}: dashes are not allowed in provides- or requires declarations"
                ));
            }
            Value::List(entries)
        }
        LinesOfText => {
            let mut entries: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
            while entries.last().is_some_and(String::is_empty) {
                entries.pop();
            }
            let leading = entries.iter().take_while(|l| l.is_empty()).count();
            Value::List(entries.split_off(leading))
        }
        Phase => {
            let upper = text.to_uppercase();
            if !["PATCH", "BUILD", "TEST", "INSTALL"].contains(&upper.as_str()) {
                return Err(format!(
                    "illegal value {text:?} for key {key}, expected one of: PATCH,BUILD,TEST,INSTALL"
                ));
            }
            Value::Text(upper)
        }
        Architectures => Value::Architectures(parse_architectures(key, text)?),
        YesNo => match text.to_lowercase().as_str() {
            "yes" | "true" => Value::Bool(true),
            "no" | "false" => Value::Bool(false),
            _ => return Err(format!("value for {key} should be 'yes' or 'no'")),
        },
    })
}

/// Python's `int()` on a string: surrounding whitespace, an optional sign, digits (with single `_`
/// between them).
fn parse_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let value: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -value } else { value })
}

/// An `ARCHITECTURES`-style value: `arch` stable, `?arch` untested, `!arch` broken; `all` (only
/// first) sets every machine architecture; `any` and `source` stand alone.
pub fn parse_architectures(key: &str, text: &str) -> Result<ArchMap, String> {
    let mut map = ArchMap::new();
    for word in text.split_whitespace() {
        let word = word.to_lowercase();
        let (status, arch) = match word.as_bytes()[0] {
            b'?' => (ArchStatus::Untested, &word[1..]),
            b'!' => (ArchStatus::Broken, &word[1..]),
            _ => (ArchStatus::Stable, &word[..]),
        };
        if arch == "all" {
            if !map.is_empty() {
                return Err(format!("{key} specifies 'all' after other architectures"));
            }
            for machine in MACHINE_ARCHITECTURES {
                map.insert((*machine).to_owned(), status);
            }
        } else if MACHINE_ARCHITECTURES.contains(&arch) || arch == "any" || arch == "source" {
            map.insert(arch.to_owned(), status);
        } else {
            return Err(format!(
                "{key} refers to unknown architecture {arch:?} (known: {}, any, source)",
                MACHINE_ARCHITECTURES.join(", ")
            ));
        }
    }
    for alone in ["any", "source"] {
        if map.contains_key(alone) && map.len() > 1 {
            return Err(format!("{key} specifies both '{alone}' and other architectures"));
        }
    }
    Ok(map)
}

/// Name prefixes that together cover every attribute: the evaluator lists the variables starting with
/// each (one bash expansion per prefix, the cost that counts) and [`parse_entries`] keeps the exact
/// ones. Short prefixes only where few of bash's own variables share them.
const COLLECT_PREFIXES: &[&str] = &[
    "A",
    "BUILD_",
    "C",
    "D",
    "F",
    "G",
    "HOMEPAGE",
    "LICENSE",
    "MESSAGE",
    "P",
    "RE",
    "S",
    "TEST_REQUIRES",
    "USER_SETTINGS_FILES",
];

/// ConfigParser's `supportedKeysPattern`: the attribute names joined by `|`, which recipes can see.
pub fn supported_keys_pattern() -> String {
    SPECS.iter().map(|s| s.name).collect::<Vec<_>>().join("|")
}

/// The variable-name prefixes, space-separated, for the evaluator script (`BM_KEYS`).
pub fn key_names() -> String {
    COLLECT_PREFIXES.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_collected_prefixes_cover_every_attribute() {
        for spec in SPECS {
            assert!(
                COLLECT_PREFIXES.iter().any(|p| spec.name.starts_with(p)),
                "{} is not collected",
                spec.name
            );
        }
    }

    #[test]
    fn keys_route_to_extensions_and_indexes() {
        let parsed = parse_entries(&attrs(&[
            ("PROVIDES_python314", "Foo = 1\n\n  cmd:foo "),
            ("SOURCE_URI_2", "https://b"),
            ("SOURCE_URI", "https://a"),
            ("SOURCE_DIR_x", "ignored"),
            ("REVISION", " 3 "),
            ("PROVIDESX", "not collected"),
        ]))
        .unwrap();
        assert_eq!(
            parsed["python314"]["PROVIDES_python314"].list(),
            ["foo = 1", "cmd:foo"]
        );
        let Value::Indexed(uris) = &parsed[""]["SOURCE_URI"] else {
            panic!()
        };
        assert_eq!(uris.keys().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(parsed[""]["REVISION"], Value::Int(3));
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn a_literal_backslash_n_is_a_line_break_and_cr_splits_lines() {
        let parsed = parse_entries(&attrs(&[("REQUIRES", "haiku\\nlib:libz")])).unwrap();
        assert_eq!(parsed[""]["REQUIRES"].list(), ["haiku", "lib:libz"]);
        // A carriage return ends HaikuPorter's output line; what follows is no `key=value`.
        assert!(parse_entries(&attrs(&[("SUMMARY", "A summary\rmore")])).is_err());
    }

    #[test]
    fn architectures_expand_all_and_refuse_mixtures() {
        let map = parse_architectures("A", "all !x86_gcc2 ?arm64").unwrap();
        assert_eq!(map["x86_64"], ArchStatus::Stable);
        assert_eq!(map["x86_gcc2"], ArchStatus::Broken);
        assert_eq!(map["arm64"], ArchStatus::Untested);
        assert!(parse_architectures("A", "x86 all").is_err());
        assert!(parse_architectures("A", "any x86").is_err());
        assert!(parse_architectures("A", "vax").is_err());
    }

    #[test]
    fn dashes_in_resolvable_names_and_bad_integers_are_refused() {
        assert!(parse_entries(&attrs(&[("PROVIDES", "foo-bar = 1")])).is_err());
        assert!(parse_entries(&attrs(&[("REQUIRES", "foo >= 1-2")])).is_ok());
        assert!(parse_entries(&attrs(&[("REVISION", "1a")])).is_err());
        assert_eq!(parse_int("+1_0"), Some(10));
    }
}
