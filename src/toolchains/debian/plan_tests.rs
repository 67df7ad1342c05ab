//! Planning a small tree: tree edges ordered, base and repository satisfiers, version constraints,
//! first-alternative choice, unresolvable clauses and cycles named.

use std::path::PathBuf;

use super::control::BinaryPackage;
use super::plan::{installed_from_dpkg_status, plan_tree, AvailableBinary, PlanError, Satisfier};
use super::tree::SourcePackage;
use crate::formats::debian::relation::parse_relations;
use crate::formats::debian::version::Version;

fn source(name: &str, version: &str, build_depends: &str, binaries: &[(&str, &str)]) -> SourcePackage {
    SourcePackage {
        dir: PathBuf::from(name),
        name: name.into(),
        version: Version::parse(version).unwrap(),
        build_depends: parse_relations(build_depends).unwrap(),
        binaries: binaries
            .iter()
            .map(|(n, a)| BinaryPackage {
                name: (*n).into(),
                architecture: (*a).into(),
            })
            .collect(),
    }
}

fn available(name: &str, version: &str) -> AvailableBinary {
    AvailableBinary {
        name: name.into(),
        version: Version::parse(version).unwrap(),
    }
}

#[test]
fn orders_by_tree_edges_and_names_every_satisfier() {
    // Listed dependent-first, so the order must come from the edges, not the input.
    let sources = [
        source(
            "app",
            "1.0-1",
            "libgreet-dev (>= 1.0), gcc | clang, libz (>> 1.0)",
            &[("app", "any")],
        ),
        source(
            "libgreet",
            "1.2-1",
            "gcc",
            &[("libgreet-dev", "any"), ("libgreet-doc", "all")],
        ),
    ];
    let base = [available("gcc", "4:12.2.0-3")];
    let repos = [
        available("libz", "1.0"),
        available("libz", "1.3"),
        available("libz", "1.2"),
    ];
    let plan = plan_tree(&sources, "amd64", &base, &repos).unwrap();
    let order: Vec<usize> = plan.order.iter().map(|p| p.source).collect();
    assert_eq!(order, [1, 0]);
    assert_eq!(
        plan.order[1].satisfiers,
        [
            Satisfier::Tree {
                source: 1,
                binary: "libgreet-dev".into()
            },
            Satisfier::Base("gcc".into()),
            Satisfier::Repository(1),
        ]
    );
    let graph = plan.build_graph(&sources, |_| 10.0).unwrap();
    assert_eq!(graph.builds()[1].deps, [0]);
    assert_eq!(graph.critical_path(), 20.0);
    assert_eq!(
        sources[1].expected_debs("amd64"),
        ["libgreet-dev_1.2-1_amd64.deb", "libgreet-doc_1.2-1_all.deb"]
    );
}

#[test]
fn a_version_constraint_the_tree_misses_is_unresolved_with_names() {
    let sources = [
        source("app", "1.0-1", "libgreet-dev (>= 2.0)", &[("app", "any")]),
        source("libgreet", "1.2-1", "", &[("libgreet-dev", "any")]),
    ];
    let err = plan_tree(&sources, "amd64", &[], &[]).unwrap_err();
    let PlanError::Unresolved(lines) = &err else {
        panic!("{err}")
    };
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("app needs libgreet-dev"), "{}", lines[0]);
}

#[test]
fn a_binary_not_built_for_the_host_does_not_satisfy() {
    let sources = [
        source("app", "1.0-1", "only-arm", &[("app", "any")]),
        source("armlib", "1.0-1", "", &[("only-arm", "arm64")]),
    ];
    assert!(plan_tree(&sources, "amd64", &[], &[]).is_err());
    assert!(plan_tree(&sources, "arm64", &[], &[]).is_ok());
}

#[test]
fn cycles_are_named() {
    let sources = [
        source("a", "1", "b-bin", &[("a-bin", "all")]),
        source("b", "1", "a-bin", &[("b-bin", "all")]),
        source("c", "1", "", &[("c-bin", "all")]),
    ];
    let err = plan_tree(&sources, "amd64", &[], &[]).unwrap_err();
    let PlanError::Cycle(mut names) = err else {
        panic!("{err}")
    };
    names.sort();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn reads_installed_packages_from_a_dpkg_status_file() {
    let status = "Package: gcc\nStatus: install ok installed\nVersion: 4:12.2.0-3\n\n\
                  Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
    assert_eq!(
        installed_from_dpkg_status(status).unwrap(),
        [available("gcc", "4:12.2.0-3")]
    );
    assert!(installed_from_dpkg_status("Package: x\n").is_err());
}
