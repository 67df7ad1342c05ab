//! A repository's gate policy (`[repositories.policy]` in buildmaster.toml): which checks run on a
//! staged package before it may be promoted, and which of them block.
//!
//! ```toml
//! [repositories.policy]
//! installability = "block"            # every staged package resolves (default: block)
//! base = ["debian/bookworm-base"]     # repositories its dependencies may also come from
//! [repositories.policy.lint]
//! command = ["lintian", "--no-tag-display-limit", "{file}"]   # advisory unless mode = "block"
//! [repositories.policy.test]
//! command = ["/etc/buildmaster/run-package-tests", "{file}"]   # blocking unless mode = "report"
//! timeout_seconds = 600
//! ```
//!
//! A command is an argument vector, never a shell string: `{file}` in an argument is replaced by the
//! staged package's local path, and the package's name, version and architecture are in the
//! environment (`BUILDMASTER_PACKAGE_NAME`, `…_VERSION`, `…_ARCHITECTURE`). Exit status 0 passes.
//!
//! A test may instead run **on a builder** with the staged package installed, by the format's own
//! test convention ([`super::builder_tests`], docs/gate.md "Tests on a builder"):
//!
//! ```toml
//! [repositories.policy.test]
//! on = "builder"                      # default "master" (the command above)
//! builder = "debian-1"                # a [[builders]] name; default: the first that connects
//! tests = "/srv/debian-tests"         # <source>/debian/tests/control, keyed by source package
//! root_tarball = "/var/cache/buildmaster/bookworm-buildd.tar"   # on the builder
//! ```

use serde::{Deserialize, Serialize};

use super::builder_tests::BuilderTest;

/// Whether a check runs, and whether its failure keeps a package staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A failure keeps the package staged until fixed or waived.
    Block,
    /// A failure is recorded and shown; the package is promoted anyway.
    Report,
    /// The check does not run.
    Off,
}

/// The checks a gate runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// Every dependency resolvable in the repository as it would be after promotion, plus its bases.
    Installability,
    /// The format's linter (lintian, rpmlint, …), as configured.
    Lint,
    /// The package's tests, as configured.
    Test,
}

impl CheckKind {
    /// The lowercase name used in config, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installability => "installability",
            Self::Lint => "lint",
            Self::Test => "test",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Installability, Self::Lint, Self::Test]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// `[repositories.policy]` as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Mode of the installability check; default `block`.
    #[serde(default)]
    pub installability: Option<Mode>,
    /// Ids of base repositories (same format) dependencies may be satisfied from.
    #[serde(default)]
    pub base: Vec<String>,
    /// `[repositories.policy.lint]`; no lint without it.
    #[serde(default)]
    pub lint: Option<CommandSection>,
    /// `[repositories.policy.test]`; no tests without it.
    #[serde(default)]
    pub test: Option<CommandSection>,
}

/// Where a test runs (`on` in `[repositories.policy.test]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestPlace {
    /// The configured command, on the master (the default).
    #[default]
    Master,
    /// The format's test convention, on a builder with the package installed.
    Builder,
}

/// A command check as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSection {
    /// The argument vector; `{file}` is replaced by the package's path. Required on the master;
    /// a test on a builder has none (the format's convention says what runs).
    #[serde(default)]
    pub command: Vec<String>,
    /// Default: `report` for lint, `block` for tests.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Default 600 s; the command is killed after it.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Where the check runs; default `master`. Only tests run on a builder.
    #[serde(default)]
    pub on: TestPlace,
    /// With `on = "builder"`: the `[[builders]]` entry to run on; default: the first of them that
    /// connects.
    #[serde(default)]
    pub builder: Option<String>,
    /// With `on = "builder"`: the tests tree on the master, laid out like a Debian recipe tree
    /// (`<source package>/debian/tests/control`): a Debian recipe tree itself serves.
    #[serde(default)]
    pub tests: Option<std::path::PathBuf>,
    /// With `on = "builder"`, Debian: the build root tarball on the builder (`mmdebstrap
    /// --variant=buildd --format=tar`), unpacked afresh for every package's tests.
    #[serde(default)]
    pub root_tarball: Option<String>,
    /// With `on = "builder"`: the directory on the builder the tests work in (their own package
    /// cache included); default [`super::builder_tests::DEFAULT_WORK_DIR`].
    #[serde(default)]
    pub work_dir: Option<String>,
}

/// A command check, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandCheck {
    /// The argument vector; empty for a test on a builder.
    pub command: Vec<String>,
    /// Its mode.
    pub mode: Mode,
    /// How long it may run.
    pub timeout: std::time::Duration,
    /// `Some` when the test runs on a builder instead of the command.
    pub on_builder: Option<BuilderTest>,
}

/// A repository's policy, resolved with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Mode of the installability check.
    pub installability: Mode,
    /// Base repository ids.
    pub base: Vec<String>,
    /// The lint check, if configured.
    pub lint: Option<CommandCheck>,
    /// The test check, if configured.
    pub test: Option<CommandCheck>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::resolve(&PolicySection::default()).expect("the default policy is valid")
    }
}

impl Policy {
    /// Resolves `section`; the error says which key is wrong.
    pub fn resolve(section: &PolicySection) -> Result<Policy, String> {
        let command = |key: &str, section: &Option<CommandSection>, default: Mode| {
            section
                .as_ref()
                .map(|s| {
                    let on_builder = match s.on {
                        TestPlace::Master => {
                            if s.command.is_empty() || s.command[0].is_empty() {
                                return Err(format!("[repositories.policy.{key}] `command` is empty"));
                            }
                            if s.builder.is_some() || s.tests.is_some() || s.root_tarball.is_some() {
                                return Err(format!(
                                    "[repositories.policy.{key}] `builder`, `tests` and `root_tarball` \
                                     need `on = \"builder\"`"
                                ));
                            }
                            None
                        }
                        TestPlace::Builder if key != "test" => {
                            return Err(format!(
                                "[repositories.policy.{key}] `on = \"builder\"`: only tests run on a builder"
                            ))
                        }
                        TestPlace::Builder => Some(BuilderTest::from_section(key, s)?),
                    };
                    Ok(CommandCheck {
                        command: s.command.clone(),
                        mode: s.mode.unwrap_or(default),
                        timeout: std::time::Duration::from_secs(
                            s.timeout_seconds.unwrap_or(600).clamp(1, 86_400),
                        ),
                        on_builder,
                    })
                })
                .transpose()
        };
        Ok(Policy {
            installability: section.installability.unwrap_or(Mode::Block),
            base: section.base.clone(),
            lint: command("lint", &section.lint, Mode::Report)?,
            test: command("test", &section.test, Mode::Block)?,
        })
    }

    /// The command of `kind`, if it runs.
    pub fn command(&self, kind: CheckKind) -> Option<&CommandCheck> {
        match kind {
            CheckKind::Lint => self.lint.as_ref(),
            CheckKind::Test => self.test.as_ref(),
            CheckKind::Installability => None,
        }
        .filter(|check| check.mode != Mode::Off)
    }

    /// The mode of `kind`.
    pub fn mode(&self, kind: CheckKind) -> Mode {
        match kind {
            CheckKind::Installability => self.installability,
            other => self.command(other).map_or(Mode::Off, |c| c.mode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_block_installability_and_tests_and_report_lint() {
        let section: PolicySection = toml::from_str(
            "[lint]\ncommand = [\"lintian\", \"{file}\"]\n[test]\ncommand = [\"run\", \"{file}\"]\n",
        )
        .unwrap();
        let policy = Policy::resolve(&section).unwrap();
        assert_eq!(policy.mode(CheckKind::Installability), Mode::Block);
        assert_eq!(policy.mode(CheckKind::Lint), Mode::Report);
        assert_eq!(policy.mode(CheckKind::Test), Mode::Block);
        assert_eq!(Policy::default().mode(CheckKind::Lint), Mode::Off);
    }

    #[test]
    fn a_test_on_a_builder_has_no_command_and_only_tests_run_there() {
        let parse = |text: &str| Policy::resolve(&toml::from_str::<PolicySection>(text).unwrap());
        let policy = parse("[test]\non = \"builder\"\nbuilder = \"b1\"\ntests = \"/t\"\n").unwrap();
        let test = policy.test.as_ref().unwrap();
        assert_eq!(test.mode, Mode::Block);
        let on = test.on_builder.as_ref().unwrap();
        assert_eq!(on.builder.as_deref(), Some("b1"));
        assert_eq!(on.work_dir, super::super::builder_tests::DEFAULT_WORK_DIR);
        let refused = |text: &str, what: &str| {
            let err = parse(text).unwrap_err();
            assert!(err.contains(what), "{text}: {err}");
        };
        refused(
            "[test]\non = \"builder\"\ncommand = [\"x\"]\n",
            "remove `command`",
        );
        refused("[lint]\non = \"builder\"\n", "only tests run on a builder");
        refused(
            "[test]\ncommand = [\"x\"]\nbuilder = \"b1\"\n",
            "need `on = \"builder\"`",
        );
        refused(
            "[test]\non = \"builder\"\nwork_dir = \"tmp/x\"\n",
            "absolute path",
        );
        assert!(toml::from_str::<PolicySection>("[test]\non = \"moon\"\n").is_err());
    }

    #[test]
    fn unknown_keys_and_empty_commands_are_refused() {
        assert!(toml::from_str::<PolicySection>("lnt = 1\n").is_err());
        let section: PolicySection = toml::from_str("[test]\ncommand = []\n").unwrap();
        assert!(Policy::resolve(&section).unwrap_err().contains("policy.test"));
    }
}
