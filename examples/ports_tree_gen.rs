//! Writes a generated HaikuPorts-shaped ports tree (see `buildmaster::ports::generate` and
//! `docs/ports.md`): `cargo run --release --example ports_tree_gen -- OUT_DIR [--recipes N] [--seed S]
//! [--system-packages DIR [--arch x86_64]]`. `--system-packages` also writes the `haiku` and
//! `haiku_devel` packages the tree's requirements expect from the system.

use std::path::PathBuf;
use std::process::ExitCode;

use buildmaster::ports::generate::{generate_system_packages, generate_tree, GenOptions};

const USAGE: &str =
    "ports_tree_gen OUT_DIR [--recipes 3900] [--seed 1] [--system-packages DIR [--arch x86_64]]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut options = GenOptions::default();
    let mut system: Option<PathBuf> = None;
    let mut arch = String::from("x86_64");
    while let Some(arg) = args.next() {
        let parsed: Result<(), String> = if arg.starts_with("--") {
            match (arg.as_str(), args.next()) {
                (_, None) => Err(format!("{arg} needs a value")),
                ("--recipes", Some(v)) => v
                    .parse()
                    .map(|n| options.recipes = n)
                    .map_err(|_| format!("--recipes: {v:?} is not a number")),
                ("--seed", Some(v)) => v
                    .parse()
                    .map(|n| options.seed = n)
                    .map_err(|_| format!("--seed: {v:?} is not a number")),
                ("--system-packages", Some(v)) => {
                    system = Some(PathBuf::from(v));
                    Ok(())
                }
                ("--arch", Some(v)) => {
                    arch = v;
                    Ok(())
                }
                _ => Err(format!("unknown option {arg:?}")),
            }
        } else if out.is_none() {
            out = Some(PathBuf::from(&arg));
            Ok(())
        } else {
            Err(format!("unexpected argument {arg:?}"))
        };
        if let Err(message) = parsed {
            eprintln!("ports_tree_gen: {message}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(out) = out else {
        eprintln!("usage: {USAGE}");
        return ExitCode::from(2);
    };
    if out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        eprintln!(
            "ports_tree_gen: {} is not empty; give a new directory",
            out.display()
        );
        return ExitCode::from(2);
    }
    if let Some(dir) = &system {
        if let Err(message) = generate_system_packages(dir, &arch) {
            eprintln!("ports_tree_gen: writing system packages: {message}");
            return ExitCode::FAILURE;
        }
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
