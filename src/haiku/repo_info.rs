//! A repository's description (`BRepositoryInfo`): parsed from a `repo.info` text file (§2.2) and
//! converted to and from the flattened `BMessage` stored as an HPKR file's repository-info section
//! (§2.1), field for field in Haiku's order so the section bytes come out identical.
//!
//! Facts: `haiku-formats.md` §2.1–2.2; Haiku's `src/kits/package/RepositoryInfo.cpp` (`_SetTo(BEntry)`,
//! `Archive`, `SetTo(BMessage)`).

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::haiku::attributes::Architecture;
use crate::haiku::bmessage::{BMessageError, Message};
use crate::haiku::driver_settings::{DriverSettingsError, Settings};

/// BMessage field names (`BRepositoryInfo::k*Field` in `RepositoryInfo.cpp`).
mod field {
    pub const CLASS: &str = "class";
    pub const BASE_URL: &str = "baseUrl";
    pub const NAME: &str = "name";
    pub const IDENTIFIER: &str = "identifier";
    pub const URL: &str = "url";
    pub const VENDOR: &str = "vendor";
    pub const SUMMARY: &str = "summary";
    pub const PRIORITY: &str = "priority";
    pub const ARCHITECTURE: &str = "architecture";
    pub const LICENSE_NAME: &str = "licenseName";
    pub const LICENSE_TEXT: &str = "licenseText";
}

/// What went wrong reading a repository description.
#[derive(Debug, Error)]
pub enum RepoInfoError {
    /// The `repo.info` text is not valid driver-settings syntax.
    #[error(transparent)]
    Syntax(#[from] DriverSettingsError),
    /// A required key is missing or empty in `repo.info`.
    #[error("{}: required key {key:?} is missing or empty; add `{key} <value>`", path.display())]
    MissingKey {
        /// The `repo.info` file.
        path: PathBuf,
        /// The missing key (for the identifier: `identifier`, or the legacy `url`).
        key: &'static str,
    },
    /// The architecture is not a name Haiku knows, or is `any` (which Haiku refuses for repositories).
    #[error("{}: architecture {value:?} is not allowed; use one of x86_gcc2, x86, x86_64, arm, arm64, riscv64, …", path.display())]
    BadArchitecture {
        /// The `repo.info` file.
        path: PathBuf,
        /// The value found.
        value: String,
    },
    /// The repository-info section of an HPKR file could not be decoded.
    #[error("repository-info section: {0}")]
    Message(#[from] BMessageError),
}

/// A licence text embedded in the repository info (from an APPROVE_LICENSE package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// The licence's name (the file name under `data/licenses/`).
    pub name: String,
    /// The licence's full text.
    pub text: String,
}

/// Which set of BMessage fields a repository-info section carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InfoFormat {
    /// Haiku since 2020: `baseUrl` (if set), `name`, `identifier`, `url` (= identifier), ….
    #[default]
    Current,
    /// Haiku 2013–2019: no `identifier`/`baseUrl`; `url` holds the identifier.
    Legacy,
}

/// A repository's description: what `repo.info` says, plus the licences collected from packages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepositoryInfo {
    /// The repository's name (`name`).
    pub name: String,
    /// Who publishes it (`vendor`); every package's vendor must match it case-insensitively.
    pub vendor: String,
    /// One-line description (`summary`).
    pub summary: String,
    /// Stable identifier (`identifier`, or the legacy `url`), e.g. `tag:haikuports.org,2013:…`.
    pub identifier: String,
    /// Where clients download from (`baseurl` in `repo.info`, `baseUrl` in the BMessage); may be empty.
    pub base_url: String,
    /// Priority: `atoi` of the text value, truncated to 8 bits as Haiku stores it.
    pub priority: u8,
    /// The repository's architecture; never `any`.
    pub architecture: Architecture,
    /// Licences embedded from APPROVE_LICENSE packages, in the order they were added.
    pub licenses: Vec<License>,
    /// The BMessage `class` field: "" as Linux-built `package_repo` writes it, or
    /// `BPackageKit::BRepositoryInfo` from a Haiku-native build. Readers ignore it.
    pub class_name: String,
    /// Which field set to write; [`InfoFormat::Legacy`] only to reproduce old files.
    pub format: InfoFormat,
}

impl RepositoryInfo {
    /// Reads a `repo.info` file (`BRepositoryInfo::_SetTo(BEntry)`).
    pub fn load(path: &Path) -> Result<RepositoryInfo, RepoInfoError> {
        Self::from_settings(&Settings::load(path)?, path)
    }

    /// Builds the description from parsed `repo.info` settings; `path` labels errors.
    /// Required: `name`, `vendor`, `summary`, `priority`, `architecture` (not `any`), and
    /// `identifier` or, failing that, the legacy `url`. Optional: `baseurl`.
    pub fn from_settings(settings: &Settings, path: &Path) -> Result<RepositoryInfo, RepoInfoError> {
        let required = |key: &'static str| -> Result<String, RepoInfoError> {
            match settings.value(key) {
                Some(value) if !value.is_empty() => Ok(value.to_owned()),
                _ => Err(RepoInfoError::MissingKey {
                    path: path.to_owned(),
                    key,
                }),
            }
        };
        let name = required("name")?;
        let identifier = match settings.value("identifier") {
            Some(value) if !value.is_empty() => value.to_owned(),
            _ => required("url").map_err(|_| RepoInfoError::MissingKey {
                path: path.to_owned(),
                key: "identifier",
            })?,
        };
        let vendor = required("vendor")?;
        let summary = required("summary")?;
        let priority = required("priority")?;
        let architecture_name = required("architecture")?;
        let architecture = Architecture::from_name(&architecture_name)
            .filter(|a| *a != Architecture::Any)
            .ok_or_else(|| RepoInfoError::BadArchitecture {
                path: path.to_owned(),
                value: architecture_name.clone(),
            })?;
        Ok(RepositoryInfo {
            name,
            vendor,
            summary,
            identifier,
            base_url: settings.value("baseurl").unwrap_or_default().to_owned(),
            // Haiku stores `atoi(value)` in a uint8: the truncation is deliberate.
            priority: atoi(&priority) as u8,
            architecture,
            licenses: Vec::new(),
            class_name: String::new(),
            format: InfoFormat::Current,
        })
    }

    /// Adds a licence unless one with the same name (case-insensitively) is already present, as
    /// `BRepositoryInfo::AddLicense` via `package_repo`; returns whether it was added.
    pub fn add_license(&mut self, name: &str, text: &str) -> bool {
        if self.licenses.iter().any(|l| l.name.eq_ignore_ascii_case(name)) {
            return false;
        }
        self.licenses.push(License {
            name: name.to_owned(),
            text: text.to_owned(),
        });
        true
    }

    /// The BMessage that `BRepositoryInfo::Archive` produces, fields in Haiku's order.
    pub fn to_message(&self) -> Message {
        let mut message = Message::default();
        message.add_string(field::CLASS, &self.class_name);
        match self.format {
            InfoFormat::Current => {
                if !self.base_url.is_empty() {
                    message.add_string(field::BASE_URL, &self.base_url);
                }
                message.add_string(field::NAME, &self.name);
                message.add_string(field::IDENTIFIER, &self.identifier);
                // Kept for clients older than the identifier field.
                message.add_string(field::URL, &self.identifier);
            }
            InfoFormat::Legacy => {
                message.add_string(field::NAME, &self.name);
                message.add_string(field::URL, &self.identifier);
            }
        }
        message.add_string(field::VENDOR, &self.vendor);
        message.add_string(field::SUMMARY, &self.summary);
        message.add_u8(field::PRIORITY, self.priority);
        message.add_u8(field::ARCHITECTURE, self.architecture as u8);
        for license in &self.licenses {
            message.add_string(field::LICENSE_NAME, &license.name);
        }
        for license in &self.licenses {
            message.add_string(field::LICENSE_TEXT, &license.text);
        }
        message
    }

    /// The repository-info section bytes: the flattened [`RepositoryInfo::to_message`].
    pub fn encode(&self) -> Vec<u8> {
        self.to_message().flatten()
    }

    /// Reads a repository-info BMessage (`BRepositoryInfo::SetTo(BMessage)`): the identifier falls
    /// back to `url` when absent, which also marks the section as [`InfoFormat::Legacy`].
    pub fn from_message(message: &Message) -> Result<RepositoryInfo, RepoInfoError> {
        let string = |name: &str| -> Result<String, RepoInfoError> {
            message.find_string(name).ok_or_else(|| {
                RepoInfoError::Message(BMessageError::MissingField {
                    name: name.to_owned(),
                })
            })
        };
        let (identifier, format) = match message.find_string(field::IDENTIFIER) {
            Some(identifier) => (identifier, InfoFormat::Current),
            None => (string(field::URL)?, InfoFormat::Legacy),
        };
        let architecture_number = message.find_u8(field::ARCHITECTURE)?;
        let architecture = Architecture::from_u8(architecture_number).ok_or_else(|| {
            RepoInfoError::Message(BMessageError::MissingField {
                name: format!("{} (value {architecture_number})", field::ARCHITECTURE),
            })
        })?;
        let names = message.strings(field::LICENSE_NAME);
        let texts = message.strings(field::LICENSE_TEXT);
        Ok(RepositoryInfo {
            name: string(field::NAME)?,
            vendor: string(field::VENDOR)?,
            summary: string(field::SUMMARY)?,
            identifier,
            base_url: message.find_string(field::BASE_URL).unwrap_or_default(),
            priority: message.find_u8(field::PRIORITY)?,
            architecture,
            licenses: names
                .into_iter()
                .zip(texts)
                .map(|(name, text)| License { name, text })
                .collect(),
            class_name: message.find_string(field::CLASS).unwrap_or_default(),
            format,
        })
    }

    /// Decodes a repository-info section.
    pub fn decode(section: &[u8]) -> Result<RepositoryInfo, RepoInfoError> {
        Self::from_message(&Message::unflatten(section)?)
    }
}

/// C's `atoi`: optional leading white space and sign, then decimal digits up to the first other
/// character; 0 if there are none. Wraps like the 32-bit `int` it returns.
fn atoi(text: &str) -> i32 {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i32, |acc, d| {
            acc.wrapping_mul(10).wrapping_add(i32::from(d - b'0'))
        });
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haiku::driver_settings;

    fn info(text: &str) -> Result<RepositoryInfo, RepoInfoError> {
        let path = Path::new("repo.info");
        RepositoryInfo::from_settings(&driver_settings::parse(text, path)?, path)
    }

    const TEMPLATE: &str =
        "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\n\
        priority 1\nbaseurl https://eu.hpkg.haiku-os.org/haikuports/master/x86_64/current\n\
        identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n";

    #[test]
    fn parses_haikuporter_template() {
        let i = info(TEMPLATE).unwrap();
        assert_eq!(i.name, "HaikuPorts");
        assert_eq!(i.vendor, "Haiku Project");
        assert_eq!(i.priority, 1);
        assert_eq!(i.architecture, Architecture::X86_64);
        assert_eq!(
            i.identifier,
            "tag:haikuports.org,2013:repositories/haikuports/master/x86_64"
        );
        assert_eq!(
            i.base_url,
            "https://eu.hpkg.haiku-os.org/haikuports/master/x86_64/current"
        );
        let m = i.to_message();
        let names: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "class",
                "baseUrl",
                "name",
                "identifier",
                "url",
                "vendor",
                "summary",
                "priority",
                "architecture"
            ]
        );
        assert_eq!(RepositoryInfo::decode(&i.encode()).unwrap(), i);
    }

    #[test]
    fn legacy_url_last_occurrence_and_atoi() {
        let i = info("name a\nname b\nurl http://x\nvendor v\nsummary s\npriority 300x\narchitecture X86\n")
            .unwrap();
        assert_eq!(i.name, "b");
        assert_eq!(i.identifier, "http://x");
        assert_eq!(i.priority, (300 % 256) as u8);
        assert_eq!(i.architecture, Architecture::X86);
        assert_eq!(atoi("  -12abc"), -12);
        assert_eq!(atoi("abc"), 0);
    }

    #[test]
    fn rejects_missing_keys_and_any() {
        let e = info("name a\nvendor v\nsummary s\npriority 1\narchitecture x86\n").unwrap_err();
        assert!(
            matches!(
                e,
                RepoInfoError::MissingKey {
                    key: "identifier",
                    ..
                }
            ),
            "{e}"
        );
        let e =
            info("name a\nidentifier i\nvendor v\nsummary s\npriority 1\narchitecture any\n").unwrap_err();
        assert!(matches!(e, RepoInfoError::BadArchitecture { .. }), "{e}");
        let e =
            info("name a\nidentifier i\nvendor \"\"\nsummary s\npriority 1\narchitecture x86\n").unwrap_err();
        assert!(e.to_string().contains("\"vendor\""), "{e}");
    }

    #[test]
    fn licenses_deduplicate_case_insensitively_and_follow_the_fixed_fields() {
        let mut i = info(TEMPLATE).unwrap();
        assert!(i.add_license("MIT", "text"));
        assert!(!i.add_license("mit", "other"));
        assert!(i.add_license("GPL", "gpl text"));
        let m = i.to_message();
        assert_eq!(m.fields.last().unwrap().name, "licenseText");
        assert_eq!(m.strings("licenseName"), ["MIT", "GPL"]);
        assert_eq!(RepositoryInfo::decode(&i.encode()).unwrap().licenses, i.licenses);
    }
}
