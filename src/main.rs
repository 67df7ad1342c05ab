//! The `buildmaster` command: parse the command line, set up logging, run the chosen mode.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = buildmaster::cli::Cli::parse();
    buildmaster::cli::init_tracing(&cli.global);
    match buildmaster::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("buildmaster: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
