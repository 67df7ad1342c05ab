//! Tests on a builder: a staged package's own tests, by its format's convention, run on a builder
//! with the package installed — each package on its own, in a root made afresh for it, with no
//! network — instead of a command on the master (`[repositories.policy.test] on = "builder"`,
//! docs/gate.md "Tests on a builder").
//!
//! - Debian ([`debian`]): autopkgtest's `debian/tests/control` in a documented subset
//!   ([`autopkgtest`]), in the build root the dpkg toolchain uses (the `mmdebstrap` tarball), the
//!   package and the staged packages it depends on streamed to the builder through the builders'
//!   own cache flow ([`crate::builders::cache`]) and installed with `dpkg`.
//! - Haiku ([`haiku`]): HaikuPorter's own `TEST()`, which HaikuPorter runs with the port's build
//!   (`haikuporter --test`): the package's recorded build job again with `--test`, for the
//!   HaikuPorts repository's gate.
//! - RPM ([`rpm`]): tmt's test and plan metadata in an fmf tree ([`fmf`], [`tmt`]) in a documented
//!   subset, the package and the staged packages it requires installed with the real `rpm --root`
//!   into a fresh root unpacked from the policy's `root_tarball`, streamed as Debian's are.
//!
//! The builder is a `[[builders]]` entry, bound to the policy when the instance's repositories are
//! opened ([`bind`]); the check's log and verdict are recorded as a command check's are.

pub mod autopkgtest;
pub mod debian;
pub mod fmf;
pub mod haiku;
pub mod rpm;
pub mod served;
mod session;
pub mod tmt;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use buildmaster_storage::{Sha256Digest, StorageBackend};

use super::command_check::{CommandOutcome, Subject, MAX_LOG_BYTES};
use super::policy::CommandSection;
use crate::builders::config::{BuilderSection, BuilderSpec};
use crate::builders::package::WantedPackage;
use crate::formats::FormatKind;
use crate::repos::config::Repository;
use crate::toolchains::Toolchain;

/// Where the tests work on a builder when the policy does not say (`work_dir`).
pub const DEFAULT_WORK_DIR: &str = "/var/tmp/buildmaster-gate-tests";

/// A `[[builders]]` entry a test may run on, resolved. Compared by name: a policy is the same policy
/// whichever connection details its builder has.
#[derive(Clone, Debug)]
pub struct BoundBuilder(pub Arc<BuilderSpec>);

impl PartialEq for BoundBuilder {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for BoundBuilder {}

/// `[repositories.policy.test]` with `on = "builder"`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuilderTest {
    /// The `[[builders]]` entry named by `builder`; `None`: any of them.
    pub builder: Option<String>,
    /// The tests tree on the master (`<source>/debian/tests/control`).
    pub tests: Option<PathBuf>,
    /// Debian: the build root tarball on the builder.
    pub root_tarball: Option<String>,
    /// The directory the tests work in on the builder.
    pub work_dir: String,
    /// The builders it may run on, in order; empty until [`bind`] (then a run fails, naming it).
    pub builders: Vec<BoundBuilder>,
    /// Haiku: the instance whose recorded builds are run again ([`haiku::bind`]).
    pub haiku: Option<haiku::HaikuBinding>,
    /// The packages the repository already serves, which a test installs when its own push does
    /// not provide a dependency ([`served::bind_served`]).
    pub served: Option<served::ServedPool>,
}

impl BuilderTest {
    /// The settings of `section` (`[repositories.policy.KEY]` with `on = "builder"`).
    pub fn from_section(key: &str, section: &CommandSection) -> Result<Self, String> {
        if !section.command.is_empty() {
            return Err(format!(
                "[repositories.policy.{key}] `command` with `on = \"builder\"`: a test on a builder runs \
                 the format's own tests (docs/gate.md); remove `command` or `on`"
            ));
        }
        let work_dir = section
            .work_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_WORK_DIR.into());
        if !work_dir.starts_with('/') || work_dir.split('/').any(|part| part == "..") {
            return Err(format!(
                "[repositories.policy.{key}] `work_dir` = {work_dir:?} is not an absolute path without .."
            ));
        }
        Ok(Self {
            builder: section.builder.clone(),
            tests: section.tests.clone(),
            root_tarball: section.root_tarball.clone(),
            work_dir: work_dir.trim_end_matches('/').to_owned(),
            builders: Vec::new(),
            haiku: None,
            served: None,
        })
    }
}

/// A repository's test names a builder that is not configured, or one that cannot be resolved.
#[derive(Debug, thiserror::Error)]
#[error("[[repositories]] {repository}: [repositories.policy.test] {message}")]
pub struct BindError {
    /// The repository whose policy it is.
    pub repository: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Gives every test on a builder of `repositories` the `[[builders]]` entries it may run on (the
/// named one, or all of them), resolved now, so that a wrong name is refused before any push.
pub fn bind(repositories: &mut [Repository], builders: &[BuilderSection]) -> Result<(), BindError> {
    for repository in repositories {
        let id = repository.id().to_owned();
        let kind = repository.format();
        let Some(test) = repository
            .policy
            .test
            .as_mut()
            .and_then(|check| check.on_builder.as_mut())
        else {
            continue;
        };
        let fail = |message: String| BindError {
            repository: id.clone(),
            message,
        };
        let chosen: Vec<&BuilderSection> = match &test.builder {
            Some(name) => {
                let found = builders.iter().find(|b| &b.name == name).ok_or_else(|| {
                    fail(format!(
                        "`builder` = {name:?}: no [[builders]] entry has that name"
                    ))
                })?;
                vec![found]
            }
            None => builders.iter().collect(),
        };
        if chosen.is_empty() {
            return Err(fail(
                "`on = \"builder\"` needs a [[builders]] entry to run on; add one".into(),
            ));
        }
        if kind == FormatKind::Rpm && (test.tests.is_none() || test.root_tarball.is_none()) {
            return Err(fail(rpm::missing_keys_message(test)));
        }
        test.builders = chosen
            .into_iter()
            .map(|b| b.resolve().map(|spec| BoundBuilder(Arc::new(spec))))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(format!("its builder: {e}")))?;
    }
    Ok(())
}

/// Runs `subject`'s tests on a builder, within `timeout`.
pub async fn run(test: &BuilderTest, timeout: Duration, subject: &Subject<'_>) -> CommandOutcome {
    match subject.format {
        FormatKind::Debian => debian::run(test, timeout, subject).await,
        FormatKind::Haiku => haiku::run(test, timeout, subject.package).await,
        FormatKind::Rpm => rpm::run(test, timeout, subject).await,
    }
}

/// One package's tests as a builder runs them, decided on the master.
struct Steps<'a> {
    /// The package under test first, then what it needs: streamed into the tests' cache.
    packages: &'a [WantedPackage],
    /// Where those without a local file (already served) are read from.
    storage: Option<Arc<dyn StorageBackend>>,
    /// The tests' files on the master.
    tests_dir: &'a Path,
    /// Where they are copied on the builder.
    remote_tests_dir: String,
    /// The format's constant script with its parameters; its output ends in `buildmaster:
    /// summary` and one `NAME VERDICT` line per test; it exits 0 (passed), 1 (a test failed) or 8
    /// (no test ran).
    argv: Vec<String>,
    /// Lines for the log's header after what was sent (where packages came from).
    notes: Vec<String>,
    /// `NAME SKIP why` for each test not run.
    skipped: &'a [String],
}

/// Runs `steps` on the first of `test`'s builders that connects, with `toolchain` placing the
/// packages: streamed, the tests copied, the script run; the log headed by what was sent and
/// skipped, the summary naming the failed tests.
async fn run_on_builder(
    test: &BuilderTest,
    toolchain: Arc<dyn Toolchain>,
    steps: &Steps<'_>,
    timeout: Duration,
) -> CommandOutcome {
    let mut session = match session::TestSession::connect(test, toolchain).await {
        Ok(session) => session,
        Err(why) => return could_not_run(why),
    };
    let outcome = run_steps(&mut session, steps, timeout).await;
    session.close().await;
    outcome
}

/// [`run_on_builder`]'s steps on the connected builder.
async fn run_steps(
    session: &mut session::TestSession,
    steps: &Steps<'_>,
    timeout: Duration,
) -> CommandOutcome {
    let builder = session.name().to_owned();
    let placed = session
        .place_packages(steps.packages, steps.storage.clone())
        .await;
    let sent = match placed {
        Ok(report) => report,
        Err(e) => return could_not_run(format!("streaming the packages to builder {builder}: {e}")),
    };
    if let Err(why) = session
        .write_tree(steps.tests_dir, &steps.remote_tests_dir, timeout)
        .await
    {
        return could_not_run(format!("copying the tests to builder {builder}: {why}"));
    }
    let (status, mut outcome) = session.run(&steps.argv, timeout).await;
    let mut header = format!(
        "buildmaster: builder {builder}; sent {} ({} bytes), already cached {}\n",
        list(&sent.sent),
        sent.bytes,
        list(&sent.already_cached)
    );
    for line in steps.notes.iter().chain(steps.skipped) {
        header.push_str(&format!("{line}\n"));
    }
    let ran = summary_lines(&outcome.log);
    let all: Vec<&str> = ran
        .iter()
        .copied()
        .chain(steps.skipped.iter().map(String::as_str))
        .collect();
    outcome.summary = match status {
        Some(0) => format!("{} on builder {builder}", all.join(", ")),
        Some(8) => format!("no test ran on builder {builder}: {}", all.join(", ")),
        Some(_) if !ran.is_empty() => {
            let failed: Vec<&str> = ran
                .iter()
                .copied()
                .filter(|r| r.contains(" FAIL") || r.contains(" ERROR"))
                .collect();
            format!("{} on builder {builder}", failed.join(", "))
        }
        _ => format!(
            "{} (before any test ran: the package or its dependencies did not install)",
            outcome.summary
        ),
    };
    outcome.log = crate::bounded_text::shortened(&format!("{header}{}", outcome.log), MAX_LOG_BYTES);
    outcome
}

/// `sh -eu -c SCRIPT NAME TARBALL WORK/run TESTS PACKAGES`: a format's constant test script with
/// the parameters every one of them takes first (the root's tarball, its run directory, the tests
/// on the builder, the visible packages); the per-test parameters are appended by the caller.
fn script_argv(
    script: &str,
    name: &str,
    tarball: &str,
    work: &str,
    tests: &str,
    packages: &str,
) -> Vec<String> {
    [
        "sh",
        "-eu",
        "-c",
        script,
        name,
        tarball,
        &format!("{work}/run"),
        tests,
        packages,
    ]
    .map(String::from)
    .to_vec()
}

/// A script's summary lines (`NAME PASS`, `NAME FAIL …`, …), after its `summary` marker.
fn summary_lines(log: &str) -> Vec<&str> {
    log.rsplit_once("buildmaster: summary\n")
        .map(|(_, tail)| tail.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// A staged file as the builder cache wants it (its bytes in the local file).
fn wanted_package(path: &Path, package: &crate::formats::InspectedPackage) -> Result<WantedPackage, String> {
    Ok(WantedPackage {
        file_name: package.file_name.clone(),
        size: package.size,
        sha256: Sha256Digest::from_hex(&package.sha256).ok_or_else(|| {
            format!(
                "{}: recorded SHA-256 {:?} is not one",
                package.file_name, package.sha256
            )
        })?,
        local: Some(path.to_owned()),
        key: None,
        system: false,
    })
}

/// A failed outcome with no log: the tests could not run, for `summary`.
fn could_not_run(summary: String) -> CommandOutcome {
    CommandOutcome {
        passed: false,
        summary,
        log: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct File {
        repositories: Vec<crate::repos::config::RepositorySection>,
        #[serde(default)]
        builders: Vec<BuilderSection>,
    }

    fn instance(builder: &str, builders: &str) -> (Vec<Repository>, Vec<BuilderSection>) {
        let text = format!(
            "[[repositories]]\nid = \"debian/b\"\nroot = \"apt\"\n[repositories.debian]\ncodename = \"b\"\n\
             architectures = [\"all\"]\n[repositories.policy.test]\non = \"builder\"\n{builder}\n{builders}"
        );
        let file: File = toml::from_str(&text).unwrap();
        (
            crate::repos::config::resolve(&file.repositories).unwrap(),
            file.builders,
        )
    }

    const TWO: &str = "[[builders]]\nname = \"b1\"\n[builders.portstree]\npath = \"/srv/t\"\n\
                       [[builders]]\nname = \"b2\"\n[builders.portstree]\npath = \"/srv/t\"\n";

    #[test]
    fn the_named_builder_or_every_builder_is_bound_and_a_wrong_name_is_refused() {
        let bound = |repos: &[Repository]| -> Vec<String> {
            let test = repos[0]
                .policy
                .test
                .as_ref()
                .unwrap()
                .on_builder
                .as_ref()
                .unwrap();
            test.builders.iter().map(|b| b.0.name.clone()).collect()
        };
        let (mut repos, builders) = instance("builder = \"b2\"", TWO);
        bind(&mut repos, &builders).unwrap();
        assert_eq!(bound(&repos), ["b2"]);
        let (mut repos, builders) = instance("", TWO);
        bind(&mut repos, &builders).unwrap();
        assert_eq!(bound(&repos), ["b1", "b2"]);
        let (mut repos, builders) = instance("builder = \"b9\"", TWO);
        let err = bind(&mut repos, &builders).unwrap_err().to_string();
        assert!(err.contains("debian/b") && err.contains("\"b9\""), "{err}");
        let (mut repos, builders) = instance("", "");
        let err = bind(&mut repos, &builders).unwrap_err().to_string();
        assert!(err.contains("needs a [[builders]] entry"), "{err}");
    }

    #[test]
    fn the_summary_is_the_scripts_last_section() {
        let log = "buildmaster: running test t\nboom\nbuildmaster: summary\nt FAIL non-zero exit status 1\nu PASS\n";
        assert_eq!(summary_lines(log), ["t FAIL non-zero exit status 1", "u PASS"]);
    }

    #[test]
    fn an_rpm_test_without_its_tree_or_root_is_refused_naming_the_keys() {
        let bind_rpm = |keys: &str| {
            let text = format!(
                "[[repositories]]\nid = \"el/9\"\nroot = \"rpm/el/9\"\n[repositories.rpm]\ndistro = \"el\"\n\
                 release = \"9\"\narch = \"x86_64\"\n[repositories.policy.test]\non = \"builder\"\n{keys}\n{TWO}"
            );
            let file: File = toml::from_str(&text).unwrap();
            let mut repos = crate::repos::config::resolve(&file.repositories).unwrap();
            bind(&mut repos, &file.builders).map_err(|e| e.to_string())
        };
        let err = bind_rpm("").unwrap_err();
        assert!(
            err.contains("el/9") && err.contains("`tests`") && err.contains("`root_tarball`"),
            "{err}"
        );
        let err = bind_rpm("tests = \"/t\"").unwrap_err();
        assert!(
            !err.contains("`tests`") && err.contains("`root_tarball`"),
            "{err}"
        );
        bind_rpm("tests = \"/t\"\nroot_tarball = \"/r.tar\"").unwrap();
    }
}
