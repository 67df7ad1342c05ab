//! `buildmaster repo check`: the installability report, as text for people or JSON for scripts.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::haiku::hpkr_reader::read_repository;
use crate::repository::check::{check, system_packages};

/// Runs the check of `repo` (plus the packages in `system`) and prints the report.
pub fn run(repo: &Path, system: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let repository =
        read_repository(repo).with_context(|| format!("cannot read repository {}", repo.display()))?;
    let system = match system {
        Some(dir) => system_packages(dir)?,
        None => Vec::new(),
    };
    let report = check(&repository.packages, &system);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for problem in &report.unresolved {
            println!(
                "{}: unresolvable requires \"{}\"",
                problem.package, problem.requires
            );
        }
        println!(
            "{} packages checked against {} system packages: {} unresolvable requirements",
            report.packages,
            report.system_packages,
            report.unresolved.len()
        );
    }
    Ok(if report.unresolved.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
