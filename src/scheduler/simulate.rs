//! An event-driven simulation of builders running a build graph: every time a builder is free and a
//! build is ready, the policy's most urgent ready build starts at once (no polling delay).

use super::graph::{BuildGraph, BuildId};
use super::policy::{Policy, Priority};

/// The outcome of a simulated run.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// When the last build finished.
    pub makespan: f64,
    /// Start time and builder of every build, by build id.
    pub starts: Vec<(f64, usize)>,
}

/// Simulates `builders` identical builders running `graph` under `policy`.
pub fn simulate(graph: &BuildGraph, builders: usize, policy: Policy) -> Schedule {
    let n = graph.builds().len();
    let builders = builders.max(1);
    let mut waiting_on: Vec<usize> = graph.builds().iter().map(|b| b.deps.len()).collect();
    let mut ready: Vec<(Priority, BuildId)> = Vec::new();
    let mut ready_seq = 0;
    for id in (0..n).filter(|&id| waiting_on[id] == 0) {
        ready.push((policy.priority(graph, id, ready_seq), id));
        ready_seq += 1;
    }
    let mut free: Vec<usize> = (0..builders).rev().collect();
    // Running builds as (finish time, builder, build), kept sorted by finish time, latest first.
    let mut running: Vec<(f64, usize, BuildId)> = Vec::new();
    let mut starts = vec![(0.0, 0); n];
    let mut now = 0.0;
    let mut makespan: f64 = 0.0;
    loop {
        while !free.is_empty() && !ready.is_empty() {
            let best = (0..ready.len())
                .max_by(|&a, &b| {
                    ready[a]
                        .0
                        .partial_cmp(&ready[b].0)
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .expect("ready is not empty");
            let (_, id) = ready.swap_remove(best);
            let builder = free.pop().expect("free is not empty");
            starts[id] = (now, builder);
            let finish = now + graph.builds()[id].duration;
            let at = running.partition_point(|&(t, _, _)| t > finish);
            running.insert(at, (finish, builder, id));
        }
        let Some((finish, builder, id)) = running.pop() else {
            break;
        };
        now = finish;
        makespan = makespan.max(finish);
        free.push(builder);
        for &dependent in graph.dependents(id) {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.push((policy.priority(graph, dependent, ready_seq), dependent));
                ready_seq += 1;
            }
        }
    }
    Schedule { makespan, starts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::generate::ports_like;
    use crate::scheduler::graph::Build;

    /// Every build starts after its dependencies finish, and no builder runs two builds at once.
    fn assert_valid(graph: &BuildGraph, schedule: &Schedule, builders: usize) {
        let builds = graph.builds();
        for (id, build) in builds.iter().enumerate() {
            for &dep in &build.deps {
                let dep_end = schedule.starts[dep].0 + builds[dep].duration;
                assert!(
                    schedule.starts[id].0 + 1e-9 >= dep_end,
                    "build {id} started before {dep} finished"
                );
            }
        }
        for builder in 0..builders {
            let mut spans: Vec<(f64, f64)> = (0..builds.len())
                .filter(|&id| schedule.starts[id].1 == builder)
                .map(|id| (schedule.starts[id].0, schedule.starts[id].0 + builds[id].duration))
                .collect();
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            for pair in spans.windows(2) {
                assert!(
                    pair[1].0 + 1e-9 >= pair[0].1,
                    "builder {builder} overlaps two builds"
                );
            }
        }
    }

    #[test]
    fn small_graph_is_scheduled_optimally() {
        // A long chain and short independent builds: the chain must start first.
        let mut builds = vec![Build {
            name: "a".into(),
            duration: 10.0,
            deps: vec![],
        }];
        builds.push(Build {
            name: "b".into(),
            duration: 10.0,
            deps: vec![0],
        });
        for i in 0..4 {
            builds.push(Build {
                name: format!("s{i}"),
                duration: 5.0,
                deps: vec![],
            });
        }
        let graph = BuildGraph::new(builds).unwrap();
        let ours = simulate(&graph, 2, Policy::CriticalPath);
        assert_valid(&graph, &ours, 2);
        assert_eq!(ours.makespan, 20.0);
        let fifo = simulate(&graph, 2, Policy::Fifo);
        assert_valid(&graph, &fifo, 2);
        assert!(fifo.makespan >= ours.makespan);
    }

    #[test]
    fn generated_graph_schedules_are_valid_and_near_the_bound() {
        let graph = ports_like(800, 7);
        for builders in [1, 3, 4] {
            let schedule = simulate(&graph, builders, Policy::CriticalPath);
            assert_valid(&graph, &schedule, builders);
            assert!(schedule.makespan + 1e-6 >= graph.lower_bound(builders));
            if builders == 1 {
                assert!((schedule.makespan - graph.total_work()).abs() < 1e-6);
            }
        }
    }
}
