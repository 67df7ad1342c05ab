//! tmt's test and plan metadata (L1, L2) read from an fmf tree ([`super::fmf`]), in the subset the
//! gate runs (docs/gate.md "RPM: tmt"): which tests the plans select, and how each runs.
//!
//! - Tests: leaves with `test` (a shell command, run by bash with `set -eo pipefail` as tmt runs
//!   it), `path` (the working directory from the tree root; default the directory of the test's
//!   metadata), `require` (package names that must be installed), `duration` (the time limit,
//!   `sleep`'s format with `*N` multipliers; default 5m), `framework: shell`, `environment`,
//!   `result` (`respect`, `xfail`, `pass`, `info`), `enabled`, `order`, and keys that carry no
//!   behaviour here (`summary`, `description`, `contact`, `component`, `id`, `link`, `tag`, `tier`,
//!   `recommend` — nothing is installed but the package and its staged dependencies — `tty: false`
//!   and `extra-*`). Any other key (`adjust`, `check`, `manual: true`, `framework: beakerlib`,
//!   library or file `require`s, …) skips the test with the key named, as autopkgtest skips a test
//!   whose restrictions the testbed cannot meet.
//! - Plans: leaves with `execute` (`how: tmt`); `discover` one phase or a list, each `how: fmf`
//!   with optional `test` and `exclude` name patterns (literal text matched anywhere in the name,
//!   `^`/`$` anchoring — tmt's regular expressions without other metacharacters); `prepare` phases
//!   `how: install` with `package` (the packages must be installed, as `require`); `environment`;
//!   `enabled`. `provision`, `report`, `finish`, `summary`, `description`, `context` carry no
//!   behaviour (the testbed is the gate's). A plan that needs more (`filter`, a remote `url`,
//!   `how: shell`, another `prepare`, `adjust`) is skipped with that named. No plan at all: every
//!   test runs, as tmt's default plan runs them.

use std::time::Duration;

use yaml_rust2::yaml::Hash;
use yaml_rust2::Yaml;

use super::fmf::{kind, Leaf};

/// tmt's default `duration`.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(5 * 60);

/// Longest `duration` honoured: a day (the policy's own timeout bounds the whole run anyway).
const MAX_DURATION_SECONDS: f64 = 86_400.0;

/// How a test's exit status becomes its result (`result:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `respect`: 0 passes, 1 fails, anything else is an error.
    Respect,
    /// `xfail`: a failure passes and a pass fails; an error stays one.
    Xfail,
    /// `pass`: always passes (its outcome is shown).
    Pass,
    /// `info`: never fails (its outcome is shown).
    Info,
}

impl Expect {
    /// The word the test script reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Respect => "respect",
            Self::Xfail => "xfail",
            Self::Pass => "pass",
            Self::Info => "info",
        }
    }
}

/// One test to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TmtTest {
    /// Its fmf name (`/tests/smoke`).
    pub name: String,
    /// The shell command.
    pub command: String,
    /// Working directory, from the tree root (`/tests/smoke`).
    pub path: String,
    /// Packages (capabilities) that must be installed: its `require` and its plans' `prepare`.
    pub require: Vec<String>,
    /// Its time limit.
    pub duration: Duration,
    /// How its exit status is read.
    pub expect: Expect,
    /// `NAME=value` pairs set for it (the plan's, then its own).
    pub environment: Vec<(String, String)>,
    /// tmt's `order` (default 50): lower runs first.
    pub order: i64,
}

/// What the tree says to run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The tests to run, in order.
    pub tests: Vec<TmtTest>,
    /// `NAME SKIP why` for each test or plan that cannot run here.
    pub skipped: Vec<String>,
}

/// The tests `leaves` select to run, and what is skipped and why.
pub fn discover(leaves: &[Leaf]) -> Discovered {
    let plans: Vec<&Leaf> = leaves.iter().filter(|l| has(l, "execute")).collect();
    let tests: Vec<&Leaf> = leaves
        .iter()
        .filter(|l| has(l, "test") && !has(l, "execute"))
        .collect();
    let mut out = Discovered::default();
    let default_plan = Selection::default();
    let selections: Vec<(Selection, String)> = if plans.is_empty() {
        vec![(default_plan, String::new())]
    } else {
        plans
            .iter()
            .filter_map(|plan| match read_plan(plan) {
                Ok(Some(selection)) => Some((selection, plan.name.clone())),
                Ok(None) => None,
                Err(why) => {
                    out.skipped.push(format!("{} SKIP {why}", plan.name));
                    None
                }
            })
            .collect()
    };
    for leaf in tests {
        let chosen: Vec<&Selection> = selections
            .iter()
            .filter(|(s, _)| s.selects(&leaf.name))
            .map(|(s, _)| s)
            .collect();
        if chosen.is_empty() {
            continue;
        }
        match read_test(leaf) {
            Ok(None) => {}
            Ok(Some(mut test)) => {
                for selection in chosen {
                    for package in &selection.install {
                        if !test.require.contains(package) {
                            test.require.push(package.clone());
                        }
                    }
                    let own = std::mem::take(&mut test.environment);
                    test.environment = selection.environment.iter().cloned().chain(own).collect();
                }
                out.tests.push(test);
            }
            Err(why) => out.skipped.push(format!("{} SKIP {why}", leaf.name)),
        }
    }
    out.tests.sort_by_key(|t| t.order);
    out
}

/// What one plan selects and adds.
#[derive(Debug, Default)]
struct Selection {
    /// Per `discover` phase: the name patterns to include (empty: all) and to exclude.
    phases: Vec<(Vec<Pattern>, Vec<Pattern>)>,
    /// `prepare: how: install` packages.
    install: Vec<String>,
    /// The plan's `environment`.
    environment: Vec<(String, String)>,
}

impl Selection {
    fn selects(&self, name: &str) -> bool {
        if self.phases.is_empty() {
            return true;
        }
        self.phases.iter().any(|(include, exclude)| {
            (include.is_empty() || include.iter().any(|p| p.matches(name)))
                && !exclude.iter().any(|p| p.matches(name))
        })
    }
}

/// A `test`/`exclude` pattern: literal text, optionally anchored.
#[derive(Debug)]
struct Pattern {
    text: String,
    start: bool,
    end: bool,
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Self, String> {
        let start = pattern.starts_with('^');
        let inner = pattern.strip_prefix('^').unwrap_or(pattern);
        let end = inner.ends_with('$');
        let inner = inner.strip_suffix('$').unwrap_or(inner);
        if let Some(c) = inner.chars().find(|c| "\\.*+?()[]{}|^$".contains(*c)) {
            // `.` is common in names but means any character to tmt: refused, not guessed.
            return Err(format!(
                "test pattern {pattern:?}: {c:?} makes it a regular expression, which the gate does \
                 not evaluate (literal names with ^/$ only)"
            ));
        }
        Ok(Self {
            text: inner.to_owned(),
            start,
            end,
        })
    }

    fn matches(&self, name: &str) -> bool {
        match (self.start, self.end) {
            (true, true) => name == self.text,
            (true, false) => name.starts_with(&self.text),
            (false, true) => name.ends_with(&self.text),
            (false, false) => name.contains(&self.text),
        }
    }
}

fn has(leaf: &Leaf, key: &str) -> bool {
    leaf.data.contains_key(&Yaml::String(key.into()))
}

fn field<'a>(data: &'a Hash, key: &str) -> Option<&'a Yaml> {
    data.get(&Yaml::String(key.into()))
}

/// A plan's selection; `None` when it is disabled.
fn read_plan(plan: &Leaf) -> Result<Option<Selection>, String> {
    let data = &plan.data;
    if field(data, "enabled") == Some(&Yaml::Boolean(false)) {
        return Ok(None);
    }
    if has(plan, "adjust") {
        return Err("adjust: its rules need a context (distro, arch) the gate does not define".into());
    }
    for phase in phases(field(data, "execute"))? {
        let how = text(&phase, "how")?.unwrap_or_else(|| "tmt".into());
        if how != "tmt" {
            return Err(format!("execute how: {how} (only tmt runs here)"));
        }
    }
    let mut selection = Selection::default();
    for phase in phases(field(data, "discover"))? {
        let how = text(&phase, "how")?.unwrap_or_default();
        if how != "fmf" {
            return Err(format!("discover how: {how:?} (only fmf is read)"));
        }
        for (key, _) in &phase {
            match key.as_str().unwrap_or_default() {
                "how" | "name" | "summary" | "order" | "test" | "exclude" => {}
                other => return Err(format!("discover {other}: not in the subset the gate runs")),
            }
        }
        let patterns = |key: &str| -> Result<Vec<Pattern>, String> {
            strings(field(&phase, key), key)?
                .iter()
                .map(|p| Pattern::parse(p))
                .collect()
        };
        selection.phases.push((patterns("test")?, patterns("exclude")?));
    }
    for phase in phases(field(data, "prepare"))? {
        let how = text(&phase, "how")?.unwrap_or_default();
        if how != "install" {
            return Err(format!(
                "prepare how: {how:?}: only `install` is met (as `require`: nothing is fetched)"
            ));
        }
        selection
            .install
            .extend(package_names(field(&phase, "package"), "prepare package")?);
    }
    selection.environment = environment(field(data, "environment"))?;
    Ok(Some(selection))
}

/// A step's phases: one mapping or a list of them (none when absent).
fn phases(step: Option<&Yaml>) -> Result<Vec<Hash>, String> {
    match step {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Hash(phase)) => Ok(vec![phase.clone()]),
        Some(Yaml::Array(list)) => list
            .iter()
            .map(|p| match p {
                Yaml::Hash(phase) => Ok(phase.clone()),
                other => Err(format!("a step phase is {}, not a mapping", kind(other))),
            })
            .collect(),
        Some(other) => Err(format!("a step is {}, not a mapping", kind(other))),
    }
}

/// A test to run; `None` when it is disabled (`enabled: false`, which tmt does not discover).
fn read_test(leaf: &Leaf) -> Result<Option<TmtTest>, String> {
    let data = &leaf.data;
    if field(data, "enabled") == Some(&Yaml::Boolean(false)) {
        return Ok(None);
    }
    let mut test = TmtTest {
        name: leaf.name.clone(),
        command: String::new(),
        path: leaf.dir.clone(),
        require: Vec::new(),
        duration: DEFAULT_DURATION,
        expect: Expect::Respect,
        environment: Vec::new(),
        order: 50,
    };
    for (key, value) in data {
        let key = key.as_str().unwrap_or_default();
        match key {
            "test" => test.command = string(value, key)?,
            "path" => test.path = relative_path(&string(value, key)?)?,
            "require" => test.require = package_names(Some(value), key)?,
            "duration" => test.duration = duration(&string(value, key)?)?,
            "environment" => test.environment = environment(Some(value))?,
            "order" => {
                test.order = value
                    .as_i64()
                    .ok_or_else(|| format!("order is {}, not an integer", kind(value)))?
            }
            "framework" => match value.as_str() {
                Some("shell") => {}
                _ => return Err(format!("framework: {} (only shell runs here)", scalar(value))),
            },
            "result" => {
                test.expect = match value.as_str() {
                    Some("respect") => Expect::Respect,
                    Some("xfail") => Expect::Xfail,
                    Some("pass") => Expect::Pass,
                    Some("info") => Expect::Info,
                    _ => {
                        return Err(format!(
                            "result: {} is not in the subset the gate runs",
                            scalar(value)
                        ))
                    }
                }
            }
            "manual" | "tty" if value == &Yaml::Boolean(false) => {}
            "enabled" | "summary" | "description" | "contact" | "component" | "id" | "link" | "tag"
            | "tier" | "recommend" => {}
            _ if key.starts_with("extra-") => {}
            "adjust" => {
                return Err("adjust: its rules need a context (distro, arch) the gate does not define".into())
            }
            other => return Err(format!("{other}: not in the subset the gate runs")),
        }
    }
    if test.command.trim().is_empty() {
        return Err("test is empty".into());
    }
    Ok(Some(test))
}

/// A value as a message shows it: a scalar as written, anything else by its kind.
fn scalar(value: &Yaml) -> String {
    string(value, "").unwrap_or_else(|_| kind(value).to_owned())
}

fn string(value: &Yaml, key: &str) -> Result<String, String> {
    match value {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Real(r) => Ok(r.clone()),
        other => Err(format!("{key} is {}, not a string", kind(other))),
    }
}

fn text(data: &Hash, key: &str) -> Result<Option<String>, String> {
    field(data, key).map(|v| string(v, key)).transpose()
}

/// A string or a list of strings (none when absent).
fn strings(value: Option<&Yaml>, key: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Array(list)) => list.iter().map(|v| string(v, key)).collect(),
        Some(one) => Ok(vec![string(one, key)?]),
    }
}

/// Package names (`require`, `prepare package`): plain names, no library or file references.
fn package_names(value: Option<&Yaml>, key: &str) -> Result<Vec<String>, String> {
    if let Some(Yaml::Array(list)) = value {
        if list.iter().any(|v| matches!(v, Yaml::Hash(_))) {
            return Err(format!(
                "{key}: a library or file reference is not in the subset the gate runs (package names only)"
            ));
        }
    }
    let names = strings(value, key)?;
    if let Some(bad) = names.iter().find(|n| {
        n.is_empty() || n.starts_with('-') || n.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(format!("{key}: {bad:?} is not a package name"));
    }
    Ok(names)
}

/// `environment`: a mapping of variable names to scalars.
fn environment(value: Option<&Yaml>) -> Result<Vec<(String, String)>, String> {
    let hash = match value {
        None | Some(Yaml::Null) => return Ok(Vec::new()),
        Some(Yaml::Hash(hash)) => hash,
        Some(other) => return Err(format!("environment is {}, not a mapping", kind(other))),
    };
    let mut out = Vec::new();
    for (name, value) in hash {
        let name = string(name, "environment")?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("environment: {name:?} is not a variable name"));
        }
        let value = match value {
            Yaml::Boolean(b) => b.to_string(),
            other => string(other, &name)?,
        };
        if value.contains(['\n', '\0']) {
            return Err(format!("environment: {name} holds a newline"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// `path`: from the tree root, starting with `/`, without `..`.
fn relative_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') || path.split('/').any(|p| p == "..") || path.contains('\0') {
        return Err(format!(
            "path {path:?} is not a directory from the tree root (starting with /, without ..)"
        ));
    }
    Ok(path.trim_end_matches('/').to_owned())
}

/// `duration`: `sleep`'s format — numbers with an optional `s`, `m`, `h` or `d`, summed — then
/// every `*N` multiplied in; rounded up to whole seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("duration {text:?} is not in tmt's format (`5m`, `1h 30m`, `'*2'`)");
    let (mut sum, mut factor) = (0.0_f64, 1.0_f64);
    for word in text.split_whitespace() {
        if let Some(n) = word.strip_prefix('*') {
            factor *= n.parse::<f64>().map_err(|_| bad())?;
            continue;
        }
        let (number, unit) = match word.char_indices().last() {
            Some((at, c)) if c.is_ascii_alphabetic() => (&word[..at], c),
            _ => (word, 's'),
        };
        let seconds = match unit {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86_400.0,
            _ => return Err(bad()),
        };
        sum += number.parse::<f64>().map_err(|_| bad())? * seconds;
    }
    let total = (sum * factor).ceil();
    if !total.is_finite() || total <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total.min(MAX_DURATION_SECONDS) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    fn leaf(name: &str, dir: &str, yaml: &str) -> Leaf {
        let Yaml::Hash(data) = YamlLoader::load_from_str(yaml).unwrap().remove(0) else {
            panic!("{yaml}")
        };
        Leaf {
            name: name.into(),
            data,
            dir: dir.into(),
        }
    }

    #[test]
    fn plans_select_tests_and_add_their_packages_and_environment() {
        let leaves = [
            leaf(
                "/plans/smoke",
                "/plans",
                "discover:\n  how: fmf\n  test: [^/tests/greets$, /tests/late]\nexecute:\n  how: tmt\n\
                 prepare:\n  how: install\n  package: [coreutils]\nenvironment:\n  MODE: smoke\n",
            ),
            leaf(
                "/plans/remote",
                "/plans",
                "discover:\n  how: fmf\n  url: https://x\nexecute:\n  how: tmt\n",
            ),
            leaf(
                "/tests/greets",
                "/tests",
                "test: greeter | grep Hello\nrequire: greeter\nduration: 1m 30\nenvironment:\n  WHO: me\n",
            ),
            leaf(
                "/tests/late",
                "/tests/late",
                "test: ./run.sh\norder: 10\nresult: xfail\npath: /tests\n",
            ),
            leaf("/tests/other", "/tests", "test: exit 0\n"),
            leaf(
                "/tests/lib",
                "/tests",
                "test: x\nrequire:\n  - type: library\n    url: u\n",
            ),
        ];
        let found = discover(&leaves);
        let names: Vec<&str> = found.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["/tests/late", "/tests/greets"],
            "order 10 first; /tests/other not selected"
        );
        let greets = &found.tests[1];
        assert_eq!(greets.require, ["greeter", "coreutils"]);
        assert_eq!(greets.duration, Duration::from_secs(90));
        assert_eq!(greets.path, "/tests");
        assert_eq!(
            greets.environment,
            [
                ("MODE".to_string(), "smoke".to_string()),
                ("WHO".into(), "me".into())
            ]
        );
        assert_eq!(found.tests[0].expect, Expect::Xfail);
        assert_eq!(found.tests[0].path, "/tests");
        assert_eq!(
            found.skipped,
            ["/plans/remote SKIP discover url: not in the subset the gate runs"]
        );
    }

    #[test]
    fn without_plans_every_test_runs_and_unsupported_keys_skip_the_test_by_name() {
        let leaves = [
            leaf("/a", "/", "test: ok\n"),
            leaf("/b", "/", "test: x\nframework: beakerlib\n"),
            leaf(
                "/c",
                "/",
                "test: x\nadjust:\n  enabled: false\n  when: distro == fedora\n",
            ),
            leaf("/d", "/", "test: x\nenabled: false\n"),
            leaf("/e", "/", "test: x\ncheck: avc\n"),
            leaf("/f", "/", "test: x\npath: ../up\n"),
            leaf("/g", "/", "summary: a story, not a test\n"),
        ];
        let found = discover(&leaves);
        assert_eq!(found.tests.len(), 1);
        assert_eq!(found.tests[0].duration, DEFAULT_DURATION);
        assert_eq!(found.tests[0].path, "/");
        let skipped = found.skipped.join("\n");
        assert!(skipped.contains("/b SKIP framework"), "{skipped}");
        assert!(skipped.contains("/c SKIP adjust"), "{skipped}");
        assert!(skipped.contains("/e SKIP check: not in the subset"), "{skipped}");
        assert!(skipped.contains("/f SKIP path"), "{skipped}");
        assert!(
            !skipped.contains("/d"),
            "a disabled test is not discovered: {skipped}"
        );
    }

    #[test]
    fn durations_sum_then_multiply_and_round_up() {
        assert_eq!(duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            duration("1h 3h 2m 3").unwrap(),
            Duration::from_secs(4 * 3600 + 123)
        );
        assert_eq!(duration("*3 2s *4").unwrap(), Duration::from_secs(24));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_secs(2));
        assert!(duration("soon").is_err());
        assert!(duration("").is_err());
        assert!(Pattern::parse("/tests/.*").is_err());
    }
}
