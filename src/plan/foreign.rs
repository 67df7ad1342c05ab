//! Debian and RPM trees planned into the same [`Plan`] a HaikuPorts buildrun runs, so the executor,
//! the scheduler and the builders are the same for every kind of tree.
//!
//! The tree is read by its toolchain's reader, and its build dependencies are resolved by its
//! toolchain's planner ([`crate::toolchains::debian::plan`], [`crate::toolchains::rpm::plan`])
//! against the tree, the base (Debian: the build root's packages) and the packages the served
//! repository (`[ports] repository`) links. A source whose every result is already linked there is
//! not built again (packages are immutable, as HaikuPorts' are: bump the version), and its packages
//! satisfy dependents from the repository — streamed from the bucket's pool to the builder.
//!
//! `--update` plans the sources holding a file changed since the processed revision (the HaikuPorts
//! rule, with a source directory for a recipe).
//!
//! Each planned source becomes a [`PlannedBuild`]: its port is the source's name and version (the
//! status pages' and logs' name), its `target` the source's directory (what the toolchain builds),
//! its results the package files the format names, its present packages the repository's pool files
//! it needs, and `after` its edges to other sources of the plan.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::foreign_formats::{plan_debian, plan_rpm, FormatPlan};
use super::instance::{InstancePlan, Wanted};
use super::model::{PackageOrigin, Plan, PlannedBuild, PresentPackage, SkipReason, SkippedPort};
use super::recipe_tree::TreeKind;
use super::request::Request;
use super::revision::{update_files, RevisionError};
use crate::config::instance::InstanceConfig;
use crate::ports::model::{ArchStatus, Port};
use crate::repos::config::Repository;
use crate::repos::records::{PoolPackage, Records};
use crate::state::StateDir;
use crate::toolchains::debian::plan::{tree_deps, Satisfier};

/// Why a Debian or RPM tree could not be planned; each names the setting, file or package to fix.
#[derive(Debug, thiserror::Error)]
pub enum ForeignPlanError {
    /// A setting of `[ports]` is missing or names the wrong thing.
    #[error("[ports] {key}: {what}")]
    Setting {
        /// The key (`repository`, `debian.base_tarball`).
        key: &'static str,
        /// What is wrong and what to do.
        what: String,
    },
    /// `--update` could not determine the changed files.
    #[error(transparent)]
    Revision(#[from] RevisionError),
    /// The tree could not be read (the message names the file).
    #[error("reading the {kind} tree {root}: {message}")]
    Tree {
        /// Which kind of tree.
        kind: &'static str,
        /// Its root.
        root: PathBuf,
        /// What failed.
        message: String,
    },
    /// The served repository's records could not be read.
    #[error("reading what repository {repository} serves: {message}")]
    Served {
        /// The repository id.
        repository: String,
        /// What failed.
        message: String,
    },
    /// Build dependencies could not be resolved, or form a cycle (the message names the sources).
    #[error("planning the {kind} tree: {message}")]
    Resolve {
        /// Which kind of tree.
        kind: &'static str,
        /// The planner's message.
        message: String,
    },
}

/// One source of a tree as the plan needs it, whatever its format.
#[derive(Clone, Debug)]
pub struct TreeSource {
    /// The source (Debian) or package (RPM) name.
    pub name: String,
    /// Its version as the format spells it.
    pub version: String,
    /// Its directory, relative to the tree (the toolchain's build target).
    pub dir: String,
    /// The recipe file, relative to the tree (`libgreet/debian/control`, `greet/greet.spec`).
    pub recipe: PathBuf,
    /// The package files its build must produce.
    pub results: Vec<String>,
}

/// The `[[repositories]]` entry a foreign tree's packages go to: named by `[ports] repository`, of
/// the tree's format.
pub fn served_repository(config: &InstanceConfig) -> Result<Repository, ForeignPlanError> {
    let kind = config.ports.kind;
    let setting = |what: String| ForeignPlanError::Setting {
        key: "repository",
        what,
    };
    let Some(id) = &config.ports.repository else {
        return Err(setting(format!(
            "kind = {:?} needs the id of the [[repositories]] entry its packages are pushed into",
            kind.as_str()
        )));
    };
    let repositories =
        crate::repos::config::resolve(&config.repositories).map_err(|e| setting(e.to_string()))?;
    let repository = repositories
        .into_iter()
        .find(|r| r.id() == id)
        .ok_or_else(|| setting(format!("{id:?} is not the id of any [[repositories]] entry")))?;
    if repository.format() != kind.format() {
        return Err(setting(format!(
            "{id:?} is a {} repository, but the tree is kind = {:?}",
            repository.format().as_str(),
            kind.as_str()
        )));
    }
    Ok(repository)
}

/// The pool files `repository` links, as recorded in the state database.
pub fn served_packages(state: &StateDir, repository: &str) -> Result<Vec<PoolPackage>, ForeignPlanError> {
    let failed = |message: String| ForeignPlanError::Served {
        repository: repository.to_owned(),
        message,
    };
    Records::open(&state.database())
        .and_then(|records| records.linked(repository))
        .map_err(|e| failed(e.to_string()))
}

/// Plans `wanted` of the instance's Debian or RPM tree.
pub fn plan_foreign(
    config: &InstanceConfig,
    state: &StateDir,
    wanted: &Wanted,
) -> Result<InstancePlan, ForeignPlanError> {
    let started = std::time::Instant::now();
    let kind = config.ports.kind;
    let root = config.ports_tree(state.root());
    let (request, head) = match wanted {
        Wanted::Update => {
            let (files, head) = update_files(&root, &state.database())?;
            (Request::Update { files }, Some(head))
        }
        Wanted::Everything => (Request::Everything, None),
        Wanted::Ports(names) => (Request::Ports(names.clone()), None),
    };
    let repository = served_repository(config)?;
    let served = served_packages(state, repository.id())?;
    let linked: HashSet<&str> = served.iter().map(|p| p.package.file_name.as_str()).collect();
    let is_built =
        |results: &[String]| !results.is_empty() && results.iter().all(|r| linked.contains(r.as_str()));
    let planned = match kind {
        TreeKind::Debian => plan_debian(config, &root, &served, &is_built)?,
        TreeKind::Rpm => plan_rpm(&root, &served, &is_built)?,
        TreeKind::Haikuports => {
            return Err(ForeignPlanError::Setting {
                key: "kind",
                what: "a HaikuPorts tree is planned by the HaikuPorts planner, not as a foreign tree".into(),
            })
        }
    };
    let plan = match &request {
        Request::Update { files } => select(&planned, &served, &changed_sources(&planned, files)),
        _ => select(&planned, &served, wanted),
    };
    Ok(InstancePlan {
        plan,
        request,
        problems: Vec::new(),
        head,
        tree_stats: Default::default(),
        planning: started.elapsed(),
        did_you_mean: Default::default(),
    })
}

/// The builds `wanted` asks for — every unbuilt source, or the named ones and the unbuilt sources
/// they need — in plan order; named sources that are built already or unknown are skipped.
fn select(planned: &FormatPlan, served: &[PoolPackage], wanted: &Wanted) -> Plan {
    let mut plan = Plan::default();
    let order = &planned.plan.order;
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    match wanted {
        Wanted::Ports(names) => {
            for name in names {
                let named = |s: &TreeSource| &s.name == name || &s.dir == name;
                if let Some(index) = planned.unbuilt.iter().position(named) {
                    chosen.insert(index);
                } else if let Some(done) = planned.built.iter().find(|s| named(s)) {
                    plan.skipped.push(skipped(
                        name,
                        Some(done),
                        SkipReason::AlreadyExists {
                            packages: done.results.clone(),
                        },
                    ));
                } else {
                    plan.skipped.push(skipped(name, None, SkipReason::NotFound));
                }
            }
            // The unbuilt sources the named ones need, transitively (a later entry of the order
            // only needs earlier ones, so one backward pass suffices).
            for planned_source in order.iter().rev() {
                if chosen.contains(&planned_source.source) {
                    chosen.extend(tree_deps(planned_source));
                }
            }
        }
        _ => chosen.extend(0..planned.unbuilt.len()),
    }
    let kept: Vec<_> = order.iter().filter(|p| chosen.contains(&p.source)).collect();
    let position = |source: usize| kept.iter().position(|p| p.source == source);
    for planned_source in &kept {
        let source = &planned.unbuilt[planned_source.source];
        let mut present: Vec<PresentPackage> = planned_source
            .satisfiers
            .iter()
            .filter_map(|s| match s {
                Satisfier::Repository(index) => Some(PresentPackage {
                    file_name: served[*index].package.file_name.clone(),
                    origin: PackageOrigin::Repository,
                }),
                _ => None,
            })
            .collect();
        present.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        present.dedup();
        plan.builds.push(PlannedBuild {
            port: port_of(source),
            results: source.results.clone(),
            present,
            // Empty: every result of a build in `after` is given to this one.
            missing_ids: Vec::new(),
            after: tree_deps(planned_source)
                .into_iter()
                .filter_map(position)
                .collect(),
            target: Some(source.dir.clone()),
        });
    }
    plan
}

/// `--update` as named sources: the sources (built or not) holding a changed file. A changed source
/// whose packages the repository already links is listed as skipped (bump its version to rebuild).
fn changed_sources(planned: &FormatPlan, files: &[PathBuf]) -> Wanted {
    let sources = planned.unbuilt.iter().chain(&planned.built);
    let names: BTreeSet<String> = sources
        .filter(|s| files.iter().any(|f| f.starts_with(&s.dir)))
        .map(|s| s.dir.clone())
        .collect();
    Wanted::Ports(names.into_iter().collect())
}

fn skipped(request: &str, source: Option<&TreeSource>, reason: SkipReason) -> SkippedPort {
    SkippedPort {
        port: request.to_owned(),
        recipe_path: source.map(|s| s.recipe.clone()),
        reason,
    }
}

/// The port a source is shown as: its name and version; no Haiku packages or requirements (the
/// plan's edges and present packages carry what it needs).
fn port_of(source: &TreeSource) -> Port {
    Port {
        name: source.name.clone(),
        version: source.version.clone(),
        revision: 0,
        category: String::new(),
        recipe_path: source.recipe.clone(),
        secondary_arch: None,
        status: ArchStatus::Stable,
        packages: Vec::new(),
        build_requires: Vec::new(),
        build_prerequires: Vec::new(),
    }
}

/// `dir` relative to the tree `root`, as the builder's copy of the tree has it.
pub fn relative_dir(root: &Path, dir: &Path) -> String {
    dir.strip_prefix(root)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{FormatKind, InspectedPackage};
    use crate::toolchains::debian::plan::{PlannedSource, TreePlan};

    fn source(name: &str) -> TreeSource {
        TreeSource {
            name: name.into(),
            version: "1.0-1".into(),
            dir: name.into(),
            recipe: PathBuf::from(format!("{name}/debian/control")),
            results: vec![format!("{name}_1.0-1_all.deb")],
        }
    }

    /// `a`; `b` needing `a` from the tree and `lib` from the repository; `c` already served.
    fn planned() -> (FormatPlan, Vec<PoolPackage>) {
        let served = vec![PoolPackage {
            format: FormatKind::Debian,
            package: InspectedPackage {
                name: "lib".into(),
                version: "2".into(),
                architecture: "all".into(),
                size: 1,
                sha256: "00".repeat(32),
                file_name: "lib_2_all.deb".into(),
                entry: String::new(),
            },
            pool_key: "pool/lib_2_all.deb".into(),
            added_at: 0,
        }];
        let plan = TreePlan {
            order: vec![
                PlannedSource {
                    source: 0,
                    satisfiers: vec![],
                },
                PlannedSource {
                    source: 1,
                    satisfiers: vec![
                        Satisfier::Tree {
                            source: 0,
                            binary: "a".into(),
                        },
                        Satisfier::Repository(0),
                    ],
                },
            ],
        };
        let format_plan = FormatPlan {
            unbuilt: vec![source("a"), source("b")],
            built: vec![source("c")],
            plan,
        };
        (format_plan, served)
    }

    #[test]
    fn a_named_source_brings_what_it_needs_and_the_rest_is_skipped_with_reasons() {
        let (planned, served) = planned();
        let wanted = Wanted::Ports(vec!["b".into(), "c".into(), "zz".into()]);
        let plan = select(&planned, &served, &wanted);
        let names: Vec<_> = plan.builds.iter().map(|b| b.port.versioned_name()).collect();
        assert_eq!(names, ["a-1.0-1", "b-1.0-1"]);
        let b = &plan.builds[1];
        assert_eq!((b.after.as_slice(), b.target()), (&[0][..], "b".to_string()));
        assert_eq!(b.present[0].file_name, "lib_2_all.deb");
        assert_eq!(
            plan.skipped.iter().map(|s| &s.reason).collect::<Vec<_>>(),
            [
                &SkipReason::AlreadyExists {
                    packages: vec!["c_1.0-1_all.deb".into()]
                },
                &SkipReason::NotFound
            ]
        );
        // A source that needs nothing from the tree is built alone; everything builds both.
        let alone = select(&planned, &served, &Wanted::Ports(vec!["a".into()]));
        assert_eq!(alone.builds.len(), 1);
        assert_eq!(select(&planned, &served, &Wanted::Everything).builds.len(), 2);
    }
}
