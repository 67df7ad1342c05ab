//! What a buildrun is asked to build, and how each request becomes a port (or an immediate skip).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::haiku::version::Version;
use crate::plan::catalog::{active_key, BuildPolicy, PortCatalog};
use crate::plan::existing::ExistingPackages;
use crate::plan::model::SkipReason;
use crate::plan::providers::is_built;
use crate::ports::model::{Port, RecipeProblem};

/// What to plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// Ports named by the operator: `name` (the active version) or `name-version`.
    Ports(Vec<String>),
    /// Every active port with a package missing from the repository, plus (listed as skipped) the
    /// names no version of which can be built here and the recipes that cannot be evaluated.
    Everything,
    /// The active ports whose recipe directories changed (paths relative to the tree root).
    Update {
        /// The changed files.
        files: Vec<PathBuf>,
    },
}

/// One request, resolved to a port or to the reason it cannot be.
#[derive(Clone, Debug)]
pub(crate) struct Requested {
    /// The request as given, or the port's versioned name.
    pub label: String,
    /// The recipe, when one was found.
    pub recipe_path: Option<PathBuf>,
    /// The port's index, or why there is none.
    pub target: Result<usize, SkipReason>,
}

/// Turns `request` into requested ports. `index_of` maps a port reference from the catalog to its
/// index in `catalog.ports()`.
pub(crate) fn requested<C: PortCatalog + ?Sized>(
    catalog: &C,
    index_of: &dyn Fn(&Port) -> Option<usize>,
    active: &[bool],
    existing: &ExistingPackages,
    request: &Request,
) -> Vec<Requested> {
    let ports = catalog.ports();
    let found = |port: &Port, label: String| Requested {
        label,
        recipe_path: Some(port.recipe_path.clone()),
        target: index_of(port).ok_or(SkipReason::NotFound),
    };
    match request {
        Request::Ports(specs) => specs
            .iter()
            .map(
                |spec| match catalog.find(spec).or_else(|| unbuildable_version(ports, spec)) {
                    Some(port) => found(port, spec.clone()),
                    None => match problem_for(catalog.problems(), spec) {
                        Some(problem) => broken(problem, spec.clone()),
                        None => Requested {
                            label: spec.clone(),
                            recipe_path: None,
                            target: Err(SkipReason::NotFound),
                        },
                    },
                },
            )
            .collect(),
        Request::Everything => {
            let mut out: Vec<Requested> = ports
                .iter()
                .enumerate()
                .filter(|(i, port)| active[*i] && has_missing_package(catalog.policy(), port, existing))
                .map(|(_, port)| found(port, port.versioned_name()))
                .collect();
            out.extend(
                never_buildable(ports, active)
                    .into_iter()
                    .map(|port| found(port, port.versioned_name())),
            );
            out.extend(
                catalog
                    .problems()
                    .iter()
                    .map(|p| broken(p, recipe_label(&p.recipe_path))),
            );
            out
        }
        Request::Update { files } => {
            let mut out: Vec<Requested> = catalog
                .ports_for_files(files)
                .into_iter()
                .map(|port| found(port, port.versioned_name()))
                .collect();
            out.extend(
                catalog
                    .problems()
                    .iter()
                    .filter(|p| files.iter().any(|f| f == &p.recipe_path))
                    .map(|p| broken(p, recipe_label(&p.recipe_path))),
            );
            out
        }
    }
}

/// Whether any package the port builds is missing.
fn has_missing_package(policy: BuildPolicy, port: &Port, existing: &ExistingPackages) -> bool {
    port.packages
        .iter()
        .filter(|p| is_built(policy, port, p))
        .any(|p| !existing.contains(&p.file_name()))
}

/// For every name without an active version, its newest version (so `--everything` can say why it is
/// never built). Tree order.
fn never_buildable<'a>(ports: &'a [Port], active: &[bool]) -> Vec<&'a Port> {
    let mut has_active: HashMap<String, bool> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        *has_active.entry(active_key(port)).or_default() |= active[i];
    }
    let mut newest: HashMap<String, usize> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let key = active_key(port);
        if has_active[&key] {
            continue;
        }
        newest
            .entry(key)
            .and_modify(|best| {
                if newer(port, &ports[*best]) {
                    *best = i;
                }
            })
            .or_insert(i);
    }
    let mut chosen: Vec<usize> = newest.into_values().collect();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| &ports[i]).collect()
}

/// Whether `a`'s version is newer than `b`'s (Haiku version order; unparsable versions lose).
fn newer(a: &Port, b: &Port) -> bool {
    match (Version::parse(&a.version), Version::parse(&b.version)) {
        (Some(x), Some(y)) => x.compare(&y).is_gt(),
        (Some(_), None) => true,
        _ => false,
    }
}

/// A port the catalog does not offer under `spec` because no version is active: `spec` is its name
/// (with any secondary-arch suffix) or its versioned name. The newest such version, so the request is
/// reported as "not buildable on this architecture" rather than "not found".
fn unbuildable_version<'a>(ports: &'a [Port], spec: &str) -> Option<&'a Port> {
    ports
        .iter()
        .filter(|p| active_key(p) == spec || p.versioned_name() == spec)
        .reduce(|best, p| if newer(p, best) { p } else { best })
}

/// The recipe problem a request names: `name-version` is the recipe's file stem, `name` its directory.
fn problem_for<'a>(problems: &'a [RecipeProblem], spec: &str) -> Option<&'a RecipeProblem> {
    problems.iter().find(|p| {
        recipe_label(&p.recipe_path) == spec
            || p.recipe_path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|dir| dir == spec)
    })
}

/// A recipe's `name-version`, from its file name.
fn recipe_label(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn broken(problem: &RecipeProblem, label: String) -> Requested {
    Requested {
        label,
        recipe_path: Some(problem.recipe_path.clone()),
        target: Err(SkipReason::BrokenRecipe {
            message: problem.message.clone(),
        }),
    }
}
