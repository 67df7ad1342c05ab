//! `buildmaster repo check`: the installability report, as text for people or JSON for scripts. The
//! check itself is the Haiku format's ([`crate::formats::haiku::check`]); this file only prints it.

use std::path::Path;
use std::process::ExitCode;

use crate::formats::haiku::check::check_repository_file;

/// Runs the check of `repo` (plus the packages in `system`) and prints the report.
pub fn run(repo: &Path, system: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let report = check_repository_file(repo, system)?;
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
