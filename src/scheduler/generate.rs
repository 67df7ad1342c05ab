//! Synthetic build graphs shaped like a ports tree, for the scheduling benchmark and tests.
//!
//! Shape (deterministic for a seed): ports come in topological order; each depends on 0–6 earlier
//! ports, drawn with a strong preference for a small set of "toolchain" ports near the start (as
//! HaikuPorts' ports mostly depend on gcc, cmake, perl, python, …) and otherwise on recent ports (libraries
//! of the same area). Durations are log-uniform between 30 s and 2 h, with a few ports of up to 6 h
//! (HaikuPorts has builds that take hours, e.g. 0ad_data, qt).

use super::graph::{Build, BuildGraph};

/// Share of ports that form the toolchain core everything builds on.
const CORE_SHARE: f64 = 0.02;

/// A graph of `ports` builds for `seed`.
pub fn ports_like(ports: usize, seed: u64) -> BuildGraph {
    let mut rng = fastrand::Rng::with_seed(seed);
    let core = ((ports as f64 * CORE_SHARE) as usize).max(1);
    let mut builds = Vec::with_capacity(ports);
    for id in 0..ports {
        let mut deps = Vec::new();
        if id > 0 {
            let count = [0, 1, 1, 2, 2, 3, 3, 4, 5, 6][rng.usize(..10)];
            for _ in 0..count {
                let dep = if rng.f64() < 0.5 || id <= core {
                    rng.usize(..id.min(core))
                } else {
                    // A recent port: within the last 5 % of the graph so far.
                    let window = (id / 20).max(1);
                    id - 1 - rng.usize(..window.min(id))
                };
                if !deps.contains(&dep) {
                    deps.push(dep);
                }
            }
        }
        let minutes = if rng.f64() < 0.01 {
            120.0 + rng.f64() * 240.0
        } else {
            0.5 * 240f64.powf(rng.f64())
        };
        builds.push(Build {
            name: format!("port{id:05}"),
            duration: minutes * 60.0,
            deps,
        });
    }
    BuildGraph::new(builds).expect("generated graphs only point backwards")
}
