//! The `buildmaster` command: parse the command line, set up logging, run the chosen mode.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = buildmaster::cli::Cli::parse();
    let daemon = matches!(cli.command, buildmaster::cli::Command::Serve(_));
    buildmaster::cli::init_tracing(&cli.global, daemon);
    match buildmaster::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("buildmaster: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ends the process quietly, like other Unix tools, when the reader of our output goes away
/// (`buildmaster repo list … | head`): `println!` panics on a closed pipe, and this hook turns exactly that
/// panic into exit status 141 (128 + SIGPIPE). SIGPIPE itself stays ignored, as Rust sets it: restoring
/// its default would let any write to a socket whose peer died (an S3 server, a builder) kill the process
/// instead of returning an error.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}
