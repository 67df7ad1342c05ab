//! Gate cost for the HaikuPorts repository (issue 15, acceptance 7): the installability evaluation a
//! gated publish runs ([`buildmaster::gate::buildrun::evaluate`]) for CHANGED staged packages against
//! a published repository of PACKAGES packages plus one system package. Each published package
//! requires the one before it, each staged package is a new version requiring its predecessor, so every
//! requirement is looked up. Prints each round's time and the median.
//!
//! `haikuports-bench PACKAGES CHANGED ROUNDS` (run by bench/gate/haikuports.sh in release mode).

use std::collections::BTreeSet;
use std::time::Instant;

use buildmaster::formats::haiku::record::PackageRecord;
use buildmaster::gate::buildrun::{evaluate, fixture, BuiltPipeline};
use buildmaster::gate::policy::Mode;
use buildmaster::state::PackageState;

/// Package `pkg<i>` at `version`, requiring `pkg<i-1> >= 1.0` (and `haiku`).
fn record(i: usize, version: &str, state: PackageState) -> PackageRecord {
    let previous = i.checked_sub(1).map(|p| format!("pkg{p}"));
    let mut requires = vec![("haiku", None)];
    requires.extend(previous.as_deref().map(|p| (p, Some("1.0"))));
    fixture::record(&format!("pkg{i}"), version, &requires, state)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("PACKAGES CHANGED ROUNDS are numbers"))
        .collect();
    let [packages, changed, rounds] = args[..] else {
        panic!("usage: haikuports-bench PACKAGES CHANGED ROUNDS");
    };
    let published: Vec<PackageRecord> = (0..packages)
        .map(|i| record(i, "1.0-1", PackageState::Stubbed))
        .collect();
    let indexed: Vec<&PackageRecord> = published.iter().collect();
    let staged: Vec<PackageRecord> = (0..changed)
        .map(|i| record(i, "2.0-1", PackageState::Spooled))
        .collect();
    let haiku = fixture::record("haiku", "1.0-1", &[], PackageState::Stubbed).info;
    let mut times = Vec::new();
    for round in 1..=rounds {
        let open = [BuiltPipeline {
            id: 1,
            packages: staged.iter().collect(),
            eligible: true,
            waived: BTreeSet::new(),
        }];
        let started = Instant::now();
        let evaluation = evaluate(&indexed, &open, std::slice::from_ref(&haiku), Mode::Block);
        let seconds = started.elapsed().as_secs_f64();
        assert!(
            evaluation.promotable.contains(&1) && evaluation.unresolved.is_empty(),
            "every staged package should resolve: {:?}",
            evaluation.unresolved
        );
        println!("round {round}: {changed} staged against {packages}: {seconds:.3} s");
        times.push(seconds);
    }
    times.sort_by(f64::total_cmp);
    println!("median: {:.3} s", times[times.len() / 2]);
}
