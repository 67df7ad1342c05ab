//! `debian/control` of a source package (deb-src-control(5)): a source stanza followed by one stanza
//! per binary package. Read into what planning and the build need: the build dependencies, parsed,
//! and each binary package's name and `Architecture`, from which the result file names follow.

use crate::formats::debian::control::Stanza;
use crate::formats::debian::relation::{parse_relations, Relation};

/// One binary package that a source package builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryPackage {
    /// The `Package` field.
    pub name: String,
    /// The `Architecture` field as written: `all`, `any`, or a list of architectures / wildcards
    /// (`amd64 arm64`, `linux-any`); [`BinaryPackage::built_for`] says what a builder makes of it.
    pub architecture: String,
}

impl BinaryPackage {
    /// The architecture in the `.deb`'s name when built on a `host` builder, or `None` when this
    /// package is not built there (an architecture list that does not name the host). `all` stays
    /// `all`; `any` and `<os>-any`/`any-<cpu>` wildcards become the host.
    pub fn built_for(&self, host: &str) -> Option<String> {
        let words: Vec<&str> = self.architecture.split_whitespace().collect();
        if words.contains(&"all") {
            return Some("all".into());
        }
        let matches = |word: &&str| {
            *word == "any" || *word == host || *word == "linux-any" || *word == format!("any-{host}")
        };
        words.iter().any(matches).then(|| host.to_owned())
    }
}

/// What `debian/control` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceControl {
    /// The `Source` field (must agree with the changelog; the tree reader checks).
    pub source: String,
    /// `Build-Depends`, `Build-Depends-Arch` and `Build-Depends-Indep` together: clauses of
    /// alternatives, any one of which satisfies its clause (`gcc | clang`). A `dpkg-buildpackage -b`
    /// needs all three.
    pub build_depends: Vec<Vec<Relation>>,
    /// The binary packages, in file order.
    pub binaries: Vec<BinaryPackage>,
}

/// Parses the file's text. Errors name the stanza or field; the caller adds the file.
pub fn parse_source_control(text: &str) -> Result<SourceControl, String> {
    let mut stanzas = paragraphs(text)
        .into_iter()
        .enumerate()
        .map(|(n, p)| Stanza::parse(&p).map_err(|e| format!("stanza {}: {e}", n + 1)));
    let source_stanza = stanzas.next().ok_or("the file has no stanzas")??;
    let source = source_stanza.required("Source")?.to_owned();
    let mut build_depends = Vec::new();
    for field in ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"] {
        if let Some(value) = source_stanza.get(field) {
            // Continuation lines are part of the list; relations are split on ',' anyway.
            let joined = value.replace('\n', " ");
            build_depends.extend(parse_relations(&joined).map_err(|e| format!("{field}: {e}"))?);
        }
    }
    let mut binaries = Vec::new();
    for stanza in stanzas {
        let stanza = stanza?;
        binaries.push(BinaryPackage {
            name: stanza.required("Package")?.to_owned(),
            architecture: stanza.required("Architecture")?.to_owned(),
        });
    }
    if binaries.is_empty() {
        return Err(format!("source {source} has no binary package stanza"));
    }
    Ok(SourceControl {
        source,
        build_depends,
        binaries,
    })
}

/// Splits deb822 text into paragraphs at blank (or whitespace-only) lines; `#` comment lines stay
/// for [`Stanza::parse`] to skip.
pub(crate) fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "Source: hello-greet\nBuild-Depends: libgreet (>= 1.0),\n gcc | clang\n\
        Build-Depends-Indep: python3:any\n\n# a comment\nPackage: hello-greet\nArchitecture: any\n\n \n\
        Package: hello-greet-doc\nArchitecture: all\n\nPackage: hello-greet-x86\nArchitecture: amd64 i386\n";

    #[test]
    fn reads_source_build_depends_and_binaries() {
        let control = parse_source_control(CONTROL).unwrap();
        assert_eq!(control.source, "hello-greet");
        let names: Vec<Vec<&str>> = control
            .build_depends
            .iter()
            .map(|clause| clause.iter().map(|r| r.name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![vec!["libgreet"], vec!["gcc", "clang"], vec!["python3"]]
        );
        assert!(control.build_depends[0][0].version.is_some());
        let archs: Vec<Option<String>> = control.binaries.iter().map(|b| b.built_for("arm64")).collect();
        assert_eq!(archs, vec![Some("arm64".into()), Some("all".into()), None]);
        assert_eq!(control.binaries[2].built_for("amd64"), Some("amd64".into()));
    }

    #[test]
    fn refuses_missing_fields_and_binaries() {
        assert!(parse_source_control("Source: a\n").is_err());
        assert!(parse_source_control("Build-Depends: b\n\nPackage: a\nArchitecture: all\n").is_err());
        assert!(parse_source_control("Source: a\n\nPackage: a\n").is_err());
        assert!(
            parse_source_control("Source: a\nBuild-Depends: B\n\nPackage: a\nArchitecture: all\n").is_err()
        );
    }
}
