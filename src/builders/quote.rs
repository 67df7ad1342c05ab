//! Remote command lines from argument vectors. SSH `exec` hands one string to the remote user's shell,
//! so every argument is quoted with POSIX single quotes — the one quoting form in which no character
//! (`$`, `` ` ``, `\`, `"`, newline, `;`, glob characters) keeps a special meaning. A single quote
//! itself is written as `'\''` (close, escaped quote, reopen). Recipe and port names therefore never
//! reach a shell unquoted.

/// Quotes one argument for a POSIX shell. Arguments made only of characters that are never special
/// are left bare so logs stay readable.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Joins an argument vector into one shell command line, each argument quoted.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_everything_special() {
        assert_eq!(shell_quote("gcc-13.2"), "gcc-13.2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote("~root"), "'~root'");
        assert_eq!(command_line(&["echo", "x;y", "`id`"]), "echo 'x;y' '`id`'");
    }

    /// The real test of quoting: a shell must hand back exactly the arguments we gave it.
    #[test]
    fn sh_round_trips_hostile_arguments() {
        let hostile = [
            "plain",
            "",
            " leading space",
            "it's",
            "''",
            "\\'",
            "a\nb",
            "$HOME `id` $(id) ${IFS}",
            "; rm -rf / #",
            "*?[a-z]{x,y}",
            "\"double\" \\back\\",
            "!event",
            "tab\there",
            "ünïcödé",
            "-n",
        ];
        let mut argv = vec!["printf", "%s\\0"];
        argv.extend(hostile.iter());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command_line(&argv))
            .output()
            .unwrap();
        assert!(out.status.success());
        let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        let expected: Vec<&[u8]> = hostile.iter().map(|s| s.as_bytes()).chain([&b""[..]]).collect();
        assert_eq!(got, expected);
    }
}
