//! Haiku's `driver_settings` text syntax, the format of `repo.info` (and of Haiku's settings files):
//! a tree of parameters, each `name value…` on one line, with `{ … }` blocks of child parameters.
//!
//! Follows `src/system/libroot/os/driver_settings.cpp` (`get_word`, `parse_parameter`,
//! `parse_parameters`):
//! - a newline or `;` ends a parameter; spaces and tabs separate its words;
//! - `#` at the start of a word starts a comment that runs to the end of the line;
//! - a word may be quoted with `"…"` or `'…'` (spaces and separators then belong to it);
//! - `\` makes the next character literal, inside or outside quotes;
//! - the name may be followed by `=` before its first value (`key = value`, `key=value`);
//! - `{` after a parameter's values (or on the next line) opens a block of child parameters, `}`
//!   closes it.
//!
//! Lookups follow `get_driver_parameter`: when a name occurs twice, the last occurrence wins.

use std::path::{Path, PathBuf};

/// A block holds at most this many nesting levels (`MAX_SETTINGS_LEVEL` in `driver_settings.cpp`).
const MAX_NESTING_LEVEL: usize = 8;

/// A settings file could not be parsed; names the file and the 1-based line.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}; fix the settings file", path.display())]
pub struct DriverSettingsError {
    /// The file being parsed (or a label for text that did not come from a file).
    pub path: PathBuf,
    /// 1-based line where the problem was found.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One parameter: a name, its values, and an optional block of child parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parameter {
    /// The first word of the parameter (the key).
    pub name: String,
    /// The remaining words on the parameter's line, unquoted and unescaped.
    pub values: Vec<String>,
    /// Parameters inside the `{ … }` block that follows, if any.
    pub children: Vec<Parameter>,
    /// 1-based line of the name, for error messages.
    pub line: usize,
}

/// A parsed settings text: the top-level parameters in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Top-level parameters, in the order they appear.
    pub parameters: Vec<Parameter>,
}

impl Parameter {
    /// The last child parameter called `name` (case-sensitive), like `get_driver_parameter`.
    pub fn child(&self, name: &str) -> Option<&Parameter> {
        self.children.iter().rev().find(|p| p.name == name)
    }
}

impl Settings {
    /// The last top-level parameter called `name` (case-sensitive): the last occurrence wins.
    pub fn get(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().rev().find(|p| p.name == name)
    }

    /// The first value of the last parameter called `name`, like `get_driver_parameter(…)`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|p| p.values.first()).map(String::as_str)
    }

    /// Reads and parses a settings file.
    pub fn load(path: &Path) -> Result<Settings, DriverSettingsError> {
        let text = std::fs::read(path).map_err(|e| DriverSettingsError {
            path: path.to_owned(),
            line: 0,
            message: format!("cannot read the file: {e}"),
        })?;
        parse(&String::from_utf8_lossy(&text), path)
    }
}

/// Parses settings text; `path` only labels error messages.
pub fn parse(text: &str, path: &Path) -> Result<Settings, DriverSettingsError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        path,
    };
    let parameters = parser.block(0)?;
    Ok(Settings { parameters })
}

/// How a word ended: decides whether more values follow on the same parameter.
#[derive(Debug, PartialEq, Eq)]
enum WordEnd {
    /// More words of the same parameter follow on this line.
    Continue,
    /// The parameter ends here (newline, `;`, `{`, `}`, `#` or end of text follows).
    Done,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    path: &'a Path,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> DriverSettingsError {
        DriverSettingsError {
            path: self.path.to_owned(),
            line: self.line,
            message: message.into(),
        }
    }

    /// Parses parameters until the matching `}` (level > 0) or the end of the text (level 0).
    fn block(&mut self, level: usize) -> Result<Vec<Parameter>, DriverSettingsError> {
        if level > MAX_NESTING_LEVEL {
            return Err(self.error(format!("blocks nested deeper than {MAX_NESTING_LEVEL} levels")));
        }
        let mut parameters = Vec::new();
        loop {
            self.skip_blank_and_comments();
            match self.peek() {
                None if level == 0 => return Ok(parameters),
                None => return Err(self.error("unclosed '{' block: missing '}'")),
                Some('}') if level > 0 => {
                    self.bump();
                    return Ok(parameters);
                }
                Some('}') => return Err(self.error("unexpected '}' outside a block")),
                Some('{') => return Err(self.error("'{' without a parameter name before it")),
                Some(_) => {
                    let mut parameter = self.parameter()?;
                    if self.peek() == Some('{') {
                        self.bump();
                        parameter.children = self.block(level + 1)?;
                    }
                    parameters.push(parameter);
                }
            }
        }
    }

    /// Parses a name and its values; stops before a `{` that opens its block, if any.
    fn parameter(&mut self) -> Result<Parameter, DriverSettingsError> {
        let line = self.line;
        let (name, mut end) = self.word(true)?;
        let mut values = Vec::new();
        while end == WordEnd::Continue {
            if values.is_empty() {
                // `key = value`: an `=` between the name and the first value is decoration.
                while matches!(self.peek(), Some(' ' | '\t' | '=')) {
                    self.bump();
                }
                if matches!(self.peek(), None | Some('\n' | ';' | '{' | '}' | '#')) {
                    self.after_word(false);
                    break;
                }
            }
            let (value, value_end) = self.word(values.is_empty())?;
            values.push(value);
            end = value_end;
        }
        Ok(Parameter {
            name,
            values,
            children: Vec::new(),
            line,
        })
    }

    /// Reads one word (quoted or not); `equals_breaks` makes an unquoted `=` end it.
    fn word(&mut self, equals_breaks: bool) -> Result<(String, WordEnd), DriverSettingsError> {
        let start_line = self.line;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                Some(q)
            }
            _ => None,
        };
        let mut word = String::new();
        loop {
            let Some(c) = self.peek() else {
                if quote.is_some() {
                    return Err(DriverSettingsError {
                        line: start_line,
                        ..self.error("unterminated quoted string")
                    });
                }
                break;
            };
            match c {
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some(escaped) => word.push(escaped),
                        None => return Err(self.error("'\\' at the end of the text")),
                    }
                }
                c if Some(c) == quote => {
                    self.bump();
                    break;
                }
                c if quote.is_none() && (is_word_break(c) || (equals_breaks && c == '=')) => break,
                c => {
                    self.bump();
                    word.push(c);
                }
            }
        }
        Ok((word, self.after_word(false)))
    }

    /// After a word: skips to the next word on the same parameter, or decides the parameter ended.
    /// A `{` may still follow after one line break, as `get_word` allows.
    fn after_word(&mut self, mut new_line: bool) -> WordEnd {
        let mark = (self.pos, self.line);
        loop {
            match self.peek() {
                None => return WordEnd::Done,
                Some('\n' | ';') => {
                    if new_line {
                        // Keep the separator for the block loop; only look one line ahead for `{`.
                        return self.brace_on_next_line(mark);
                    }
                    new_line = true;
                    self.bump();
                }
                Some('{' | '}' | '#') => return WordEnd::Done,
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some(_) if new_line => {
                    return self.brace_on_next_line(mark);
                }
                Some(_) => return WordEnd::Continue,
            }
        }
    }

    /// Leaves the position at a `{` if one starts the next line, otherwise back at `mark`.
    fn brace_on_next_line(&mut self, mark: (usize, usize)) -> WordEnd {
        if self.peek() != Some('{') {
            (self.pos, self.line) = mark;
        }
        WordEnd::Done
    }

    fn skip_blank_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while !matches!(self.peek(), None | Some('\n')) {
                    self.bump();
                }
            } else if c.is_whitespace() || c == ';' {
                self.bump();
            } else {
                break;
            }
        }
    }
}

/// Characters that end an unquoted word (`is_word_break` in `driver_settings.cpp`, plus the block
/// braces, which always end a word there too because `get_word` stops at them).
fn is_word_break(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | '{' | '}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Settings {
        parse(text, Path::new("test.info")).unwrap()
    }

    #[test]
    fn keys_values_quotes_and_comments() {
        let s = parse_ok(
            "# comment\nname HaikuPorts\nvendor \"Haiku Project\" # trailing\nsummary 'a; b'\n\
             priority 1; architecture x86_64\nescaped a\\ b\\\"c\n",
        );
        assert_eq!(s.value("name"), Some("HaikuPorts"));
        assert_eq!(s.value("vendor"), Some("Haiku Project"));
        assert_eq!(s.value("summary"), Some("a; b"));
        assert_eq!(s.value("priority"), Some("1"));
        assert_eq!(s.value("architecture"), Some("x86_64"));
        assert_eq!(s.value("escaped"), Some("a b\"c"));
        assert_eq!(s.get("vendor").unwrap().line, 3);
    }

    #[test]
    fn last_occurrence_wins_and_first_value_is_used() {
        let s = parse_ok("name one\nname two three\n");
        assert_eq!(s.value("name"), Some("two"));
        assert_eq!(s.get("name").unwrap().values, ["two", "three"]);
    }

    #[test]
    fn assignment_and_blocks() {
        let s = parse_ok("a = 1\nb=2\nouter x {\n  inner 1 2\n  deeper\n  {\n    leaf\n  }\n}\nafter z\n");
        assert_eq!(s.value("a"), Some("1"));
        assert_eq!(s.value("b"), Some("2"));
        let outer = s.get("outer").unwrap();
        assert_eq!(outer.values, ["x"]);
        assert_eq!(outer.child("inner").unwrap().values, ["1", "2"]);
        assert_eq!(outer.child("deeper").unwrap().children[0].name, "leaf");
        assert_eq!(s.value("after"), Some("z"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("ok 1\nbad \"open\n", Path::new("repo.info")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("repo.info:2:"), "{e}");
        let e = parse("a {\n b\n", Path::new("x")).unwrap_err();
        assert!(e.message.contains("missing '}'"), "{e}");
        assert!(parse("}\n", Path::new("x")).is_err());
    }
}
