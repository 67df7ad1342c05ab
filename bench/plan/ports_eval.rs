//! Times [`PortsTree::load`] on a tree: the "evaluation" half of `bench/plan/run.sh`.
//! `cargo run --release --example ports-eval -- TREE [--cache FILE] [--jobs N] [--arch x86_64]
//! [--secondary x86]`; prints one line of figures.

use std::path::PathBuf;
use std::process::ExitCode;

use buildmaster::ports::{EvalOptions, PortsTree};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut tree: Option<PathBuf> = None;
    let mut options = EvalOptions {
        target_arch: "x86_64".into(),
        secondary_archs: Vec::new(),
        allow_untested: true,
        licenses_dir: None,
        cache: None,
        jobs: 0,
    };
    while let Some(arg) = args.next() {
        let value = |args: &mut std::iter::Skip<std::env::Args>| args.next().unwrap_or_default();
        match arg.as_str() {
            "--cache" => options.cache = Some(PathBuf::from(value(&mut args))),
            "--jobs" => options.jobs = value(&mut args).parse().unwrap_or(0),
            "--arch" => options.target_arch = value(&mut args),
            "--secondary" => options.secondary_archs.push(value(&mut args)),
            _ => tree = Some(PathBuf::from(arg)),
        }
    }
    let Some(tree) = tree else {
        eprintln!("usage: ports-eval TREE [--cache FILE] [--jobs N] [--arch ARCH] [--secondary ARCH]");
        return ExitCode::from(2);
    };
    match PortsTree::load(&tree, &options) {
        Ok(loaded) => {
            let stats = loaded.stats();
            let packages: usize = loaded.ports.iter().map(|p| p.packages.len()).sum();
            println!(
                "elapsed_s={:.3} recipes={} evaluated={} cached={} problems={} ports={} packages={} active={}",
                stats.elapsed.as_secs_f64(),
                stats.recipes,
                stats.evaluated,
                stats.cached,
                stats.problems,
                loaded.ports.len(),
                packages,
                loaded.active_ports().count()
            );
            for problem in loaded.problems.iter().take(5) {
                println!("problem: {}: {}", problem.recipe_path.display(), problem.message);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ports-eval: {err}");
            ExitCode::FAILURE
        }
    }
}
