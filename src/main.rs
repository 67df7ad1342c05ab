//! The `buildmaster` command: parse the command line, set up logging, run the chosen mode.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Behave like other Unix tools when the reader of our output goes away (`buildmaster … | head`):
    // die quietly of SIGPIPE instead of panicking in `println!`. Rust ignores SIGPIPE by default.
    // SAFETY: setting a signal's disposition to the default before any thread starts is sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
