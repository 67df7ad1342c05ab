//! Made-up HaikuPorts records for the gate's tests and its benchmark (`bench/gate`): a package that
//! provides itself at its version and requires others by name and minimum version — the shape
//! installability looks at, and nothing else a real package carries.

use crate::formats::haiku::record::PackageRecord;
use crate::haiku::attributes::ResolvableOperator;
use crate::haiku::package_info::PackageInfo;
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::haiku::version::Version;
use crate::state::PackageState;

/// Package `name` at `version` (Haiku syntax, `1.0-1`) in `state`, providing `name = version` and
/// requiring each `(name, minimum)` of `requires` (`>= minimum`; `None`: any version). Its file name
/// is canonical; size 1, no SHA-256, no licences.
///
/// # Panics
/// When `version` or a minimum is not a Haiku version: fixtures are written by hand.
pub fn record(
    name: &str,
    version: &str,
    requires: &[(&str, Option<&str>)],
    state: PackageState,
) -> PackageRecord {
    let parse = |text: &str| Version::parse(text).unwrap_or_else(|| panic!("fixture version {text:?}"));
    let info = PackageInfo {
        name: name.into(),
        version: parse(version),
        provides: vec![Provides {
            name: name.into(),
            version: Some(parse(version)),
            compatible_version: None,
        }],
        requires: requires
            .iter()
            .map(|(required, minimum)| ResolvableExpression {
                name: (*required).into(),
                operator: minimum.map(|_| ResolvableOperator::GreaterEqual),
                version: minimum.map(parse),
                base: false,
            })
            .collect(),
        ..Default::default()
    };
    PackageRecord {
        file_name: info.canonical_file_name(),
        size: 1,
        sha256: String::new(),
        info,
        state,
        added_at: 0,
        last_indexed_at: None,
        licenses: Vec::new(),
    }
}
