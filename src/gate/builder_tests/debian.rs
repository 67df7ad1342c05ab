//! A staged `.deb`'s autopkgtest-style tests on a Debian builder. Where the tests come from: the
//! policy's tests tree, keyed by the package's source package (`<tests>/<Source>/debian/tests/`,
//! the layout of a Debian recipe tree — the recipe tree a package was built from serves as is).
//! What runs: the constant script `debian_tests.sh` — a fresh root unpacked from the dpkg
//! toolchain's build root tarball, the package and what it depends on installed with `dpkg`
//! (nothing fetched: no network), each test in `unshare --net` + `chroot`. Each dependency comes
//! from the packages staged with it first, then from what the repository already serves (the
//! repository as it would be after promotion, [`super::served`]: its pool files streamed from the
//! served storage); what neither has is left to the root, where `dpkg` names it.
//!
//! A package whose source has no `debian/tests/control` passes with that said (autopkgtest's "no
//! tests": nothing to run); a control file with no test the gate can run fails, naming why each
//! was skipped.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::autopkgtest::{parse_control, AutopkgTest, Honoured, TestBody};
use super::{could_not_run, run_on_builder, script_argv, wanted_package, BuilderTest, Steps};
use crate::builders::config::check_path_component;
use crate::builders::package::WantedPackage;
use crate::formats::debian::control::Stanza;
use crate::formats::debian::relation::parse_relations;
use crate::formats::debian::version::Version;
use crate::formats::FormatKind;
use crate::gate::command_check::{CommandOutcome, Staged, Subject};
use crate::repos::records::PoolPackage;
use crate::toolchains::debian::procedure::DebianBuilderPaths;
use crate::toolchains::debian::toolchain::DpkgBuildpackage;

/// The script; see its header for the parameters.
pub const TEST_SCRIPT: &str = include_str!("debian_tests.sh");

/// `$0` of the script, which `sh` puts in its error messages.
pub const SCRIPT_NAME: &str = "buildmaster-debian-tests";

/// What one package's tests need, decided on the master.
#[derive(Debug)]
struct Plan {
    /// The source package (the key into the tests tree).
    source: String,
    /// The tests that can run.
    tests: Vec<AutopkgTest>,
    /// `name: why` for each test skipped before running.
    skipped: Vec<String>,
    /// The package under test first, then the packages it depends on.
    packages: Vec<WantedPackage>,
    /// The file names among `packages` the repository already serves (streamed from its storage).
    from_repository: Vec<String>,
}

/// Runs `subject`'s tests as `test` says.
pub async fn run(test: &BuilderTest, timeout: Duration, subject: &Subject<'_>) -> CommandOutcome {
    let Some(tarball) = &test.root_tarball else {
        return could_not_run(
            "[repositories.policy.test] `root_tarball` is not set: Debian tests run in the build root \
             (the mmdebstrap tarball on the builder)"
                .into(),
        );
    };
    let Some(tests_tree) = &test.tests else {
        return could_not_run(
            "[repositories.policy.test] `tests` is not set: name the tests tree (<source>/debian/tests)"
                .into(),
        );
    };
    let source = match source_package(subject) {
        Ok(source) => source,
        Err(why) => return could_not_run(why),
    };
    let tests_dir = tests_tree.join(&source).join("debian/tests");
    let control = tests_dir.join("control");
    let text = match std::fs::read_to_string(&control) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return CommandOutcome {
                passed: true,
                summary: format!("no tests: source {source} has no {}", control.display()),
                log: String::new(),
            }
        }
        Err(e) => return could_not_run(format!("{}: {e}", control.display())),
    };
    let served = match &test.served {
        Some(pool) => match pool.linked() {
            Ok(linked) => linked,
            Err(why) => return could_not_run(why),
        },
        None => Vec::new(),
    };
    let plan = match plan(subject, source, &text, &served) {
        Ok(plan) => plan,
        Err(why) => return could_not_run(format!("{}: {why}", control.display())),
    };
    if plan.tests.is_empty() {
        return could_not_run(format!("no test could run: {}", plan.skipped.join("; ")));
    }
    let work = &test.work_dir;
    let paths = DebianBuilderPaths {
        root_tarball: tarball.clone(),
        recipe_tree: format!("{work}/src"),
        work_base: format!("{work}/work"),
        dependencies: format!("{work}/debs"),
    };
    let toolchain = Arc::new(DpkgBuildpackage::new(paths, format!("{work}/cache")));
    let source_dir = format!("{work}/src/{}", plan.source);
    let mut notes = Vec::new();
    if !plan.from_repository.is_empty() {
        notes.push(format!(
            "buildmaster: already served, from the repository: {}",
            plan.from_repository.join(", ")
        ));
    }
    let steps = Steps {
        packages: &plan.packages,
        storage: test.served.as_ref().map(|pool| pool.storage().clone()),
        tests_dir: &tests_dir,
        remote_tests_dir: format!("{source_dir}/debian/tests"),
        argv: argv(&plan, tarball, work, &source_dir),
        notes,
        skipped: &plan.skipped,
    };
    run_on_builder(test, toolchain, &steps, timeout).await
}

/// The package's source package: its `Source` field (without a version), else its own name.
fn source_package(subject: &Subject<'_>) -> Result<String, String> {
    let stanza = Stanza::parse(&subject.package.entry)
        .map_err(|e| format!("{}: its control data: {e}", subject.package.file_name))?;
    let source = stanza
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(&subject.package.name)
        .to_owned();
    check_path_component(&source).map_err(|e| format!("source package {source:?}: {e}"))?;
    Ok(source)
}

/// The tests that can run, the skipped ones, and the packages to install (`served`: what the
/// repository links now).
fn plan(
    subject: &Subject<'_>,
    source: String,
    control: &str,
    served: &[PoolPackage],
) -> Result<Plan, String> {
    let (tests, skipped): (Vec<_>, Vec<_>) = parse_control(control)?
        .into_iter()
        .partition(|t| t.skip.is_none());
    let skipped = skipped
        .into_iter()
        .map(|t| format!("{} SKIP {}", t.name, t.skip.unwrap_or_default()))
        .collect();
    let test_depends = tests
        .iter()
        .flat_map(|t| t.depends.iter().map(|d| d.name.clone()));
    let (packages, from_repository) = packages_to_install(subject, test_depends.collect(), served)?;
    Ok(Plan {
        source,
        tests,
        skipped,
        packages,
        from_repository,
    })
}

/// The package under test, then every package it (or a test) needs, transitively, by name
/// (`Depends`, `Pre-Depends`; every alternative): a Debian package staged with it when one has the
/// name, else the newest the repository serves (`served`) of a fitting architecture; the file
/// names of the served ones. What neither has is left to the root, where `dpkg` says what is
/// missing.
fn packages_to_install(
    subject: &Subject<'_>,
    mut wanted: BTreeSet<String>,
    served: &[PoolPackage],
) -> Result<(Vec<WantedPackage>, Vec<String>), String> {
    let staged_names: BTreeSet<&str> = subject
        .staged_with
        .iter()
        .filter(|s| s.format == FormatKind::Debian)
        .map(|s| s.package.name.as_str())
        .collect();
    let served = newest_served(served, &subject.package.architecture);
    let mut chosen = vec![wanted_package(subject.file, subject.package)?];
    let mut from_repository = Vec::new();
    let mut names = BTreeSet::from([subject.package.name.clone()]);
    let mut queue = vec![subject.package.entry.as_str()];
    while let Some(entry) = queue.pop() {
        wanted.extend(depends_names(entry)?);
        for staged in subject.staged_with {
            let Staged {
                path,
                package,
                format,
            } = *staged;
            if format == FormatKind::Debian
                && wanted.contains(&package.name)
                && names.insert(package.name.clone())
            {
                chosen.push(wanted_package(path, package)?);
                queue.push(&package.entry);
            }
        }
        for name in &wanted {
            if staged_names.contains(name.as_str()) || names.contains(name) {
                continue;
            }
            if let Some(pool) = served.get(name.as_str()) {
                names.insert(name.clone());
                chosen.push(crate::buildrun::served::from_pool(pool)?);
                from_repository.push(pool.package.file_name.clone());
                queue.push(&pool.package.entry);
            }
        }
    }
    Ok((chosen, from_repository))
}

/// The newest Debian package of each name in `served` that can be installed beside a package of
/// `architecture` (the same one or `all`; any, for an `all` package).
fn newest_served<'a>(served: &'a [PoolPackage], architecture: &str) -> HashMap<&'a str, &'a PoolPackage> {
    let fits = |a: &str| a == "all" || architecture == "all" || a == architecture;
    let mut newest: HashMap<&str, (&PoolPackage, Option<Version>)> = HashMap::new();
    for pool in served {
        let package = &pool.package;
        if pool.format != FormatKind::Debian || !fits(&package.architecture) {
            continue;
        }
        let version = Version::parse(&package.version).ok();
        match newest.get(package.name.as_str()) {
            Some((_, best)) if *best >= version => {}
            _ => {
                newest.insert(&package.name, (pool, version));
            }
        }
    }
    newest.into_iter().map(|(name, (pool, _))| (name, pool)).collect()
}

/// The names in a control stanza's `Depends` and `Pre-Depends`.
fn depends_names(entry: &str) -> Result<Vec<String>, String> {
    let stanza = Stanza::parse(entry)?;
    let mut names = Vec::new();
    for field in ["Pre-Depends", "Depends"] {
        for clause in parse_relations(stanza.get(field).unwrap_or(""))? {
            names.extend(clause.into_iter().map(|r| r.name));
        }
    }
    Ok(names)
}

/// The script's argument vector: its fixed parameters, then five per test.
fn argv(plan: &Plan, tarball: &str, work: &str, source_dir: &str) -> Vec<String> {
    let packages = format!("{work}/debs");
    let mut argv = script_argv(TEST_SCRIPT, SCRIPT_NAME, tarball, work, source_dir, &packages);
    for test in &plan.tests {
        let (body, text) = match &test.body {
            TestBody::File => ("file", String::new()),
            TestBody::Command(command) => ("command", command.clone()),
        };
        let flags: Vec<&str> = test
            .honoured
            .iter()
            .filter_map(|h| match h {
                Honoured::AllowStderr => Some("allow-stderr"),
                Honoured::Skippable => Some("skippable"),
                Honoured::Flaky => Some("flaky"),
                Honoured::SkipNotInstallable => Some("skip-not-installable"),
                Honoured::MetAsIs => None,
            })
            .collect();
        let depends: Vec<String> = test
            .depends
            .iter()
            .map(|d| match &d.version {
                Some(version) => format!("{} {version}", d.name),
                None => d.name.clone(),
            })
            .collect();
        argv.extend([
            test.name.clone(),
            body.into(),
            text,
            flags.join(" "),
            depends.join("\n"),
        ]);
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::InspectedPackage;
    use std::path::Path;

    fn package(name: &str, depends: &str) -> InspectedPackage {
        InspectedPackage {
            name: name.into(),
            version: "1.0-1".into(),
            architecture: "all".into(),
            size: 10,
            sha256: "ab".repeat(32),
            file_name: format!("{name}_1.0-1_all.deb"),
            entry: format!("Package: {name}\nSource: src-{name} (1.0)\nVersion: 1.0-1\nDepends: {depends}\n"),
        }
    }

    /// `app`, at `/s/app.deb`, staged with `with`.
    fn subject<'a>(app: &'a InspectedPackage, with: &'a [Staged<'a>]) -> Subject<'a> {
        Subject {
            file: Path::new("/s/app.deb"),
            package: app,
            format: FormatKind::Debian,
            staged_with: with,
        }
    }

    #[test]
    fn staged_dependencies_are_installed_with_the_package_transitively() {
        let (app, lib, base, other) = (
            package("app", "lib (>= 1.0), libc6"),
            package("lib", "base | nothing"),
            package("base", "libc6"),
            package("other", "libc6"),
        );
        let with = [
            Staged {
                path: Path::new("/s/lib.deb"),
                package: &lib,
                format: FormatKind::Debian,
            },
            Staged {
                path: Path::new("/s/base.deb"),
                package: &base,
                format: FormatKind::Debian,
            },
            Staged {
                path: Path::new("/s/other.deb"),
                package: &other,
                format: FormatKind::Debian,
            },
        ];
        let subject = subject(&app, &with);
        assert_eq!(source_package(&subject).unwrap(), "src-app");
        let plan = plan(
            &subject,
            "src-app".into(),
            "Tests: t\nDepends: @, other\n\nTests: x\nRestrictions: needs-internet\n",
            &[],
        )
        .unwrap();
        // The package under test first; then what it and its tests need, in any order.
        assert_eq!(plan.packages[0].file_name, "app_1.0-1_all.deb");
        let mut files: Vec<&str> = plan.packages[1..].iter().map(|p| p.file_name.as_str()).collect();
        files.sort();
        assert_eq!(
            files,
            ["base_1.0-1_all.deb", "lib_1.0-1_all.deb", "other_1.0-1_all.deb"]
        );
        assert_eq!(
            plan.skipped,
            ["x SKIP restriction needs-internet: tests run without network"]
        );
        let argv = argv(&plan, "/root.tar", "/w", "/w/src/src-app");
        assert_eq!(
            &argv[5..],
            [
                "/root.tar",
                "/w/run",
                "/w/src/src-app",
                "/w/debs",
                "t",
                "file",
                "",
                "",
                "other"
            ]
        );
    }

    /// A pool record of the served repository: `name` `version` for `architecture`.
    fn served(name: &str, version: &str, architecture: &str, depends: &str) -> PoolPackage {
        let mut package = package(name, depends);
        package.version = version.into();
        package.architecture = architecture.into();
        package.file_name = format!("{name}_{version}_{architecture}.deb");
        PoolPackage {
            format: FormatKind::Debian,
            pool_key: format!("apt/pool/ab/{}/{}", "ab".repeat(32), package.file_name),
            package,
            added_at: 0,
        }
    }

    #[test]
    fn dependencies_come_from_the_same_push_first_then_the_newest_the_repository_serves() {
        let mut app = package("app", "lib (>= 1.0), tool, libc6");
        app.architecture = "amd64".into();
        let lib = package("lib", "");
        let with = [Staged {
            path: Path::new("/s/lib.deb"),
            package: &lib,
            format: FormatKind::Debian,
        }];
        let subject = subject(&app, &with);
        let repository = [
            served("lib", "2.0", "all", ""),
            served("tool", "1.0", "all", ""),
            served("tool", "1.5", "all", "toollib"),
            served("tool", "9.0", "arm64", ""),
            served("toollib", "1.0", "amd64", ""),
            served("unrelated", "1.0", "all", ""),
        ];
        let plan = plan(&subject, "src-app".into(), "Tests: t\n", &repository).unwrap();
        let files: BTreeSet<&str> = plan.packages.iter().map(|p| p.file_name.as_str()).collect();
        // lib from the push (not the served 2.0), tool's newest for amd64 or all, toollib because
        // tool needs it; libc6 is left to the root.
        assert_eq!(
            files,
            BTreeSet::from([
                "app_1.0-1_all.deb",
                "lib_1.0-1_all.deb",
                "tool_1.5_all.deb",
                "toollib_1.0_amd64.deb"
            ])
        );
        let mut from_repository = plan.from_repository.clone();
        from_repository.sort();
        assert_eq!(from_repository, ["tool_1.5_all.deb", "toollib_1.0_amd64.deb"]);
        for package in &plan.packages {
            let served = plan.from_repository.contains(&package.file_name);
            // A served package streams from storage by its pool key; a staged one from its file.
            assert_eq!(package.key.is_some(), served, "{}", package.file_name);
            assert_eq!(package.local.is_none(), served, "{}", package.file_name);
        }
    }
}
