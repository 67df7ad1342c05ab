//! Installability: every `Requires` of the repository's packages must be satisfied by a
//! `Provides` (EVR ranges compared as rpm compares them) or a file of some package in the
//! repository or in the base repositories. `rpmlib(…)` requirements are dropped at inspection
//! (rpm itself provides them). Rich (boolean) dependencies (`(a or b)`) are not evaluated and
//! count as satisfied, so `check` never refuses what dnf would install.

use std::collections::{HashMap, HashSet};

use super::entry::{Dep, DepFlag, RpmEntry};
use super::vercmp::satisfies;
use crate::formats::{FormatError, IndexedPackage, Unresolved};

/// Everything that can satisfy a requirement.
struct Capabilities<'a> {
    /// Provides by capability name.
    provides: HashMap<&'a str, Vec<&'a Dep>>,
    /// Self-provides (`name = epoch:version-release`) rpmbuild adds to every package; kept
    /// separately so that a hand-made package without it still resolves as dnf resolves it.
    own: Vec<(String, Dep)>,
    /// Every file path of every package.
    files: HashSet<&'a str>,
}

fn decode(packages: &[IndexedPackage]) -> Result<Vec<RpmEntry>, FormatError> {
    packages
        .iter()
        .map(|p| {
            let label = format!("{} ({})", p.package.file_name, p.package.sha256);
            RpmEntry::from_stored(&label, &p.package.entry)
        })
        .collect()
}

impl<'a> Capabilities<'a> {
    fn new(entries: impl Iterator<Item = &'a RpmEntry>) -> Self {
        let mut caps = Self {
            provides: HashMap::new(),
            own: Vec::new(),
            files: HashSet::new(),
        };
        for e in entries {
            for p in &e.provides {
                caps.provides.entry(p.name.as_str()).or_default().push(p);
            }
            caps.own.push((
                e.name.clone(),
                Dep {
                    name: e.name.clone(),
                    flags: Some(DepFlag::EQ),
                    epoch: Some(e.epoch),
                    ver: e.version.clone(),
                    rel: Some(e.release.clone()),
                    pre: false,
                },
            ));
            caps.files.extend(e.files.iter().map(|f| f.path.as_str()));
        }
        caps
    }

    fn satisfy(&self, require: &Dep) -> bool {
        if require.name.starts_with('(') {
            return true;
        }
        if require.name.starts_with('/') && self.files.contains(require.name.as_str()) {
            return true;
        }
        let by_provide = self
            .provides
            .get(require.name.as_str())
            .is_some_and(|list| list.iter().any(|p| satisfies(p, require)));
        by_provide
            || self
                .own
                .iter()
                .any(|(name, p)| *name == require.name && satisfies(p, require))
    }
}

/// How a dependency reads in a report: `bm-libgreet >= 1.0`.
pub fn describe(d: &Dep) -> String {
    let Some(flag) = d.flags else {
        return d.name.clone();
    };
    let op = match flag {
        DepFlag::LT => "<",
        DepFlag::LE => "<=",
        DepFlag::EQ => "=",
        DepFlag::GE => ">=",
        DepFlag::GT => ">",
    };
    let mut evr = String::new();
    if let Some(epoch) = d.epoch {
        evr.push_str(&format!("{epoch}:"));
    }
    evr.push_str(&d.ver);
    if let Some(rel) = &d.rel {
        evr.push('-');
        evr.push_str(rel);
    }
    format!("{} {op} {evr}", d.name)
}

/// Every requirement of `packages` that neither they nor `base` satisfy.
pub fn check(packages: &[IndexedPackage], base: &[IndexedPackage]) -> Result<Vec<Unresolved>, FormatError> {
    let ours = decode(packages)?;
    let theirs = decode(base)?;
    let caps = Capabilities::new(ours.iter().chain(theirs.iter()));
    let mut unresolved = Vec::new();
    for (p, e) in packages.iter().zip(&ours) {
        for require in &e.requires {
            if !caps.satisfy(require) {
                unresolved.push(Unresolved {
                    package: format!(
                        "{}_{}_{}",
                        p.package.name, p.package.version, p.package.architecture
                    ),
                    dependency: describe(require),
                });
            }
        }
    }
    Ok(unresolved)
}
