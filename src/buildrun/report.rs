//! Assembling status.json from the executor's state: each build in the list of its state with the
//! packages it has and still waits for, each builder in active/idle/lost.

use std::collections::{HashMap, HashSet};

use super::builder::Snapshot;
use super::deps::package_id;
use super::status::{
    BuildJson, BuildListsJson, BuilderJson, BuilderListsJson, CurrentBuildJson, PortJson, StatusJson,
};
use super::store::{BuildRow, BuildState, ResultRow};
use crate::builders::state::{BuilderState, DEFAULT_LOST_AFTER};
use crate::plan::model::Plan;

/// A builder as status.json shows it.
#[derive(Clone, Debug)]
pub struct BuilderView {
    /// Name.
    pub name: String,
    /// State as the executor sees it.
    pub state: BuilderState,
    /// Health details.
    pub snapshot: Snapshot,
    /// The build it runs: plan index and build number.
    pub current: Option<(usize, u64)>,
}

/// Everything status.json is made of.
pub struct StatusInput<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// Build rows by plan index.
    pub rows: &'a [BuildRow],
    /// Results of completed builds by plan index.
    pub results: &'a HashMap<usize, Vec<ResultRow>>,
    /// The builders.
    pub builders: &'a [BuilderView],
    /// The next build number.
    pub next_build_number: u64,
    /// Ports tree origin URL.
    pub origin: Option<&'a str>,
    /// Ports tree commit.
    pub head: Option<&'a str>,
    /// `buildStatus`.
    pub status: &'a str,
    /// Start (Unix seconds).
    pub start: f64,
    /// End (Unix seconds).
    pub end: Option<f64>,
}

/// The state word of a builder.
pub fn state_word(state: BuilderState) -> &'static str {
    match state {
        BuilderState::Available => "available",
        BuilderState::Busy => "busy",
        BuilderState::Reconnecting => "reconnecting",
        BuilderState::Lost => "lost",
    }
}

fn build_json(input: &StatusInput<'_>, built_ids: &HashSet<&str>, index: usize) -> BuildJson {
    let build = &input.plan.builds[index];
    let row = &input.rows[index];
    let mut required: Vec<String> = build.present.iter().map(|p| p.file_name.clone()).collect();
    for &after in &build.after {
        if let Some(results) = input.results.get(&after) {
            required.extend(
                results
                    .iter()
                    .filter(|r| {
                        build.missing_ids.is_empty()
                            || package_id(&r.file_name)
                                .is_some_and(|id| build.missing_ids.iter().any(|m| m == id))
                    })
                    .map(|r| r.file_name.clone()),
            );
        }
    }
    required.sort();
    required.dedup();
    let mut missing: Vec<String> = build
        .missing_ids
        .iter()
        .filter(|id| !built_ids.contains(id.as_str()))
        .cloned()
        .collect();
    missing.sort();
    BuildJson {
        port: PortJson::of(&build.port),
        resulting_packages: build.results.clone(),
        required_packages: required,
        buildable: missing.is_empty() && !matches!(row.state, BuildState::Blocked),
        missing_package_ids: missing,
        build_numbers: row.build_numbers.clone(),
        lost: row.state == BuildState::Lost,
        failure_reason: row.failure_reason.clone(),
    }
}

/// Builds status.json.
pub fn status_json(input: &StatusInput<'_>) -> StatusJson {
    let built_ids: HashSet<&str> = input
        .results
        .values()
        .flatten()
        .filter_map(|r| package_id(&r.file_name))
        .collect();
    let mut builds = BuildListsJson::default();
    for (index, row) in input.rows.iter().enumerate() {
        let json = build_json(input, &built_ids, index);
        match row.state {
            BuildState::Active => builds.active.push(json),
            BuildState::Scheduled => builds.scheduled.push(json),
            BuildState::Blocked => builds.blocked.push(json),
            BuildState::Complete => builds.complete.push(json),
            BuildState::Failed => builds.failed.push(json),
            BuildState::Lost => builds.lost.push(json),
        }
    }
    builds.skipped = super::status::skipped_list(&input.plan.skipped);
    let mut builders = BuilderListsJson::default();
    for view in input.builders {
        let json = BuilderJson {
            name: view.name.clone(),
            state: state_word(view.state).into(),
            connection_errors: view.snapshot.connection_errors,
            max_connection_errors: DEFAULT_LOST_AFTER,
            last_error: view.snapshot.last_error.clone(),
            current_build: view.current.map(|(index, number)| CurrentBuildJson {
                build: build_json(input, &built_ids, index),
                number,
            }),
        };
        match view.state {
            BuilderState::Busy => builders.active.push(json),
            BuilderState::Available | BuilderState::Reconnecting => builders.idle.push(json),
            BuilderState::Lost => builders.lost.push(json),
        }
    }
    StatusJson {
        builds,
        builders,
        next_build_number: input.next_build_number,
        ports_tree_origin_url: input.origin.unwrap_or_default().into(),
        ports_tree_head: input.head.unwrap_or_default().into(),
        build_status: input.status.into(),
        start_time: Some(input.start),
        end_time: input.end,
    }
}
