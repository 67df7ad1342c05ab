//! A staged `.rpm`'s tmt tests on a Linux builder. Where the tests come from: the policy's tests
//! tree, keyed by the package's source RPM name (`<tests>/<source>/`, a dist-git checkout: an fmf
//! tree with `.fmf/version`, tests and `plans/`), read in the subset [`super::tmt`] documents.
//! What runs: the constant script `rpm_tests.sh` — a fresh root unpacked from the policy's
//! `root_tarball`, the package and the staged packages it requires installed into it with the real
//! `rpm --root … -i` (nothing fetched: no network), each test in `unshare --net` + `chroot` under
//! its `duration`.
//!
//! No RPM distribution's root can be made where no RPM repository is reachable, so the root is a
//! tarball with a shell, coreutils and libc (the dpkg toolchain's build root serves): its own files
//! are not in its rpmdb, so rpm installs with `--nodeps` after showing what its dependency check
//! would refuse; that the package resolves is the blocking installability check's (real dnf).
//!
//! A package whose source has no tree passes with that said (nothing to run); a tree with no test
//! the gate can run fails, naming why each was skipped.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::tmt::{discover, TmtTest};
use super::{could_not_run, run_on_builder, script_argv, wanted_package, BuilderTest, Steps};
use crate::builders::config::check_path_component;
use crate::builders::package::WantedPackage;
use crate::formats::rpm::entry::{Dep, DepFlag, RpmEntry};
use crate::formats::rpm::vercmp::satisfies;
use crate::formats::FormatKind;
use crate::gate::command_check::{CommandOutcome, Subject};
use crate::toolchains::rpm::procedure::RpmBuilderPaths;
use crate::toolchains::rpm::toolchain::Rpmbuild;

/// The script; see its header for the parameters.
pub const TEST_SCRIPT: &str = include_str!("rpm_tests.sh");

/// `$0` of the script, which `sh` puts in its error messages.
pub const SCRIPT_NAME: &str = "buildmaster-rpm-tests";

/// Runs `subject`'s tests as `test` says.
pub async fn run(test: &BuilderTest, timeout: Duration, subject: &Subject<'_>) -> CommandOutcome {
    let (Some(tarball), Some(tests_tree)) = (&test.root_tarball, &test.tests) else {
        // `bind` refuses an RPM repository's policy without them; a policy made otherwise lands here.
        return could_not_run(missing_keys_message(test));
    };
    let entry = match entry_of(subject.package) {
        Ok(entry) => entry,
        Err(why) => return could_not_run(why),
    };
    let source = match source_name(&entry) {
        Ok(source) => source,
        Err(why) => return could_not_run(why),
    };
    let tree = tests_tree.join(&source);
    if !tree.is_dir() {
        return CommandOutcome {
            passed: true,
            summary: format!("no tests: source {source} has no {}", tree.display()),
            log: String::new(),
        };
    }
    let found = match super::fmf::read_tree(&tree) {
        Ok(leaves) => discover(&leaves),
        Err(why) => return could_not_run(why),
    };
    if found.tests.is_empty() {
        let why = if found.skipped.is_empty() {
            format!("{}: no test (no leaf with `test`) is selected", tree.display())
        } else {
            found.skipped.join("; ")
        };
        return could_not_run(format!("no test could run: {why}"));
    }
    let wanted: Vec<String> = found.tests.iter().flat_map(|t| t.require.clone()).collect();
    let packages = match packages_to_install(subject, &entry, &wanted) {
        Ok(packages) => packages,
        Err(why) => return could_not_run(why),
    };
    let work = &test.work_dir;
    let remote_tree = format!("{work}/src/{source}");
    let paths = RpmBuilderPaths {
        recipe_tree: format!("{work}/src"),
        work_base: format!("{work}/work"),
        dependencies: format!("{work}/rpms"),
    };
    let toolchain = Arc::new(Rpmbuild::new(paths, format!("{work}/cache")));
    let steps = Steps {
        packages: &packages,
        storage: None,
        tests_dir: &tree,
        remote_tests_dir: remote_tree.clone(),
        argv: argv(&found.tests, tarball, work, &remote_tree),
        notes: Vec::new(),
        skipped: &found.skipped,
    };
    run_on_builder(test, toolchain, &steps, timeout).await
}

/// What an RPM policy lacks, naming the keys.
pub fn missing_keys_message(test: &BuilderTest) -> String {
    let mut missing = Vec::new();
    if test.tests.is_none() {
        missing.push("`tests` (the tree of dist-git checkouts: <source rpm name>/.fmf/version, …)");
    }
    if test.root_tarball.is_none() {
        missing.push("`root_tarball` (the root tmt tests run in, a tar file on the builder)");
    }
    format!(
        "RPM tests on a builder need {} (docs/gate.md \"RPM: tmt\")",
        missing.join(" and ")
    )
}

fn entry_of(package: &crate::formats::InspectedPackage) -> Result<RpmEntry, String> {
    RpmEntry::from_stored(&package.file_name, &package.entry).map_err(|e| e.to_string())
}

/// The source RPM's name (`hello` of `hello-2.10-3.fc40.src.rpm`), else the package's own name.
fn source_name(entry: &RpmEntry) -> Result<String, String> {
    let from_srpm = entry
        .sourcerpm
        .strip_suffix(".src.rpm")
        .or_else(|| entry.sourcerpm.strip_suffix(".nosrc.rpm"))
        .and_then(|nvr| nvr.rsplitn(3, '-').nth(2));
    let source = from_srpm.unwrap_or(&entry.name).to_owned();
    check_path_component(&source).map_err(|e| format!("source RPM name {source:?}: {e}"))?;
    Ok(source)
}

/// The package under test, then every RPM staged with it that it (or a test's `require`) needs,
/// transitively: a staged package is taken when it provides a requirement (by `Provides`, its own
/// name, or a file it owns) — the same reading as the installability check's, per package here.
fn packages_to_install(
    subject: &Subject<'_>,
    entry: &RpmEntry,
    test_requires: &[String],
) -> Result<Vec<WantedPackage>, String> {
    let staged: Vec<(&Path, &crate::formats::InspectedPackage, RpmEntry)> = subject
        .staged_with
        .iter()
        .filter(|s| s.format == FormatKind::Rpm && s.package.file_name != subject.package.file_name)
        .map(|s| Ok((s.path, s.package, entry_of(s.package)?)))
        .collect::<Result<_, String>>()?;
    let mut chosen = vec![wanted_package(subject.file, subject.package)?];
    let mut taken = BTreeSet::new();
    let mut needs: Vec<Dep> = entry.requires.clone();
    needs.extend(test_requires.iter().map(|name| unversioned(name)));
    while let Some(need) = needs.pop() {
        for (index, (path, package, staged_entry)) in staged.iter().enumerate() {
            if !taken.contains(&index) && provides(staged_entry, &need) {
                taken.insert(index);
                chosen.push(wanted_package(path, package)?);
                needs.extend(staged_entry.requires.iter().cloned());
            }
        }
    }
    Ok(chosen)
}

fn unversioned(name: &str) -> Dep {
    Dep {
        name: name.to_owned(),
        flags: None,
        epoch: None,
        ver: String::new(),
        rel: None,
        pre: false,
    }
}

/// Whether `entry` satisfies `need`: a file it owns, a `Provides`, or its own name-EVR.
fn provides(entry: &RpmEntry, need: &Dep) -> bool {
    if need.name.starts_with('/') && entry.files.iter().any(|f| f.path == need.name) {
        return true;
    }
    let own = Dep {
        flags: Some(DepFlag::EQ),
        epoch: Some(entry.epoch),
        ver: entry.version.clone(),
        rel: Some(entry.release.clone()),
        ..unversioned(&entry.name)
    };
    std::iter::once(&own)
        .chain(&entry.provides)
        .any(|p| p.name == need.name && satisfies(p, need))
}

/// The script's argument vector: its fixed parameters, then seven per test.
fn argv(tests: &[TmtTest], tarball: &str, work: &str, remote_tree: &str) -> Vec<String> {
    let packages = format!("{work}/rpms");
    let mut argv = script_argv(TEST_SCRIPT, SCRIPT_NAME, tarball, work, remote_tree, &packages);
    for test in tests {
        let environment: Vec<String> = test
            .environment
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        argv.extend([
            test.name.clone(),
            test.path.clone(),
            test.command.clone(),
            test.duration.as_secs().to_string(),
            test.expect.as_str().into(),
            test.require.join("\n"),
            environment.join("\n"),
        ]);
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::rpm::entry::PackageFile;
    use crate::formats::InspectedPackage;
    use crate::gate::command_check::Staged;

    fn dep(name: &str, flags: Option<DepFlag>, ver: &str) -> Dep {
        Dep {
            flags,
            ver: ver.into(),
            ..unversioned(name)
        }
    }

    fn package(name: &str, requires: Vec<Dep>, provides: Vec<Dep>, files: &[&str]) -> InspectedPackage {
        let stored = serde_json::json!({
            "v": crate::formats::rpm::entry::ENTRY_VERSION, "name": name, "epoch": 0,
            "version": "1.0", "release": "1", "arch": "noarch", "summary": "", "description": "",
            "packager": "", "url": "", "license": "MIT", "vendor": "", "group": "", "buildhost": "",
            "sourcerpm": format!("src-{name}-1.0-1.src.rpm"), "build_time": 0, "installed_size": 0,
            "archive_size": 0, "header_start": 0, "header_end": 0, "provides": provides,
            "requires": requires, "conflicts": [], "obsoletes": [],
            "files": files.iter().map(|p| PackageFile { path: p.to_string(), kind: crate::formats::rpm::entry::FileKind::File }).collect::<Vec<_>>(),
            "changelogs": []
        });
        InspectedPackage {
            name: name.into(),
            version: "1.0-1".into(),
            architecture: "noarch".into(),
            size: 10,
            sha256: "ab".repeat(32),
            file_name: format!("{name}-1.0-1.noarch.rpm"),
            entry: stored.to_string(),
        }
    }

    #[test]
    fn staged_packages_providing_a_requirement_are_installed_transitively() {
        let app = package(
            "app",
            vec![dep("lib", Some(DepFlag::GE), "1.0"), dep("/bin/sh", None, "")],
            vec![],
            &["/usr/bin/app"],
        );
        let lib = package("lib", vec![dep("/usr/share/base/data", None, "")], vec![], &[]);
        let base = package("base", vec![], vec![], &["/usr/share/base/data"]);
        let newer_only = package(
            "tool",
            vec![],
            vec![dep("tool-cap", Some(DepFlag::EQ), "1.0")],
            &[],
        );
        let other = package("other", vec![], vec![], &[]);
        let with: Vec<Staged> = [&app, &lib, &base, &newer_only, &other]
            .into_iter()
            .map(|p| Staged {
                path: Path::new("/s"),
                package: p,
                format: FormatKind::Rpm,
            })
            .collect();
        let subject = Subject {
            file: Path::new("/s/app.rpm"),
            package: &app,
            format: FormatKind::Rpm,
            staged_with: &with,
        };
        let entry = entry_of(&app).unwrap();
        assert_eq!(source_name(&entry).unwrap(), "src-app");
        let chosen = packages_to_install(&subject, &entry, &["tool-cap".into()]).unwrap();
        let mut files: Vec<&str> = chosen.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(
            files.remove(0),
            "app-1.0-1.noarch.rpm",
            "the package under test first"
        );
        files.sort();
        assert_eq!(
            files,
            [
                "base-1.0-1.noarch.rpm",
                "lib-1.0-1.noarch.rpm",
                "tool-1.0-1.noarch.rpm"
            ]
        );
        assert!(!provides(
            &entry_of(&lib).unwrap(),
            &dep("lib", Some(DepFlag::GT), "1.0")
        ));
    }

    #[test]
    fn the_source_name_comes_from_the_source_rpm_and_every_input_is_a_parameter() {
        let mut entry = entry_of(&package("hello-libs", vec![], vec![], &[])).unwrap();
        entry.sourcerpm = "hello-2.10-3.fc40.src.rpm".into();
        assert_eq!(source_name(&entry).unwrap(), "hello");
        entry.sourcerpm = String::new();
        assert_eq!(source_name(&entry).unwrap(), "hello-libs");
        entry.sourcerpm = "../x-1-1.src.rpm".into();
        assert!(source_name(&entry).is_err());
        let test = TmtTest {
            name: "/t/$(x)".into(),
            command: "echo 'hi'; exit 1".into(),
            path: "/t".into(),
            require: vec!["a".into(), "b".into()],
            duration: Duration::from_secs(90),
            expect: super::super::tmt::Expect::Xfail,
            environment: vec![("A".into(), "1 2".into())],
            order: 50,
        };
        let argv = argv(&[test], "/root.tar", "/w", "/w/src/hello");
        assert_eq!(&argv[..5], ["sh", "-eu", "-c", TEST_SCRIPT, SCRIPT_NAME]);
        assert_eq!(
            &argv[5..],
            [
                "/root.tar",
                "/w/run",
                "/w/src/hello",
                "/w/rpms",
                "/t/$(x)",
                "/t",
                "echo 'hi'; exit 1",
                "90",
                "xfail",
                "a\nb",
                "A=1 2"
            ]
        );
    }
}
