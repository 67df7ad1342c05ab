//! The `buildmaster` command: parse the command line, set up logging, run the chosen mode.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = buildmaster::cli::Cli::parse();
    let daemon = matches!(cli.command, buildmaster::cli::Command::Serve(_));
    buildmaster::cli::init_tracing(&cli.global, daemon);
    match buildmaster::cli::run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`… | head`): end like other Unix tools, without a message
        // that would itself go to a closed pipe under `2>&1`.
        Err(err) if stdout_reader_gone(&err) => ExitCode::from(141),
        Err(err) => {
            // Not `eprintln!`: it panics (exit 101) when stderr is a closed pipe too.
            let _ = writeln!(std::io::stderr(), "buildmaster: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `err` is a broken pipe on our own standard output: the error chain holds an EPIPE and
/// stdout's pipe has no reader left (poll reports POLLERR on a pipe's write end once its read end is
/// closed). A broken pipe to a builder or a child process is a real error and is still reported.
fn stdout_reader_gone(err: &anyhow::Error) -> bool {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if !broken_pipe {
        return false;
    }
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout; poll only reads and writes that struct.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & libc::POLLERR != 0
}

/// Ends the process quietly, like other Unix tools, when the reader of our output goes away
/// (`buildmaster repo list … | head`, also with `2>&1`): `println!` and `eprintln!` panic on a closed
/// pipe, and this hook turns exactly that panic into exit status 141 (128 + SIGPIPE). SIGPIPE itself stays ignored, as Rust sets it: restoring
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
        let closed_output = message.starts_with("failed printing to stdout")
            || message.starts_with("failed printing to stderr");
        if closed_output && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}
