//! What a spec file says, as the real `rpmspec` reads it on the master: the source package's name
//! and epoch-version-release, its BuildRequires, and the binary packages (subpackages included)
//! with their architectures and Provides. Never our own spec parser — macros, conditionals and
//! `%include` are rpm's to expand. Each query prints tab-separated fields through `--queryformat`,
//! with dependency senses as rpm's bit flags, so nothing here parses `name >= version` text.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::formats::rpm::entry::{Dep, DepFlag};
use crate::formats::rpm::vercmp::split_evr;

/// The source package's line, then one line per BuildRequires (`--srpm`: the SRPM's Requires are
/// the spec's BuildRequires).
const SOURCE_QUERY: &str =
    "S\t%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\n[R\t%{REQUIRENAME}\t%{REQUIREFLAGS}\t%{REQUIREVERSION}\n]";

/// One line per binary package, each followed by its Provides.
const BINARY_QUERY: &str =
    "P\t%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n[V\t%{PROVIDENAME}\t%{PROVIDEFLAGS}\t%{PROVIDEVERSION}\n]";

/// A binary package the spec builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryRpm {
    /// Package name (`greet`, `greet-devel`).
    pub name: String,
    /// Its architecture as rpmspec says (`noarch`, or the builder's for arch-specific packages).
    pub arch: String,
    /// What it provides (its own name at its EVR, and any `Provides:`).
    pub provides: Vec<Dep>,
}

/// A spec as rpmspec reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecInfo {
    /// The source package name.
    pub name: String,
    /// Epoch, when the spec states one.
    pub epoch: Option<u32>,
    /// Version.
    pub version: String,
    /// Release (with `%{?dist}` expanded as the master's rpm expands it).
    pub release: String,
    /// BuildRequires; rpm's own `rpmlib(…)` capabilities are left out (rpmbuild satisfies them).
    pub build_requires: Vec<Dep>,
    /// The binary packages.
    pub binaries: Vec<BinaryRpm>,
}

impl SpecInfo {
    /// The file names `rpmbuild` gives the binary packages: `NAME-VERSION-RELEASE.ARCH.rpm` (rpm's
    /// `%_rpmfilename` without the architecture directory; the epoch is never in the name).
    pub fn expected_rpms(&self) -> Vec<String> {
        self.binaries
            .iter()
            .map(|b| format!("{}-{}-{}.{}.rpm", b.name, self.version, self.release, b.arch))
            .collect()
    }
}

/// Why a spec could not be read. Not retryable: the spec (or the master's rpm) must be fixed.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// rpmspec could not be started.
    #[error("cannot run rpmspec for {spec}: {source} (install rpm's tools on the master: the rpm package on Debian, rpm-build on Fedora)")]
    Run {
        /// The spec.
        spec: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// rpmspec refused the spec.
    #[error("rpmspec cannot parse {spec}: {stderr}")]
    Refused {
        /// The spec.
        spec: PathBuf,
        /// What rpmspec said.
        stderr: String,
    },
    /// rpmspec's output is not what the query format asked for.
    #[error("rpmspec's output for {spec} is not understood: {line:?}")]
    Output {
        /// The spec.
        spec: PathBuf,
        /// The line.
        line: String,
    },
}

/// Reads `spec` with two `rpmspec -q` runs (source package, binary packages).
pub fn read_spec(spec: &Path) -> Result<SpecInfo, SpecError> {
    let source = query(spec, &["--srpm"], SOURCE_QUERY)?;
    let binaries = query(spec, &[], BINARY_QUERY)?;
    parse(spec, &source, &binaries)
}

/// Runs `rpmspec -q EXTRA --queryformat FORMAT SPEC`.
fn query(spec: &Path, extra: &[&str], format: &str) -> Result<String, SpecError> {
    let out = Command::new("rpmspec")
        .arg("-q")
        .args(extra)
        .arg("--queryformat")
        .arg(format)
        .arg(spec)
        .env("LC_ALL", "C")
        .output()
        .map_err(|source| SpecError::Run {
            spec: spec.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(SpecError::Refused {
            spec: spec.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| SpecError::Output {
        spec: spec.to_owned(),
        line: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Parses the two queries' output.
fn parse(spec: &Path, source: &str, binaries: &str) -> Result<SpecInfo, SpecError> {
    let bad = |line: &str| SpecError::Output {
        spec: spec.to_owned(),
        line: line.to_owned(),
    };
    let mut info: Option<SpecInfo> = None;
    for line in source.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match (fields.as_slice(), info.as_mut()) {
            (["S", name, epoch, version, release], None) => {
                info = Some(SpecInfo {
                    name: (*name).to_owned(),
                    epoch: epoch.parse().ok(),
                    version: (*version).to_owned(),
                    release: (*release).to_owned(),
                    build_requires: Vec::new(),
                    binaries: Vec::new(),
                })
            }
            (["R", name, ..], Some(_)) if name.starts_with("rpmlib(") => {}
            (["R", name, flags, evr], Some(info)) => info
                .build_requires
                .push(dep(name, flags, evr).ok_or_else(|| bad(line))?),
            _ => return Err(bad(line)),
        }
    }
    let mut info = info.ok_or_else(|| bad(source))?;
    for line in binaries.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match (fields.as_slice(), info.binaries.last_mut()) {
            (["P", name, _epoch, _version, _release, arch], _) => info.binaries.push(BinaryRpm {
                name: (*name).to_owned(),
                arch: (*arch).to_owned(),
                provides: Vec::new(),
            }),
            (["V", name, flags, evr], Some(binary)) => binary
                .provides
                .push(dep(name, flags, evr).ok_or_else(|| bad(line))?),
            _ => return Err(bad(line)),
        }
    }
    Ok(info)
}

/// A dependency from its name, rpm's sense bits and its `[epoch:]version[-release]`.
fn dep(name: &str, flags: &str, evr: &str) -> Option<Dep> {
    let flags = DepFlag::from_sense(flags.parse().ok()?);
    let (epoch, ver, rel) = split_evr(evr);
    Some(Dep {
        name: name.to_owned(),
        flags,
        epoch,
        ver,
        rel,
        pre: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_build_requires_and_subpackages_from_query_output() {
        let source = "S\tgreet\t(none)\t2.0\t1\nR\tgreet-data\t12\t1.0\nR\trpmlib(X)\t16777226\t4.0-1\n";
        let binaries =
            "P\tgreet\t(none)\t2.0\t1\tx86_64\nV\tgreet\t8\t2.0-1\nP\tgreet-doc\t(none)\t2.0\t1\tnoarch\n";
        let info = parse(Path::new("greet.spec"), source, binaries).unwrap();
        assert_eq!((info.name.as_str(), info.epoch), ("greet", None));
        assert_eq!(info.build_requires.len(), 1);
        assert_eq!(info.build_requires[0].flags, Some(DepFlag::GE));
        assert_eq!(info.binaries[0].provides[0].rel.as_deref(), Some("1"));
        assert_eq!(
            info.expected_rpms(),
            ["greet-2.0-1.x86_64.rpm", "greet-doc-2.0-1.noarch.rpm"]
        );
    }

    #[test]
    fn refuses_output_it_did_not_ask_for() {
        assert!(parse(Path::new("x.spec"), "garbage\n", "").is_err());
        assert!(parse(Path::new("x.spec"), "S\ta\t(none)\t1\t1\n", "V\ta\t8\t1-1\n").is_err());
    }
}
