//! The builder config file the master writes on every (re)connect: HaikuPorter's `haikuports.conf`
//! syntax (`KEY="value"`, booleans as yes/no, lists space-joined; reference report §3.3 step 4), read by
//! the build tool through `--config=`.

use super::config::BuilderPaths;

/// What the master tells the build tool, besides paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuilderConfValues {
    /// `TARGET_ARCHITECTURE`, e.g. `x86_64`.
    pub target_architecture: String,
    /// `SECONDARY_TARGET_ARCHITECTURES`, e.g. `x86` on x86_gcc2 hybrids.
    pub secondary_architectures: Vec<String>,
    /// `ALLOW_UNTESTED`.
    pub allow_untested: bool,
    /// `ALLOW_UNSAFE_SOURCES`.
    pub allow_unsafe_sources: bool,
    /// `CREATE_SOURCE_PACKAGES`.
    pub create_source_packages: bool,
}

impl Default for BuilderConfValues {
    fn default() -> Self {
        Self {
            target_architecture: "x86_64".into(),
            secondary_architectures: Vec::new(),
            allow_untested: false,
            allow_unsafe_sources: false,
            create_source_packages: false,
        }
    }
}

/// Quotes a value for the shell-like `haikuports.conf` syntax (it is sourced by bash): inside double
/// quotes only `"`, `\`, `$` and `` ` `` are special.
fn conf_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

/// The file's text for builder `name`.
pub fn render(name: &str, paths: &BuilderPaths, values: &BuilderConfValues) -> String {
    let lines = [
        ("TREE_PATH", conf_quote(&paths.ports_tree)),
        ("PACKAGES_PATH", conf_quote(&paths.packages)),
        (
            "PACKAGER",
            conf_quote(&format!("Builder {name} <hpkg-builder@haiku-os.org>")),
        ),
        ("TARGET_ARCHITECTURE", conf_quote(&values.target_architecture)),
        (
            "SECONDARY_TARGET_ARCHITECTURES",
            conf_quote(&values.secondary_architectures.join(" ")),
        ),
        ("ALLOW_UNTESTED", conf_quote(yes_no(values.allow_untested))),
        (
            "ALLOW_UNSAFE_SOURCES",
            conf_quote(yes_no(values.allow_unsafe_sources)),
        ),
        (
            "CREATE_SOURCE_PACKAGES",
            conf_quote(yes_no(values.create_source_packages)),
        ),
    ];
    lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_haikuports_conf_that_bash_reads_back() {
        let paths = BuilderPaths::new("/w/ports $HOME", None, None, None);
        let text = render("b`1`", &paths, &BuilderConfValues::default());
        assert!(text.contains("ALLOW_UNTESTED=\"no\"\n"), "{text}");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{text}\nprintf '%s|%s' \"$TREE_PATH\" \"$PACKAGER\""))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "/w/ports $HOME|Builder b`1` <hpkg-builder@haiku-os.org>"
        );
    }
}
