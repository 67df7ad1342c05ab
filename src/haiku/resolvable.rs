//! Resolvables and resolvable expressions: what a package provides (`BPackageResolvable`) and what it
//! requires, supplements, conflicts with or freshens (`BPackageResolvableExpression`), with Haiku's
//! matching rule, including compatible versions.
//!
//! Facts: Haiku's `src/kits/package/PackageResolvable.cpp`, `PackageResolvableExpression.cpp`.

use std::cmp::Ordering;
use std::fmt;

use crate::haiku::attributes::ResolvableOperator;
use crate::haiku::version::Version;

/// Something a package provides (`package:provides` and its children).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Provides {
    /// The resolvable's name, e.g. `lib:libfoo` or `cmd:bash`.
    pub name: String,
    /// The provided version, if any.
    pub version: Option<Version>,
    /// The oldest version this one is backwards compatible with (`provides.compatible`), if any.
    pub compatible_version: Option<Version>,
}

/// A requirement-like expression: `name [operator version]` (`package:requires`, `supplements`,
/// `conflicts`, `freshens`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct ResolvableExpression {
    /// The resolvable's name.
    pub name: String,
    /// The comparison operator; `None` when the file gives none (no version constraint).
    pub operator: Option<ResolvableOperator>,
    /// The version compared against; `None` means "any version".
    pub version: Option<Version>,
    /// A recipe's `base` flag (`haiku >= r1 base`): HaikuPorter's resolver lets only a port of the
    /// tree, never an already built package, satisfy it (`ProvidesManager.getMatchingProvides`).
    /// Always false in package files, which have no such flag.
    #[serde(default)]
    pub base: bool,
}

/// A version that is present and set, as Haiku's `InitCheck() == B_OK`.
fn set_version(version: &Option<Version>) -> Option<&Version> {
    version.as_ref().filter(|v| v.is_set())
}

impl ResolvableExpression {
    /// Whether a provided `version` (with its `compatible` version) satisfies this expression
    /// (`BPackageResolvableExpression::Matches(version, compatibleVersion)`):
    /// - no required version: always matches;
    /// - no provided version: never matches;
    /// - otherwise the operator must hold for `provided <op> required`, and then either the provided
    ///   version has no compatible version and equals the required one exactly, or the required
    ///   version lies within `[compatible, provided]`.
    pub fn matches_version(&self, version: Option<&Version>, compatible: Option<&Version>) -> bool {
        let Some(required) = set_version(&self.version) else {
            return true;
        };
        let Some(provided) = version.filter(|v| v.is_set()) else {
            return false;
        };
        let compare = provided.compare(required);
        let holds = match self.operator {
            Some(ResolvableOperator::Less) => compare == Ordering::Less,
            Some(ResolvableOperator::LessEqual) => compare != Ordering::Greater,
            Some(ResolvableOperator::Equal) => compare == Ordering::Equal,
            Some(ResolvableOperator::NotEqual) => compare != Ordering::Equal,
            Some(ResolvableOperator::GreaterEqual) => compare != Ordering::Less,
            Some(ResolvableOperator::Greater) => compare == Ordering::Greater,
            // Haiku's switch has no case for "no operator", so a version without one never matches.
            None => false,
        };
        if !holds {
            return false;
        }
        match compatible.filter(|v| v.is_set()) {
            None => compare == Ordering::Equal,
            Some(compatible) => {
                compare != Ordering::Greater || compatible.compare(required) != Ordering::Greater
            }
        }
    }

    /// Whether `provides` satisfies this expression: same name (exact, as Haiku stores both
    /// lower-cased) and a matching version.
    pub fn matches(&self, provides: &Provides) -> bool {
        provides.name == self.name
            && self.matches_version(provides.version.as_ref(), provides.compatible_version.as_ref())
    }
}

impl fmt::Display for ResolvableExpression {
    /// `name` or `name<op>version` without spaces (`BPackageResolvableExpression::ToString`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let (Some(version), Some(op)) = (set_version(&self.version), self.operator) {
            write!(f, "{op}{version}")?;
        }
        Ok(())
    }
}

/// Parsing the resolvables of a recipe (`PROVIDES`, `REQUIRES`, …) as HaikuPorter reads them back from
/// its DependencyInfo files (`PackageInfo.Resolvable` / `ResolvableExpression`): leniently, from the
/// start of the entry, ignoring whatever follows what was recognised. The entry is expected trimmed and
/// lower-cased already (HaikuPorter's `ConfigParser` does both).
pub mod recipe {
    use super::{Provides, ResolvableExpression};
    use crate::haiku::attributes::ResolvableOperator;
    use crate::haiku::version::Version;

    /// Splits the longest prefix of `text` whose characters satisfy `keep`.
    fn take(text: &str, keep: impl Fn(char) -> bool) -> (&str, &str) {
        let end = text.find(|c: char| !keep(c)).unwrap_or(text.len());
        text.split_at(end)
    }

    fn version(entry: &str, text: &str) -> Result<Version, String> {
        Version::parse(text).ok_or_else(|| format!("{entry:?}: {text:?} is not a valid version"))
    }

    /// `name [= version [compat >= version]]` (also `(compatible >= version)`): the name runs to the
    /// first space or `=`; a version is the word after `=`; a compatible version is recognised only
    /// in exactly that shape, anything else after the version is ignored
    /// (`lib:libsigc_2.0 = 0.0.0 compat = 0` provides version 0.0.0 and no compatible version).
    pub fn provides(entry: &str) -> Result<Provides, String> {
        let (name, rest) = take(entry, |c| !c.is_whitespace() && c != '=');
        if name.is_empty() {
            return Err(format!("{entry:?}: no name"));
        }
        let mut provides = Provides {
            name: name.to_owned(),
            ..Provides::default()
        };
        let Some(rest) = rest.trim_start().strip_prefix('=') else {
            return Ok(provides);
        };
        let (text, rest) = take(rest.trim_start(), |c| !c.is_whitespace());
        if text.is_empty() {
            return Ok(provides);
        }
        provides.version = Some(version(entry, text)?);
        let rest = rest.trim_start();
        let Some(rest) = rest
            .strip_prefix("(compatible")
            .or_else(|| rest.strip_prefix("compat"))
        else {
            return Ok(provides);
        };
        let Some(rest) = rest.trim_start().strip_prefix(">=") else {
            return Ok(provides);
        };
        let (text, _) = take(rest.trim_start(), |c| !c.is_whitespace() && c != ')');
        if !text.is_empty() {
            provides.compatible_version = Some(version(entry, text)?);
        }
        Ok(provides)
    }

    /// `name [operator version] [base]`: the name runs to the first space or operator character, the
    /// operator is the run of `=!<>` after it (`=` is taken as `==`), the version the next word;
    /// `base` is set when the entry ends in ` base`. A version without an operator is dropped, as
    /// HaikuPorter's resolver ignores it (`foo base` requires any `foo`).
    pub fn requires(entry: &str) -> Result<ResolvableExpression, String> {
        let is_op = |c: char| matches!(c, '=' | '!' | '<' | '>');
        let (name, rest) = take(entry, |c| !c.is_whitespace() && !is_op(c));
        if name.is_empty() {
            return Err(format!("{entry:?}: no name"));
        }
        let (symbol, rest) = take(rest.trim_start(), is_op);
        let (text, _) = take(rest.trim_start(), |c| !c.is_whitespace());
        let mut expression = ResolvableExpression {
            name: name.to_owned(),
            base: entry.ends_with(" base"),
            ..ResolvableExpression::default()
        };
        if symbol.is_empty() {
            return Ok(expression);
        }
        let operator = match symbol {
            "=" => ResolvableOperator::Equal,
            other => ResolvableOperator::from_symbol(other)
                .ok_or_else(|| format!("{entry:?}: unknown operator {other:?}"))?,
        };
        if text.is_empty() {
            return Err(format!("{entry:?}: operator {symbol:?} without a version"));
        }
        expression.operator = Some(operator);
        expression.version = Some(version(entry, text)?);
        Ok(expression)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResolvableOperator::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("valid version")
    }

    fn provides(name: &str, version: Option<&str>, compatible: Option<&str>) -> Provides {
        Provides {
            name: name.into(),
            version: version.map(v),
            compatible_version: compatible.map(v),
        }
    }

    fn requires(name: &str, constraint: Option<(ResolvableOperator, &str)>) -> ResolvableExpression {
        ResolvableExpression {
            name: name.into(),
            operator: constraint.map(|c| c.0),
            version: constraint.map(|c| v(c.1)),
            base: false,
        }
    }

    #[test]
    fn unversioned_requirement_matches_any_version() {
        assert!(requires("lib:foo", None).matches(&provides("lib:foo", Some("1.2"), None)));
        assert!(requires("lib:foo", None).matches(&provides("lib:foo", None, None)));
        assert!(!requires("lib:foo", None).matches(&provides("lib:bar", None, None)));
    }

    #[test]
    fn versioned_requirement_needs_a_provided_version() {
        assert!(!requires("foo", Some((GreaterEqual, "1"))).matches(&provides("foo", None, None)));
    }

    #[test]
    fn without_compatible_version_only_exact_matches() {
        let p = provides("foo", Some("1.2"), None);
        assert!(requires("foo", Some((Equal, "1.2"))).matches(&p));
        assert!(requires("foo", Some((GreaterEqual, "1.2"))).matches(&p));
        // Operator holds, but Haiku demands an exact match when no compatible version is given.
        assert!(!requires("foo", Some((GreaterEqual, "1.1"))).matches(&p));
        assert!(!requires("foo", Some((Less, "2"))).matches(&p));
    }

    #[test]
    fn compatible_version_opens_a_range() {
        let p = provides("lib:libapr_1", Some("0.4.6"), Some("0"));
        assert!(requires("lib:libapr_1", Some((GreaterEqual, "0.4"))).matches(&p));
        assert!(requires("lib:libapr_1", Some((GreaterEqual, "0"))).matches(&p));
        assert!(!requires("lib:libapr_1", Some((GreaterEqual, "0.5"))).matches(&p));
        let narrow = provides("foo", Some("2.5"), Some("2"));
        // 2.5 >= 1.9 holds, but 1.9 is below the compatible floor 2: Haiku rejects it.
        assert!(!requires("foo", Some((GreaterEqual, "1.9"))).matches(&narrow));
        assert!(requires("foo", Some((Greater, "2.1"))).matches(&narrow));
        assert!(requires("foo", Some((NotEqual, "3"))).matches(&narrow));
        assert!(!requires("foo", Some((Greater, "2.5"))).matches(&narrow));
        assert!(requires("foo", Some((LessEqual, "2.5"))).matches(&narrow));
        assert!(requires("foo", Some((Less, "3"))).matches(&narrow));
    }

    #[test]
    fn display_has_no_spaces() {
        let r = requires("haiku", Some((GreaterEqual, "r1~beta1_hrev52295_129-1")));
        assert_eq!(r.to_string(), "haiku>=r1~beta1_hrev52295_129-1");
        assert_eq!(requires("cmd:sh", None).to_string(), "cmd:sh");
    }

    #[test]
    fn recipe_provides_are_read_leniently() {
        let p = recipe::provides("lib:libsigc_2.0 = 0.0.0 compat = 0").unwrap();
        assert_eq!(
            (p.name.as_str(), p.version),
            ("lib:libsigc_2.0", Some(v("0.0.0")))
        );
        assert_eq!(p.compatible_version, None);
        let p = recipe::provides("lib:libfoo=1.2 compat >= 1 # soname").unwrap();
        assert_eq!((p.version, p.compatible_version), (Some(v("1.2")), Some(v("1"))));
        let p = recipe::provides("foo = 2 (compatible >= 1.5)").unwrap();
        assert_eq!(p.compatible_version, Some(v("1.5")));
        assert_eq!(recipe::provides("cmd:foo # tool").unwrap().version, None);
        assert!(recipe::provides("= 1").is_err());
    }

    #[test]
    fn recipe_requires_keep_base_and_accept_a_single_equals() {
        let r = recipe::requires("libktorrent_devel = 2.1.1 base").unwrap();
        assert_eq!(
            (r.operator, r.version.clone(), r.base),
            (Some(Equal), Some(v("2.1.1")), true)
        );
        let r = recipe::requires("lib:libz>=1.2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.operator, r.base),
            ("lib:libz", Some(GreaterEqual), false)
        );
        let r = recipe::requires("haiku base").unwrap();
        assert_eq!((r.operator, r.version, r.base), (None, None, true));
        assert!(recipe::requires("foo => 1").is_err());
        assert!(recipe::requires("foo >=").is_err());
    }
}
