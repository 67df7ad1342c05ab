//! The gate of the HaikuPorts repository — the one `buildmaster publish` (and a buildrun's or the
//! daemon's publish) fills from `<state>/packages/`: its policy (`[publish.policy]`, read with the
//! staging storage of `[gate]`), and which of its open pipelines can be promoted.
//!
//! Installability uses the Haiku solver rules of `repo check` ([`crate::formats::haiku::check`]): every
//! `requires` of a staged package must be provided by the index as it would be after promotion (the
//! published packages, newest version per name, plus the packages of every pipeline promoted with it)
//! or by the system packages (`[ports] system_packages`). Requirements are checked per package: a
//! package is never assumed installed because another staged package is, only provided. Like the push
//! gate ([`super::installability`]) it is a fixpoint over the open pipelines, so a package waiting for
//! its dependency is promoted by the publish that brings the dependency.
//!
//! Each package gets a pipeline of its own ([`package_sets`]), so one red package holds back only
//! itself and what requires it, not the rest of its batch; only the packages of one port's build —
//! a package and its subpackages, `<name>` and `<name>_<suffix>` at the same version, which
//! HaikuPorter builds and publishes together — share one.
//!
//! The publishing steps themselves (staging, checks, promotion) are in [`super::haikuports_publish`].
//!
//! # Why this file reads Haiku attributes
//! It is HaikuPorts code, as the planner is: it gates one Haiku repository, the one HaikuPorter's
//! builds fill; its package sets follow HaikuPorter's subpackage naming; its other dependency source
//! is `[ports] system_packages`, a Haiku installation's packages. It reads the records' Haiku view
//! ([`PackageRecord`], decoded once per publish) and resolves with the Haiku format's own resolver
//! and index choice ([`crate::formats::haiku::check`], [`newest_per_name`]), so no rule is written
//! twice. The format-neutral gate of `[[repositories]]` ([`super::installability`]) asks
//! [`RepositoryFormat::check`](crate::formats::RepositoryFormat::check) instead, which decodes every
//! stored entry on each call; here that would be the whole index (10,000 HaikuPorts packages) once
//! per open pipeline and fixpoint round, about 5× the cost of a check of the view (docs/performance.md,
//! "`repo check` after its resolver moved").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::StorageBackend;

use super::policy::{Mode, Policy, PolicySection};
use super::promotion::ManualPromotion;
use crate::config::instance::InstanceConfig;
use crate::formats::haiku::check::check;
use crate::formats::haiku::index::newest_per_name;
use crate::formats::haiku::record::PackageRecord;
use crate::haiku::package_info::PackageInfo;

pub mod fixture;

/// The id the HaikuPorts repository has in pipelines (`targets`), waivers and the audit log.
pub const HAIKUPORTS: &str = "haikuports";

/// The HaikuPorts repository's gate, when the instance has one (`[gate]` and `[publish.policy]`).
pub struct HaikuPortsGate {
    /// Where new packages are staged (a bucket clients cannot read), under the same keys
    /// (`packages/<file name>`) they get in the served bucket.
    pub staging: Arc<dyn StorageBackend>,
    /// `[publish.policy]`, resolved.
    pub policy: Policy,
    /// The system-packages directory dependencies may also come from, if any.
    pub system_packages: Option<PathBuf>,
    /// Who publishes (`cli:<user>`, `daemon`): the pipelines' and audit entries' "who".
    pub who: String,
    /// `[gate] manual_promotion` names `haikuports`: green pipelines wait for a promote request.
    pub manual: ManualPromotion,
}

impl std::fmt::Debug for HaikuPortsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaikuPortsGate")
            .field("staging", &self.staging.describe())
            .field("policy", &self.policy)
            .field("system_packages", &self.system_packages)
            .field("who", &self.who)
            .field("manual", &self.manual)
            .finish()
    }
}

/// `[publish.policy]` or `[gate]` cannot be used; names the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct GateConfigError {
    /// The config key (or file) at fault.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl HaikuPortsGate {
    /// The gate `config` describes for the instance in `state_root`, publishing on behalf of `who`:
    /// `None` without `[publish.policy]` (publishing stays ungated). The staging storage is opened
    /// now, so that a wrong one is named before anything is published.
    pub async fn open(
        config: &InstanceConfig,
        state_root: &Path,
        who: &str,
    ) -> Result<Option<Self>, GateConfigError> {
        let Some(policy) = haikuports_policy(config)? else {
            return Ok(None);
        };
        // A test on a builder reruns this instance's recorded builds with HaikuPorter's --test.
        let policy = crate::gate::builder_tests::haiku::bind(policy, config, state_root);
        let Some(gate) = &config.gate else {
            return Err(GateConfigError {
                key: "[publish.policy]".into(),
                message:
                    "a policy needs a staging storage: add [gate] staging = \"…\" (docs/gate.md), or remove \
                          the policy to publish ungated"
                        .into(),
            });
        };
        let fail = |e: &dyn std::fmt::Display| GateConfigError {
            key: format!("[gate] staging {}", gate.staging.display()),
            message: e.to_string(),
        };
        let settings = crate::config::storage::StorageConfig::load(&gate.staging).map_err(|e| fail(&e))?;
        let staging = crate::storage::open_config(&settings)
            .await
            .map_err(|e| fail(&e))?;
        let manual = ManualPromotion::new(&gate.manual_promotion).map_err(|message| GateConfigError {
            key: "[gate] manual_promotion".into(),
            message,
        })?;
        Ok(Some(Self {
            staging,
            policy,
            system_packages: config.system_packages(state_root),
            who: who.to_string(),
            manual,
        }))
    }
}

/// `[publish.policy]` resolved, if the instance has one: the checks of the packages buildruns build
/// (scratch builds run them too).
pub fn haikuports_policy(config: &InstanceConfig) -> Result<Option<Policy>, GateConfigError> {
    config.publish.policy.as_ref().map(resolve).transpose()
}

/// `[publish.policy]` resolved. `base` is refused: the HaikuPorts repository's dependencies come
/// from itself and the system packages, which `[ports] system_packages` names.
fn resolve(section: &PolicySection) -> Result<Policy, GateConfigError> {
    if !section.base.is_empty() {
        return Err(GateConfigError {
            key: "[publish.policy] base".into(),
            message:
                "the HaikuPorts repository has no base repositories: its dependencies come from itself and \
                      the system packages ([ports] system_packages); remove `base`"
                    .into(),
        });
    }
    Policy::resolve(section).map_err(|message| GateConfigError {
        key: "[publish.policy]".into(),
        message: message.replace("[repositories.policy", "[publish.policy"),
    })
}

/// The packages that must go together, as sets of indices into `packages` (name, version), in the
/// order of each set's first package: a subpackage (`<name>_<suffix>` at the same version) joins
/// the shortest-named package of the batch whose name it extends; every other package is alone.
pub fn package_sets(packages: &[(&str, &str)]) -> Vec<Vec<usize>> {
    let main_of = |index: usize| -> usize {
        let (name, version) = packages[index];
        (0..packages.len())
            .filter(|&other| {
                let (main, main_version) = packages[other];
                main_version == version
                    && name.len() > main.len()
                    && name.starts_with(main)
                    && name.as_bytes()[main.len()] == b'_'
            })
            .min_by_key(|&other| packages[other].0.len())
            .unwrap_or(index)
    };
    let mut sets: Vec<(usize, Vec<usize>)> = Vec::new();
    for index in 0..packages.len() {
        let main = main_of(index);
        match sets.iter_mut().find(|(m, _)| *m == main) {
            Some((_, members)) => members.push(index),
            None => sets.push((main, vec![index])),
        }
    }
    sets.into_iter().map(|(_, members)| members).collect()
}

/// One open pipeline of built packages as the evaluation sees it.
pub struct BuiltPipeline<'a> {
    /// Its number.
    pub id: i64,
    /// The records of its packages.
    pub packages: Vec<&'a PackageRecord>,
    /// Whether its lint and test checks let it through ([`super::flow::command_checks_pass`]).
    pub eligible: bool,
    /// File names whose installability failure a waiver covers.
    pub waived: BTreeSet<String>,
}

/// What the evaluation found.
#[derive(Debug, Default)]
pub struct BuiltEvaluation {
    /// Pipelines that can be promoted now.
    pub promotable: BTreeSet<i64>,
    /// Per package file name of an open pipeline: every requirement nothing would provide.
    pub unresolved: BTreeMap<String, Vec<String>>,
}

/// Evaluates `open` against the repository after promotion: `indexed` (the records the index may
/// name now), the promotable pipelines' packages and `system`. `installability` is the policy's
/// mode: `off` checks nothing, `report` finds problems without blocking.
pub fn evaluate(
    indexed: &[&PackageRecord],
    open: &[BuiltPipeline<'_>],
    system: &[PackageInfo],
    installability: Mode,
) -> BuiltEvaluation {
    let mut promotable: BTreeSet<i64> = open.iter().filter(|p| p.eligible).map(|p| p.id).collect();
    if installability == Mode::Off {
        return BuiltEvaluation {
            promotable,
            unresolved: BTreeMap::new(),
        };
    }
    // The packages a set of pipelines would be checked against: the index after their promotion.
    let after = |with: &dyn Fn(i64) -> bool| -> Vec<PackageInfo> {
        let staged = open
            .iter()
            .filter(|p| with(p.id))
            .flat_map(|p| p.packages.iter().copied());
        let chosen = newest_per_name(
            indexed.iter().copied().chain(staged),
            |r: &PackageRecord| &r.info,
            |r: &PackageRecord| &r.file_name,
        );
        chosen
            .into_iter()
            .map(|r| r.info.clone())
            .chain(system.iter().cloned())
            .collect()
    };
    let infos = |pipeline: &BuiltPipeline<'_>| -> Vec<PackageInfo> {
        pipeline.packages.iter().map(|r| r.info.clone()).collect()
    };
    if installability == Mode::Block {
        loop {
            let against = after(&|id| promotable.contains(&id));
            let failing: BTreeSet<i64> = open
                .iter()
                .filter(|p| promotable.contains(&p.id))
                .filter(|p| {
                    check(&infos(p), &against)
                        .unresolved
                        .iter()
                        .any(|u| !p.waived.contains(&u.package))
                })
                .map(|p| p.id)
                .collect();
            if failing.is_empty() {
                break;
            }
            promotable.retain(|id| !failing.contains(id));
        }
    }
    // Diagnostics for every open pipeline, against what would be promoted with it.
    let mut unresolved: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pipeline in open {
        let against = after(&|id| id == pipeline.id || promotable.contains(&id));
        for problem in check(&infos(pipeline), &against).unresolved {
            unresolved
                .entry(problem.package)
                .or_default()
                .push(problem.requires);
        }
    }
    BuiltEvaluation {
        promotable,
        unresolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PackageState;

    /// Package `name` 1.0-1, requiring each of `requires` at version 1.0 or newer.
    fn record(name: &str, requires: &[&str], state: PackageState) -> PackageRecord {
        let requires: Vec<(&str, Option<&str>)> = requires.iter().map(|r| (*r, Some("1.0"))).collect();
        fixture::record(name, "1.0-1", &requires, state)
    }

    fn pipeline<'a>(id: i64, packages: &[&'a PackageRecord]) -> BuiltPipeline<'a> {
        BuiltPipeline {
            id,
            packages: packages.to_vec(),
            eligible: true,
            waived: BTreeSet::new(),
        }
    }

    #[test]
    fn a_package_waits_for_its_dependency_and_is_promoted_with_it() {
        let haiku = record("haiku", &[], PackageState::Stubbed);
        let a = record("a", &["b", "haiku"], PackageState::Spooled);
        let b = record("b", &["haiku"], PackageState::Spooled);
        let system = [haiku.info.clone()];
        let alone = evaluate(&[], &[pipeline(1, &[&a])], &system, Mode::Block);
        assert!(alone.promotable.is_empty());
        assert_eq!(alone.unresolved[&a.file_name], vec!["b>=1.0".to_string()]);
        let both = evaluate(
            &[],
            &[pipeline(1, &[&a]), pipeline(2, &[&b])],
            &system,
            Mode::Block,
        );
        assert_eq!(both.promotable, BTreeSet::from([1, 2]));
        assert!(both.unresolved.is_empty(), "{:?}", both.unresolved);
        // b already published: a alone resolves.
        let published = evaluate(&[&b], &[pipeline(1, &[&a])], &system, Mode::Block);
        assert_eq!(published.promotable, BTreeSet::from([1]));
        // Without the system packages, haiku is unresolved for both.
        let bare = evaluate(&[], &[pipeline(1, &[&a]), pipeline(2, &[&b])], &[], Mode::Block);
        assert!(bare.promotable.is_empty());
    }

    #[test]
    fn a_port_and_its_subpackages_go_together_and_every_other_package_alone() {
        let batch = [
            ("libgreet_devel", "1.2.0-1"),
            ("hello", "2.1-1"),
            ("libgreet", "1.2.0-1"),
            ("wave", "1.0-1"),
            ("libgreet_source", "1.2.0-1"),
            // Not libgreet's: another version (a leftover of an older build).
            ("libgreet_doc", "1.1-1"),
            // No `_` after the name: another port.
            ("hellox", "2.1-1"),
        ];
        assert_eq!(
            package_sets(&batch),
            vec![vec![0, 2, 4], vec![1], vec![3], vec![5], vec![6]]
        );
        assert!(package_sets(&[]).is_empty());
    }

    #[test]
    fn one_red_pipeline_holds_back_itself_and_what_requires_it_only() {
        let lib = record("lib", &[], PackageState::Spooled);
        let app = record("app", &["lib"], PackageState::Spooled);
        let other = record("other", &[], PackageState::Spooled);
        let mut red = pipeline(1, &[&lib]);
        red.eligible = false;
        let evaluation = evaluate(
            &[],
            &[red, pipeline(2, &[&app]), pipeline(3, &[&other])],
            &[],
            Mode::Block,
        );
        assert_eq!(evaluation.promotable, BTreeSet::from([3]));
        assert_eq!(
            evaluation.unresolved[&app.file_name],
            vec!["lib>=1.0".to_string()]
        );
    }

    #[test]
    fn report_mode_promotes_and_names_the_problem_and_a_waiver_lets_it_through() {
        let a = record("a", &["ghost"], PackageState::Spooled);
        let report = evaluate(&[], &[pipeline(1, &[&a])], &[], Mode::Report);
        assert_eq!(report.promotable, BTreeSet::from([1]));
        assert_eq!(report.unresolved[&a.file_name].len(), 1);
        let mut waived = pipeline(1, &[&a]);
        waived.waived.insert(a.file_name.clone());
        assert_eq!(
            evaluate(&[], &[waived], &[], Mode::Block).promotable,
            BTreeSet::from([1])
        );
        let mut red = pipeline(1, &[]);
        red.eligible = false;
        assert!(evaluate(&[], &[red], &[], Mode::Off).promotable.is_empty());
    }
}
