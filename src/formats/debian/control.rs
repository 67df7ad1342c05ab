//! Debian control stanzas (deb822 paragraphs): the `control` file of a `.deb` and the entries of a
//! `Packages` index.
//!
//! A stanza is kept as its fields in file order with their values verbatim (continuation lines
//! included), so that what a package says about itself reaches apt unchanged; only trailing
//! whitespace is dropped, which deb822 does not give meaning to.

/// One deb822 paragraph.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Stanza {
    /// `(name, value)` in file order. A multi-line value keeps its continuation lines, each
    /// starting with a space, joined with `\n`.
    fields: Vec<(String, String)>,
}

impl Stanza {
    /// Parses one paragraph. Blank lines before and after it are allowed, a second paragraph is not
    /// (a binary package's `control` has exactly one). `#` comment lines are skipped, as dpkg does.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut stanza = Stanza::default();
        let mut ended = false;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                ended = !stanza.fields.is_empty();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if ended {
                return Err(format!("line {}: a second paragraph", number + 1));
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = stanza.fields.last_mut() else {
                    return Err(format!(
                        "line {}: a continuation line before any field",
                        number + 1
                    ));
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!("line {}: no ':' in {line:?}", number + 1));
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(format!("line {}: bad field name {name:?}", number + 1));
            }
            if stanza.get(name).is_some() {
                return Err(format!("line {}: field {name} appears twice", number + 1));
            }
            stanza.fields.push((name.to_owned(), value.trim().to_owned()));
        }
        if stanza.fields.is_empty() {
            return Err("no fields".into());
        }
        Ok(stanza)
    }

    /// The value of field `name` (field names are case-insensitive in deb822).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a field that must be present and on one line.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        match self.get(name) {
            None | Some("") => Err(format!("the control file has no {name} field")),
            Some(v) if v.contains('\n') => Err(format!("the {name} field spans several lines")),
            Some(v) => Ok(v),
        }
    }

    /// Removes field `name` if present.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Appends a field (after removing any field of that name).
    pub fn set(&mut self, name: &str, value: String) {
        self.remove(name);
        self.fields.push((name.to_owned(), value));
    }

    /// The paragraph as text: one `Name: value` per field, each line ending in `\n`, no blank
    /// line after it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fields {
            out.push_str(name);
            out.push(':');
            // A value that starts on the next line (`Description:` is never like that, but
            // `Conffiles:`-style fields are) keeps `Name:` alone on its line.
            if !value.is_empty() && !value.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_multiline_fields() {
        let text = "Package: bm-hello\nVersion: 1:2.0-1\nDepends: a (>= 1), b | c\n\
                    Description: says hello\n Long text.\n .\n More.   \n\n";
        let s = Stanza::parse(text).unwrap();
        assert_eq!(s.get("package"), Some("bm-hello"));
        assert_eq!(s.get("Description"), Some("says hello\n Long text.\n .\n More."));
        assert_eq!(
            s.to_text(),
            "Package: bm-hello\nVersion: 1:2.0-1\nDepends: a (>= 1), b | c\n\
             Description: says hello\n Long text.\n .\n More.\n"
        );
        assert_eq!(Stanza::parse(&s.to_text()).unwrap(), s);
    }

    #[test]
    fn empty_first_line_value() {
        let s = Stanza::parse("Package: x\nConffiles:\n /etc/x 0123\n").unwrap();
        assert_eq!(s.get("Conffiles"), Some("\n /etc/x 0123"));
        assert_eq!(s.to_text(), "Package: x\nConffiles:\n /etc/x 0123\n");
    }

    #[test]
    fn set_replaces_and_appends() {
        let mut s = Stanza::parse("Package: x\nSize: 1\nVersion: 1\n").unwrap();
        s.set("size", "42".into());
        assert_eq!(s.to_text(), "Package: x\nVersion: 1\nsize: 42\n");
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            " continuation first\n",
            "Package x\n",
            "Package: a\n\nPackage: b\n",
            "Package: a\npackage: b\n",
            ": nameless\n",
        ] {
            assert!(Stanza::parse(bad).is_err(), "{bad:?} accepted");
        }
        let s = Stanza::parse("Package: a\nDescription: x\n y\n").unwrap();
        assert!(s.required("Version").is_err());
        assert!(s.required("Description").is_err());
    }
}
