//! Writes a generated HaikuPorts-shaped ports tree (see `buildmaster::ports::generate` and
//! `docs/ports.md`): `cargo run --release --example ports_tree_gen -- OUT_DIR [--recipes N] [--seed S]`.

use std::path::PathBuf;
use std::process::ExitCode;

use buildmaster::ports::generate::{generate_tree, GenOptions};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut options = GenOptions::default();
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| -> Result<u64, String> {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            value
                .parse()
                .map_err(|_| format!("{flag}: {value:?} is not a number"))
        };
        let parsed = match arg.as_str() {
            "--recipes" => number("--recipes").map(|n| options.recipes = n as usize),
            "--seed" => number("--seed").map(|n| options.seed = n),
            _ if out.is_none() && !arg.starts_with('-') => {
                out = Some(PathBuf::from(&arg));
                Ok(())
            }
            _ => Err(format!("unexpected argument {arg:?}")),
        };
        if let Err(message) = parsed {
            eprintln!("ports_tree_gen: {message}\nusage: ports_tree_gen OUT_DIR [--recipes 3900] [--seed 1]");
            return ExitCode::from(2);
        }
    }
    let Some(out) = out else {
        eprintln!("usage: ports_tree_gen OUT_DIR [--recipes 3900] [--seed 1]");
        return ExitCode::from(2);
    };
    if out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        eprintln!(
            "ports_tree_gen: {} is not empty; give a new directory",
            out.display()
        );
        return ExitCode::from(2);
    }
    match generate_tree(&out, &options) {
        Ok(summary) => {
            println!(
                "{}: {} recipes, {} ports, {} packages, {} categories, {} ports not buildable on x86_64",
                out.display(),
                summary.recipes,
                summary.ports,
                summary.packages,
                summary.categories,
                summary.not_buildable
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ports_tree_gen: writing {}: {err}", out.display());
            ExitCode::FAILURE
        }
    }
}
