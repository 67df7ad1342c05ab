//! Keeps `docs/configuration.md` in sync with the code: every key each config struct accepts is
//! documented in its section's table, every documented key exists, and the sample files in the document
//! parse (unknown keys are errors, so a stale sample fails here).

use std::collections::BTreeSet;

use buildmaster::builders::config::{
    BuilderSection, DpkgSection, HaikuPorterSection, PortsTreeSection, RpmSection, SshSection,
    TimeoutsSection,
};
use buildmaster::config::instance::{
    BuildrunSection, InstanceConfig, PortsSection, PublishSection, ServeSection,
};
use buildmaster::config::storage::{FsSettings, S3Settings};
use buildmaster::formats::{DebianSettings, HaikuSettings, RpmSettings};
use buildmaster::gate::policy::{CommandSection, PolicySection};
use buildmaster::gate::GateSection;
use buildmaster::repos::config::RepositorySection;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A deserializer that only records the field names a struct asks for, then stops.
struct FieldNames<'a>(&'a mut Vec<&'static str>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.0.extend_from_slice(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

fn fields<'de, T: Deserialize<'de>>() -> BTreeSet<String> {
    let mut names = Vec::new();
    let _ = T::deserialize(FieldNames(&mut names));
    assert!(
        !names.is_empty(),
        "{} is not a struct",
        std::any::type_name::<T>()
    );
    names.into_iter().map(String::from).collect()
}

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md"))
        .expect("docs/configuration.md")
}

/// Keys in the first column (`` `key` ``) of the table under the heading that contains `heading`.
fn documented(doc: &str, heading: &str) -> BTreeSet<String> {
    let start = doc
        .lines()
        .position(|l| l.starts_with('#') && l.contains(heading))
        .unwrap_or_else(|| panic!("docs/configuration.md has no heading with {heading}"));
    doc.lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect()
}

#[test]
fn every_config_key_is_documented_and_every_documented_key_exists() {
    let doc = doc();
    let sections = [
        ("`buildmaster.toml` top level", fields::<InstanceConfig>()),
        ("`[ports]`", fields::<PortsSection>()),
        ("`[buildrun]`", fields::<BuildrunSection>()),
        ("`[serve]`", fields::<ServeSection>()),
        ("`[publish]`", fields::<PublishSection>()),
        ("`[[repositories]]`", fields::<RepositorySection>()),
        ("`[repositories.debian]`", fields::<DebianSettings>()),
        ("`[repositories.rpm]`", fields::<RpmSettings>()),
        ("`[repositories.haiku]`", fields::<HaikuSettings>()),
        ("`[repositories.policy]`", fields::<PolicySection>()),
        (
            "`[repositories.policy.lint]` and `[repositories.policy.test]`",
            fields::<CommandSection>(),
        ),
        ("`[gate]`", fields::<GateSection>()),
        ("`[scratch]`", fields::<buildmaster::scratch::ScratchSection>()),
        ("`[[builders]]`", fields::<BuilderSection>()),
        ("`[builders.ssh]`", fields::<SshSection>()),
        ("`[builders.portstree]`", fields::<PortsTreeSection>()),
        ("`[builders.haikuporter]`", fields::<HaikuPorterSection>()),
        ("`[builders.dpkg]`", fields::<DpkgSection>()),
        ("`[builders.rpm]`", fields::<RpmSection>()),
        (
            "`[ports.debian]`",
            fields::<buildmaster::plan::recipe_tree::DebianTreeSection>(),
        ),
        ("`[builders.timeouts]`", fields::<TimeoutsSection>()),
        ("S3 storage", fields::<S3Settings>()),
        ("filesystem storage", fields::<FsSettings>()),
    ];
    let mut problems = Vec::new();
    for (heading, code) in sections {
        let docs = documented(&doc, heading);
        for missing in code.difference(&docs) {
            problems.push(format!("{heading}: `{missing}` is accepted but not documented"));
        }
        for stale in docs.difference(&code) {
            problems.push(format!("{heading}: `{stale}` is documented but not accepted"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md is out of date:\n{}",
        problems.join("\n")
    );
}

/// The fenced blocks tagged `toml` parse as the instance config, `json` ones as storage configs.
#[test]
fn the_samples_in_the_reference_parse() {
    let doc = doc();
    let mut blocks = 0;
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let lang = match line.trim() {
            "```toml" => "toml",
            "```json" => "json",
            _ => continue,
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let body = body.join("\n");
        if lang == "toml" {
            toml::from_str::<InstanceConfig>(&body).unwrap_or_else(|e| panic!("sample:\n{body}\n{e}"));
        } else {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &body).unwrap();
            buildmaster::config::StorageConfig::load(file.path())
                .unwrap_or_else(|e| panic!("sample:\n{body}\n{e}"));
        }
        blocks += 1;
    }
    assert!(
        blocks >= 3,
        "expected the instance sample and two storage samples, found {blocks}"
    );
}
