//! `buildmaster … 2>&1 | head`: when the reader of the output goes away, the command ends quietly with
//! 141 (128 + SIGPIPE) like other Unix tools, whether the output is written with `println!` or as a
//! whole, and also when stderr is the same closed pipe (where reporting the error used to panic, 101).
//! A closed pipe is made deterministic here: the read end is dropped before the command starts.

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

fn vector(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors")
        .join(name);
    path.to_str().unwrap().to_owned()
}

/// Runs the binary with stdout and stderr both on one pipe whose reader is already gone (`2>&1 | head`
/// after head exited) and returns its exit code.
fn exit_code_on_closed_pipe(args: &[&str]) -> Option<i32> {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .status()
        .unwrap();
    status.code()
}

#[test]
fn whole_output_written_at_once_ends_with_141() {
    // `repo list -v` writes its text in one `write_all`; the EPIPE comes back as an error.
    let code = exit_code_on_closed_pipe(&["repo", "list", "-v", &vector("repo.hpkr")]);
    assert_eq!(code, Some(141));
}

#[test]
fn line_by_line_output_ends_with_141() {
    let code = exit_code_on_closed_pipe(&["repo", "list", &vector("repo.hpkr")]);
    assert_eq!(code, Some(141));
}

#[test]
fn a_real_error_is_still_reported_when_stdout_is_fine() {
    let output = Command::new(BIN)
        .args(["repo", "list", "/nonexistent/repo.hpkr"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/repo.hpkr"), "{stderr}");
}
