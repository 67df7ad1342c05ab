//! `debian/tests/control` as autopkgtest reads it (README.package-tests), in the subset the gate
//! runs: `Tests:` (files under `debian/tests/`) or `Test-Command:` (a shell command), `Depends:`
//! (`@` for the package under test, other packages by name with an optional version relation), and
//! `Restrictions:`. A restriction the gate cannot honour is not ignored: the test is skipped with
//! the restriction named, as autopkgtest skips a test whose restrictions its testbed cannot meet;
//! an unknown one is refused the same way. `Features:` and `Classes:` carry no behaviour here and
//! are accepted; any other field is refused by name, so a misspelt field is not silently dropped.

use crate::formats::debian::control::Stanza;
use crate::formats::debian::relation::{parse_relations, Relation};
use crate::toolchains::debian::control::paragraphs;

/// The exit status by which a `skippable` test says it skipped itself (README.package-tests).
pub const SKIP_STATUS: u32 = 77;

/// A restriction the gate honours, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Honoured {
    /// `allow-stderr`: output on stderr is not a failure.
    AllowStderr,
    /// `skippable`: exit status 77 means skipped.
    Skippable,
    /// `flaky`: a failure is reported but does not fail the check.
    Flaky,
    /// `skip-not-installable`: a test dependency missing from the root skips the test.
    SkipNotInstallable,
    /// Met by the testbed as it is, with no change in how the test runs: `needs-root` (tests run as
    /// root in the root), `breaks-testbed` and `rw-build-tree` (the root and the copy of the
    /// tests are thrown away), `superficial`, `hint-testsuite-triggers`.
    MetAsIs,
}

/// What the gate does with the restriction `name`: honour it, or say why the test cannot run here.
pub fn restriction(name: &str) -> Result<Honoured, String> {
    match name {
        "allow-stderr" => Ok(Honoured::AllowStderr),
        "skippable" => Ok(Honoured::Skippable),
        "flaky" => Ok(Honoured::Flaky),
        "skip-not-installable" => Ok(Honoured::SkipNotInstallable),
        "needs-root" | "breaks-testbed" | "rw-build-tree" | "superficial" | "hint-testsuite-triggers" => {
            Ok(Honoured::MetAsIs)
        }
        "needs-internet" => Err("restriction needs-internet: tests run without network".into()),
        "build-needed" => {
            Err("restriction build-needed: the gate tests built packages, it builds nothing".into())
        }
        "isolation-container" | "isolation-machine" | "needs-reboot" => Err(format!(
            "restriction {name}: the testbed is a chroot without network, not a container or machine"
        )),
        "needs-recommends" => Err("restriction needs-recommends: Recommends are not installed".into()),
        other => Err(format!("unknown restriction {other}")),
    }
}

/// A test dependency other than `@`: a package that must be installed in the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestDependency {
    /// Package name.
    pub name: String,
    /// `op version` in dpkg's spelling (`>= 1.0`), if constrained.
    pub version: Option<String>,
}

/// How a test runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestBody {
    /// `debian/tests/<name>`, executed (made executable first, as autopkgtest does).
    File,
    /// A `Test-Command:` run with `sh -ec`.
    Command(String),
}

/// One test of the control file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutopkgTest {
    /// Its name: the file name, or `command<N>` for the N-th `Test-Command` (autopkgtest's naming).
    pub name: String,
    /// What runs.
    pub body: TestBody,
    /// Packages besides `@` that must be installed.
    pub depends: Vec<TestDependency>,
    /// Restrictions it has and the gate honours.
    pub honoured: Vec<Honoured>,
    /// Why it cannot run here, if so (a restriction the gate cannot meet, or an unknown one).
    pub skip: Option<String>,
}

/// Parses `debian/tests/control`; errors name the paragraph and the field.
pub fn parse_control(text: &str) -> Result<Vec<AutopkgTest>, String> {
    let mut tests = Vec::new();
    let mut commands = 0;
    for (index, paragraph) in paragraphs(text).iter().enumerate() {
        let at = |e: String| format!("paragraph {}: {e}", index + 1);
        let stanza = Stanza::parse(paragraph).map_err(at)?;
        for field in stanza_fields(paragraph) {
            let known = [
                "tests",
                "test-command",
                "depends",
                "restrictions",
                "features",
                "classes",
            ];
            if !known.contains(&field.to_ascii_lowercase().as_str()) {
                return Err(at(format!("field {field} is not in the subset the gate runs")));
            }
        }
        let depends = parse_depends(stanza.get("Depends").unwrap_or("@")).map_err(at)?;
        let mut honoured = Vec::new();
        let mut skip = None;
        for name in words(stanza.get("Restrictions").unwrap_or("")) {
            match restriction(name) {
                Ok(h) => honoured.push(h),
                Err(why) => {
                    skip.get_or_insert(why);
                }
            }
        }
        let test = |name: String, body: TestBody| AutopkgTest {
            name,
            body,
            depends: depends.clone(),
            honoured: honoured.clone(),
            skip: skip.clone(),
        };
        match (stanza.get("Tests"), stanza.get("Test-Command")) {
            (Some(_), Some(_)) => return Err(at("both Tests and Test-Command".into())),
            (None, None) => return Err(at("neither Tests nor Test-Command".into())),
            (Some(names), None) => {
                for name in words(names) {
                    if name.starts_with('.') || name.contains('/') {
                        return Err(at(format!("test name {name:?} is not a file in debian/tests")));
                    }
                    tests.push(test(name.to_owned(), TestBody::File));
                }
            }
            (None, Some(command)) => {
                commands += 1;
                tests.push(test(
                    format!("command{commands}"),
                    TestBody::Command(command.to_owned()),
                ));
            }
        }
    }
    Ok(tests)
}

/// The field names of a paragraph, in order.
fn stanza_fields(paragraph: &str) -> impl Iterator<Item = &str> {
    paragraph
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#']) && !l.trim().is_empty())
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
}

/// Words separated by whitespace or commas (autopkgtest accepts both in `Tests` and `Restrictions`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
}

/// `Depends`: `@` (the package under test, always installed here) and plain relations. An
/// alternative (`a | b`) and `@builddeps@` are refused: the gate installs no build dependencies and
/// picks no alternative.
fn parse_depends(field: &str) -> Result<Vec<TestDependency>, String> {
    let mut out = Vec::new();
    for clause in field.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if clause == "@" {
            continue;
        }
        if clause.starts_with('@') {
            return Err(format!(
                "Depends: {clause} is not in the subset the gate runs (only @)"
            ));
        }
        let parsed = parse_relations(clause)?;
        let [alternatives] = &parsed[..] else {
            return Err(format!("Depends: cannot read {clause:?}"));
        };
        let [Relation { name, version }] = &alternatives[..] else {
            return Err(format!(
                "Depends: alternatives ({clause}) are not in the subset the gate runs"
            ));
        };
        out.push(TestDependency {
            name: name.clone(),
            version: version.as_ref().map(|(op, v)| format!("{} {v}", op.spelling())),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_commands_depends_and_restrictions() {
        let control = "Tests: greets, prints-version\nDepends: @, coreutils (>= 8.0)\n\n\
                       Test-Command: hello-greet | grep -q Hello\nRestrictions: allow-stderr, superficial\n\n\
                       Test-Command: curl https://example.org\nRestrictions: needs-internet\n\n\
                       Tests: odd\nRestrictions: needs-magic\n";
        let tests = parse_control(control).unwrap();
        let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["greets", "prints-version", "command1", "command2", "odd"]);
        assert_eq!(
            tests[0].depends,
            [TestDependency {
                name: "coreutils".into(),
                version: Some(">= 8.0".into())
            }]
        );
        assert_eq!(
            tests[2].body,
            TestBody::Command("hello-greet | grep -q Hello".into())
        );
        assert!(tests[2].depends.is_empty(), "Depends defaults to @");
        assert_eq!(tests[2].honoured, [Honoured::AllowStderr, Honoured::MetAsIs]);
        assert!(tests[2].skip.is_none());
        assert!(tests[3].skip.as_deref().unwrap().contains("needs-internet"));
        assert_eq!(tests[4].skip.as_deref(), Some("unknown restriction needs-magic"));
    }

    #[test]
    fn what_the_subset_does_not_run_is_refused_by_name() {
        let err = |text: &str| parse_control(text).unwrap_err();
        assert!(err("Tests: a\nTest-Command: b\n").contains("both"));
        assert!(err("Depends: @\n").contains("neither"));
        assert!(err("Tests: a\nDepends: @builddeps@\n").contains("@builddeps@"));
        assert!(err("Tests: a\nDepends: x | y\n").contains("alternatives"));
        assert!(err("Tests: ../a\n").contains("not a file"));
        assert!(err("Tests: a\nTest-Dir: t\n").contains("Test-Dir"));
    }
}
