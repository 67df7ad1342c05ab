//! HaikuPorter's JSON shapes (reference report §6.1), so its frontend and anything written against
//! it keep working: `status.json` (`BuildMaster.status`) and `records/<n>.json` (`BuildRecord.status`).
//!
//! Two deliberate differences: every build carries `failureReason` (HaikuPorter has none, §9.18), and
//! the builder status holds a cached-package *count* instead of the full `availablePackages` list that
//! made HaikuPorter's once-a-second rewrite of status.json grow with the cache.

use serde::Serialize;

use crate::plan::model::{PlannedBuild, SkipReason, SkippedPort};
use crate::ports::model::Port;

/// `port` in a build's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortJson {
    /// Port name (with the secondary-architecture suffix).
    pub name: String,
    /// `portVersion`.
    pub version: String,
    /// `REVISION` (empty when only a name is known).
    pub revision: String,
    /// `name-version-revision`.
    pub revisioned_name: String,
    /// The recipe, relative to the ports tree.
    pub recipe_file_path: String,
}

impl PortJson {
    /// The status of `port`.
    pub fn of(port: &Port) -> Self {
        let name = match &port.secondary_arch {
            Some(arch) => format!("{}_{arch}", port.name),
            None => port.name.clone(),
        };
        Self {
            name,
            version: port.version.clone(),
            revision: port.revision.to_string(),
            revisioned_name: port.revisioned_name(),
            recipe_file_path: port.recipe_path.to_string_lossy().into_owned(),
        }
    }
}

/// `ScheduledBuild.status`, plus `failureReason`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildJson {
    /// The port.
    pub port: PortJson,
    /// Packages the build produces.
    pub resulting_packages: Vec<String>,
    /// Packages it needs that exist (present ones and those already built in this run), sorted.
    pub required_packages: Vec<String>,
    /// `name-version` IDs it still waits for, sorted.
    #[serde(rename = "missingPackageIDs")]
    pub missing_package_ids: Vec<String>,
    /// Whether it waits for nothing.
    pub buildable: bool,
    /// Build numbers of its attempts.
    pub build_numbers: Vec<u64>,
    /// Whether it can never run.
    pub lost: bool,
    /// Why it failed or was lost (or why its last attempt was re-queued); null otherwise.
    pub failure_reason: Option<String>,
}

/// `SkippedBuild.status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedJson {
    /// The port; fields are empty when only the requested name is known.
    pub port: PortJson,
    /// Packages it would have produced (empty: the plan does not evaluate skipped ports' packages).
    pub resulting_packages: Vec<String>,
    /// HaikuPorter's words for why.
    pub reason: String,
}

impl SkippedJson {
    /// The status of a skipped port.
    pub fn of(skipped: &SkippedPort) -> Self {
        let requested = crate::bounded_text::shortened(&skipped.port, MAX_LISTED_NAME_CHARS);
        let (name, version) = match requested.rsplit_once('-') {
            Some((n, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => (n.to_string(), v.to_string()),
            _ => (requested.clone(), String::new()),
        };
        Self {
            port: PortJson {
                revisioned_name: requested.clone(),
                name,
                version,
                revision: String::new(),
                recipe_file_path: skipped
                    .recipe_path
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            },
            resulting_packages: Vec::new(),
            reason: skipped.reason.describe(&requested),
        }
    }
}

/// Requested ports not in the tree that status.json lists one by one; the rest are counted in one
/// entry. Real ports are bounded by the tree, but a request can name any number of unknown ones
/// (10,000 typos made a 2.7 MB status.json, rewritten on every state change).
pub const MAX_UNKNOWN_PORTS_LISTED: usize = 100;
/// The longest requested name status.json repeats (a recipe file name is far shorter).
pub const MAX_LISTED_NAME_CHARS: usize = 256;

/// The `skipped` list of status.json: every skipped port, except that requested names not in the
/// tree beyond [`MAX_UNKNOWN_PORTS_LISTED`] are summarised in one last entry, and names are cut at
/// [`MAX_LISTED_NAME_CHARS`].
pub fn skipped_list(skipped: &[SkippedPort]) -> Vec<SkippedJson> {
    let mut unknown = 0usize;
    let mut list = Vec::new();
    for port in skipped {
        if matches!(port.reason, SkipReason::NotFound) {
            unknown += 1;
            if unknown > MAX_UNKNOWN_PORTS_LISTED {
                continue;
            }
        }
        list.push(SkippedJson::of(port));
    }
    if let Some(more) = unknown.checked_sub(MAX_UNKNOWN_PORTS_LISTED).filter(|n| *n > 0) {
        list.push(SkippedJson::of(&SkippedPort {
            port: format!("({more} more)"),
            recipe_path: None,
            reason: SkipReason::NotFound,
        }));
        if let Some(last) = list.last_mut() {
            last.reason = format!("{more} more requested ports are not in the ports tree");
        }
    }
    list
}

/// `currentBuild` of a busy builder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurrentBuildJson {
    /// The build's status.
    pub build: BuildJson,
    /// Its build number.
    pub number: u64,
}

/// A builder's status (small: no cache listing).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuilderJson {
    /// Name.
    pub name: String,
    /// `available`, `busy`, `reconnecting` or `lost`.
    pub state: String,
    /// Consecutive connection failures.
    pub connection_errors: u32,
    /// Connection failures after which the builder counts as lost (then re-probed).
    pub max_connection_errors: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// What it builds, if busy.
    pub current_build: Option<CurrentBuildJson>,
}

/// `builds` in status.json: one list per state, as HaikuPorter's lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BuildListsJson {
    /// Running.
    pub active: Vec<BuildJson>,
    /// Ready, waiting for a builder.
    pub scheduled: Vec<BuildJson>,
    /// Waiting for packages.
    pub blocked: Vec<BuildJson>,
    /// Built.
    pub complete: Vec<BuildJson>,
    /// Failed.
    pub failed: Vec<BuildJson>,
    /// Can never run.
    pub lost: Vec<BuildJson>,
    /// Never scheduled.
    pub skipped: Vec<SkippedJson>,
}

/// `builders` in status.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BuilderListsJson {
    /// Running a build.
    pub active: Vec<BuilderJson>,
    /// Connected, waiting for work (or reconnecting).
    pub idle: Vec<BuilderJson>,
    /// Lost (re-probed periodically).
    pub lost: Vec<BuilderJson>,
}

/// status.json.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusJson {
    /// The builds by state.
    pub builds: BuildListsJson,
    /// The builders by state.
    pub builders: BuilderListsJson,
    /// The next build number.
    pub next_build_number: u64,
    /// The ports tree's origin URL (empty when unknown).
    #[serde(rename = "portsTreeOriginURL")]
    pub ports_tree_origin_url: String,
    /// The ports tree commit being built (empty when unknown).
    pub ports_tree_head: String,
    /// HaikuPorter's `buildStatus` text.
    pub build_status: String,
    /// Start (Unix seconds).
    pub start_time: Option<f64>,
    /// End (Unix seconds).
    pub end_time: Option<f64>,
}

/// The port part of a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPortJson {
    /// Port name.
    pub name: String,
    /// `portVersion`.
    pub version: String,
    /// `REVISION`.
    pub revision: String,
    /// `name-version-revision`.
    pub revisioned_name: String,
}

/// records/<n>.json: one ended attempt.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordJson {
    /// The port.
    pub port: RecordPortJson,
    /// Every build number of the build so far.
    pub build_numbers: Vec<u64>,
    /// Start of this attempt (Unix seconds).
    pub start_time: f64,
    /// Its duration in seconds.
    pub duration: f64,
    /// Whether it built.
    pub build_success: bool,
    /// The builder's name.
    pub builder_id: String,
    /// Why it did not build (null on success).
    pub failure_reason: Option<String>,
}

impl RecordJson {
    /// A record of an attempt of `build`.
    pub fn of(
        build: &PlannedBuild,
        build_numbers: &[u64],
        start_time: f64,
        end_time: f64,
        builder: &str,
        failure_reason: Option<String>,
    ) -> Self {
        let port = PortJson::of(&build.port);
        Self {
            port: RecordPortJson {
                name: port.name,
                version: port.version,
                revision: port.revision,
                revisioned_name: port.revisioned_name,
            },
            build_numbers: build_numbers.to_vec(),
            start_time,
            duration: (end_time - start_time).max(0.0),
            build_success: failure_reason.is_none(),
            builder_id: builder.to_string(),
            failure_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(name: String) -> SkippedPort {
        SkippedPort {
            port: name,
            recipe_path: None,
            reason: SkipReason::NotFound,
        }
    }

    #[test]
    fn ten_thousand_unknown_ports_and_a_huge_name_stay_small() {
        let mut skipped: Vec<SkippedPort> = (0..10_000).map(|i| unknown(format!("nosuchport{i}"))).collect();
        skipped.insert(0, unknown("x".repeat(300_000)));
        let list = skipped_list(&skipped);
        assert_eq!(list.len(), MAX_UNKNOWN_PORTS_LISTED + 1);
        let last = list.last().unwrap();
        assert!(last.reason.contains("9901 more"), "{}", last.reason);
        let bytes = serde_json::to_vec(&list).unwrap().len();
        assert!(bytes < 100_000, "{bytes} bytes");
        assert!(list[0].port.revisioned_name.chars().count() <= MAX_LISTED_NAME_CHARS + 1);
        assert!(list[0].reason.len() < 1000, "{}", list[0].reason.len());
    }
}
