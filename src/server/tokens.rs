//! Named API tokens: the tokens file (`[serve] tokens_file`, default `<state>/api-tokens.toml`) and the
//! registry the server reads it through.
//!
//! Each entry names a token, the SHA-256 of its secret (never the secret: `buildmaster token add` prints
//! that once), the repositories it may push to (globs over repository ids) and its rights. The secrets
//! are 256 random bits, so one SHA-256 is enough — there is nothing to brute-force that a slow password
//! hash would protect — and a presented token is compared with every entry's digest in constant time.
//!
//! Revocation takes effect at once, without a restart: the registry looks at the file's identity (inode,
//! size, modification time) on every authenticated request and re-reads it when that changed. The CLI
//! replaces the file by rename, so every change is a new inode. A file that cannot be read or parsed
//! admits no named token (fail closed) and is logged once per change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in a new secret (256 bits).
const SECRET_BYTES: usize = 32;
/// What every secret starts with, so that a leaked one is recognisable (secret scanners, logs).
pub const SECRET_PREFIX: &str = "bm_";
/// The name the operator's single admin token acts under; no named token may take it.
pub const ADMIN_NAME: &str = "admin";
/// Longest token name (it appears in every audit entry).
const MAX_NAME_CHARS: usize = 64;

/// What a token may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    /// Push packages (`POST /api/push`) into its repositories.
    #[serde(default)]
    pub push: bool,
    /// Promote a green pipeline into a repository promoted by hand (`[gate] manual_promotion`,
    /// `POST /api/pipelines/{id}/promote`), within its repositories.
    #[serde(default)]
    pub promote: bool,
    /// Waive a failing check (`POST /api/waivers`).
    #[serde(default)]
    pub waive: bool,
    /// Start buildruns and steer the daemon (`POST /api/buildruns`, `/api/publish`, `/api/pause`,
    /// `/api/resume`).
    #[serde(default)]
    pub build: bool,
}

impl Rights {
    /// Every right: the admin token's.
    pub const ALL: Self = Self {
        push: true,
        promote: true,
        waive: true,
        build: true,
    };

    /// The rights held, for messages and listings: `push, waive`, or `none`.
    pub fn describe(&self) -> String {
        let held: Vec<&str> = [
            (self.push, "push"),
            (self.promote, "promote"),
            (self.waive, "waive"),
            (self.build, "build"),
        ]
        .into_iter()
        .filter_map(|(held, name)| held.then_some(name))
        .collect();
        if held.is_empty() {
            "none".into()
        } else {
            held.join(", ")
        }
    }
}

/// One `[[tokens]]` entry of the tokens file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The token's name: the audit log's "who" is `api:<name>`.
    pub name: String,
    /// Lower-case hex SHA-256 of the secret.
    pub sha256: String,
    /// Repository ids it may push to, waive in and promote into; globs (`debian/*`). Default none.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Its rights (each default false).
    #[serde(flatten)]
    pub rights: Rights,
    /// Unix seconds when it was added (informational).
    #[serde(default)]
    pub created_at: i64,
}

/// The tokens file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    /// The tokens, in the order they were added.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
}

/// Why the tokens file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// Reading or writing it failed.
    #[error("tokens file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not a valid tokens file; a fix of the file can help.
    #[error("tokens file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl TokensFile {
    /// The file at `path`; a missing file has no tokens.
    pub fn load(path: &Path) -> Result<Self, TokensError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(TokensError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        let invalid = |message: String| TokensError::Invalid {
            path: path.into(),
            message,
        };
        let file: Self = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        for entry in &file.tokens {
            check_name(&entry.name).map_err(invalid)?;
            if hex_digest(&entry.sha256).is_none() {
                return Err(invalid(format!(
                    "token {:?}: sha256 is not 64 hex digits",
                    entry.name
                )));
            }
            for pattern in &entry.repositories {
                glob::Pattern::new(pattern)
                    .map_err(|e| invalid(format!("token {:?}: repositories {pattern:?}: {e}", entry.name)))?;
            }
        }
        Ok(file)
    }

    /// Writes the file to `path` with mode 0600, replacing it by rename (so that a server notices the
    /// change by the new inode, and never reads half a file).
    pub fn save(&self, path: &Path) -> Result<(), TokensError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |source| TokensError::Io {
            path: path.into(),
            source,
        };
        let text = toml::to_string(self).map_err(|e| TokensError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        let temp = path.with_extension(format!("tmp-{}", std::process::id()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(b"# buildmaster API tokens: `buildmaster token add|revoke|list`. Secrets are not kept, only their SHA-256.\n")?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(io)
    }
}

/// Whether `name` may name a token: 1–64 of letters, digits and `. _ -`, and not the admin's name.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(format!(
            "token name {name:?}: give 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-'"
        ));
    }
    if name == ADMIN_NAME {
        return Err(format!(
            "token name {name:?} is the operator's admin token's; choose another"
        ));
    }
    Ok(())
}

/// A new secret: [`SECRET_PREFIX`] and 256 bits from the operating system's generator, in hex.
pub fn new_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The hex SHA-256 of `secret`, as the tokens file keeps it.
pub fn digest_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// A named token as the server checks it.
#[derive(Clone, Debug)]
pub struct NamedToken {
    /// Its name.
    pub name: String,
    /// SHA-256 of its secret.
    digest: [u8; 32],
    /// Where it may push.
    pub repositories: Vec<glob::Pattern>,
    /// What it may do.
    pub rights: Rights,
}

impl NamedToken {
    fn from_entry(entry: &TokenEntry) -> Option<Self> {
        Some(Self {
            name: entry.name.clone(),
            digest: hex_digest(&entry.sha256)?,
            repositories: entry
                .repositories
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
            rights: entry.rights,
        })
    }
}

/// The file's identity: when it differs from the last read, the file is read again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    /// Its inode: a file replaced by rename is a new one.
    inode: u64,
    /// The device of that inode.
    device: u64,
    /// Its size.
    size: u64,
    /// Its modification time (for edits in place).
    modified: Option<SystemTime>,
}

impl Stamp {
    /// `None` when the file does not exist (or cannot be looked at).
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            inode: meta.ino(),
            device: meta.dev(),
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// What the registry read last.
#[derive(Debug, Default)]
struct Loaded {
    /// The stamp it was read at (`None`: no file).
    stamp: Option<Stamp>,
    /// Its tokens (none when it could not be read).
    tokens: Arc<Vec<NamedToken>>,
}

/// The tokens file as the server sees it: re-read whenever it changed.
#[derive(Debug)]
pub struct TokenRegistry {
    /// The tokens file.
    path: PathBuf,
    /// What was read last; `None` before the first look.
    loaded: Mutex<Option<Loaded>>,
}

impl TokenRegistry {
    /// The registry of the tokens file at `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            loaded: Mutex::new(None),
        }
    }

    /// The tokens file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current tokens, re-read if the file changed since the last look.
    pub fn tokens(&self) -> Arc<Vec<NamedToken>> {
        let stamp = Stamp::of(&self.path);
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(current) = loaded.as_ref().filter(|l| l.stamp == stamp) {
            return current.tokens.clone();
        }
        let tokens = match TokensFile::load(&self.path) {
            Ok(file) => file.tokens.iter().filter_map(NamedToken::from_entry).collect(),
            Err(err) => {
                tracing::error!("named API tokens disabled until the file is fixed: {err}");
                Vec::new()
            }
        };
        let tokens = Arc::new(tokens);
        *loaded = Some(Loaded {
            stamp,
            tokens: tokens.clone(),
        });
        tokens
    }

    /// The token whose secret is `presented`, compared with every entry in constant time.
    pub fn find(&self, presented: &str) -> Option<NamedToken> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let tokens = self.tokens();
        let mut found = None;
        // Every entry is compared, whether or not an earlier one matched.
        for token in tokens.iter() {
            if bool::from(token.digest.ct_eq(&digest)) && found.is_none() {
                found = Some(token.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, secret: &str) -> TokenEntry {
        TokenEntry {
            name: name.into(),
            sha256: digest_hex(secret),
            repositories: vec!["debian/*".into()],
            rights: Rights {
                push: true,
                ..Rights::default()
            },
            created_at: 0,
        }
    }

    #[test]
    fn a_saved_file_loads_back_and_never_holds_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX) && secret.len() == SECRET_PREFIX.len() + 64);
        let file = TokensFile {
            tokens: vec![entry("ci", &secret)],
        };
        file.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&secret), "{text}");
        assert_eq!(TokensFile::load(&path).unwrap().tokens, file.tokens);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn the_registry_sees_a_revocation_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let registry = TokenRegistry::new(path.clone());
        assert!(registry.find("anything").is_none(), "no file, no tokens");
        let mut file = TokensFile {
            tokens: vec![entry("ci", "secret-one"), entry("other", "secret-two")],
        };
        file.save(&path).unwrap();
        assert_eq!(registry.find("secret-one").unwrap().name, "ci");
        assert!(registry.find("secret-on").is_none());
        file.tokens.remove(0);
        file.save(&path).unwrap();
        assert!(registry.find("secret-one").is_none());
        assert_eq!(registry.find("secret-two").unwrap().name, "other");
    }

    #[test]
    fn a_broken_file_admits_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        TokensFile {
            tokens: vec![entry("ci", "secret-one")],
        }
        .save(&path)
        .unwrap();
        let registry = TokenRegistry::new(path.clone());
        assert!(registry.find("secret-one").is_some());
        std::fs::write(&path, "[[tokens]]\nname = \"ci\"\nsha256 = \"zz\"\n").unwrap();
        assert!(registry.find("secret-one").is_none());
        assert!(TokensFile::load(&path)
            .unwrap_err()
            .to_string()
            .contains("64 hex"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ci-debian.1").is_ok());
        assert!(check_name("admin").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
