//! Schedule quality (run by `bench/schedule/run.sh`): for several seeds, a generated ports-like graph
//! is run by the event-driven simulation under our critical-path policy and under HaikuPorter's FIFO
//! policy, and each makespan is compared with the lower bound max(critical path, total work / builders).
//!
//! Usage: schedule-bench <ports> <builders> <seeds>

use std::time::Instant;

use buildmaster::scheduler::generate::ports_like;
use buildmaster::scheduler::{simulate, Policy};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, ports, builders, seeds] = &args[..] else {
        panic!("usage: schedule-bench <ports> <builders> <seeds>")
    };
    let (ports, builders, seeds): (usize, usize, u64) = (
        ports.parse().unwrap(),
        builders.parse().unwrap(),
        seeds.parse().unwrap(),
    );
    println!("seed\tlower_bound_h\tcritical_path_h\tours_h\tours_ratio\tfifo_h\tfifo_ratio\tsim_ms");
    let (mut ours_ratios, mut fifo_ratios) = (Vec::new(), Vec::new());
    for seed in 1..=seeds {
        let graph = ports_like(ports, seed);
        let bound = graph.lower_bound(builders);
        let started = Instant::now();
        let ours = simulate(&graph, builders, Policy::CriticalPath).makespan;
        let sim_ms = started.elapsed().as_secs_f64() * 1e3;
        let fifo = simulate(&graph, builders, Policy::Fifo).makespan;
        ours_ratios.push(ours / bound);
        fifo_ratios.push(fifo / bound);
        println!(
            "{seed}\t{:.2}\t{:.2}\t{:.2}\t{:.4}\t{:.2}\t{:.4}\t{sim_ms:.1}",
            bound / 3600.0,
            graph.critical_path() / 3600.0,
            ours / 3600.0,
            ours / bound,
            fifo / 3600.0,
            fifo / bound
        );
    }
    println!(
        "median makespan / lower bound over {seeds} graphs of {ports} ports on {builders} builders: critical path {:.4}, FIFO {:.4}",
        median(ours_ratios),
        median(fifo_ratios)
    );
}
