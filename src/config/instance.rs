//! The instance config, `buildmaster.toml` (`--config` / `BUILDMASTER_CONFIG`; default
//! `<state-dir>/buildmaster.toml` when it exists, else every default below): the ports tree and target
//! architecture, buildrun policy, publishing, the daemon's HTTP server, and the builders. Storage stays
//! in its own HaikuPorter-compatible JSON (`STORAGE_BACKEND_CONFIG`). Unknown keys are errors naming the
//! key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::builders::config::BuilderSection;

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// `[ports]`: the ports tree and what it is built for.
    #[serde(default)]
    pub ports: PortsSection,
    /// `[buildrun]`: scheduling and retry policy.
    #[serde(default)]
    pub buildrun: BuildrunSection,
    /// `[serve]`: the daemon (`buildmaster serve`).
    #[serde(default)]
    pub serve: ServeSection,
    /// `[publish]`: how packages are published ([`crate::publish::PublishSettings::from_config`]).
    #[serde(default)]
    pub publish: PublishSection,
    /// `[[builders]]`: SSH builders (see `docs/builders.md`). With none here and no HaikuPorter
    /// builders directory, a local builder is used.
    #[serde(default)]
    pub builders: Vec<BuilderSection>,
    /// `[[repositories]]`: Debian, RPM and Haiku repositories filled by `buildmaster push` (see
    /// `docs/repositories.md`). Default none.
    #[serde(default)]
    pub repositories: Vec<crate::repos::config::RepositorySection>,
    /// `[gate]`: packages are staged where clients cannot read them and promoted only once their
    /// checks pass (see `docs/gate.md`). Default: no gate; pushes publish at once.
    #[serde(default)]
    pub gate: Option<crate::gate::GateSection>,
    /// `[scratch]`: TTL and verdict webhook of scratch builds (`buildmaster scratch`, see
    /// `docs/gate.md`). Default: 72 hours, no webhook.
    #[serde(default)]
    pub scratch: Option<crate::scratch::ScratchSection>,
}

/// `[ports]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsSection {
    /// The ports tree (a git checkout in HaikuPorts format). Default: `<state-dir>/haikuports`.
    pub tree: Option<PathBuf>,
    /// Target architecture. Default `x86_64`.
    #[serde(default = "default_arch")]
    pub target_architecture: String,
    /// Secondary architectures (`["x86"]` on x86_gcc2 hybrids). Default none.
    #[serde(default)]
    pub secondary_architectures: Vec<String>,
    /// Build ports and packages whose status on the target architecture is untested (`?arch`).
    /// Default false, HaikuPorter's `ALLOW_UNTESTED` default.
    #[serde(default)]
    pub allow_untested: bool,
    /// Haiku's licence files (HaikuPorter's `LICENSES_DIRECTORY`, `/boot/system/data/licenses` on
    /// Haiku): a recipe whose `LICENSE` names neither one of them nor a file in the port's
    /// `licenses/` is broken. Default: `/boot/system/data/licenses` when that directory exists, else
    /// unset — then licence names are not checked (HaikuPorter refuses to lint without it).
    #[serde(default = "default_licenses_directory")]
    pub licenses_directory: Option<PathBuf>,
    /// Directory of system packages (`.hpkg`) that satisfy requirements without being built.
    /// Default: `<state-dir>/system-packages` when it exists.
    pub system_packages: Option<PathBuf>,
    /// What kind of recipe tree `tree` is: `"haikuports"`, `"debian"` or `"rpm"` (see
    /// `docs/configuration.md`). Default `"haikuports"`.
    #[serde(default)]
    pub kind: crate::plan::recipe_tree::TreeKind,
    /// For a Debian or RPM tree: the `[[repositories]]` id its packages are pushed into and its build
    /// dependencies are resolved against. Required for those kinds; unused for HaikuPorts.
    #[serde(default)]
    pub repository: Option<String>,
    /// `[ports.debian]`: the base of a Debian tree's builds. Required for `kind = "debian"`.
    #[serde(default)]
    pub debian: Option<crate::plan::recipe_tree::DebianTreeSection>,
}

impl Default for PortsSection {
    fn default() -> Self {
        Self {
            tree: None,
            target_architecture: default_arch(),
            secondary_architectures: Vec::new(),
            allow_untested: false,
            licenses_directory: default_licenses_directory(),
            system_packages: None,
            kind: Default::default(),
            repository: None,
            debian: None,
        }
    }
}

/// `[buildrun]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildrunSection {
    /// Attempts per build for transient errors (lost connection, builder infrastructure), each
    /// preferring another builder. Default 3.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// How remote builders' ports trees are brought to the master's revision: `bundle` (a git bundle
    /// sent over SFTP; builders need no network), `fetch` (`git fetch` from the builder's `origin`) or
    /// `skip`. Default `bundle`; a ports tree that is not a git checkout is never synced.
    #[serde(default)]
    pub ports_tree_sync: PortsTreeSyncMode,
    /// The build tool of the default local builder (used when no builders are configured). Default
    /// `haikuporter` (found through `PATH`).
    #[serde(default = "default_local_haikuporter")]
    pub local_haikuporter: String,
    /// Extra arguments of the default local builder's build tool, whitespace-separated. Default none.
    #[serde(default)]
    pub local_haikuporter_args: String,
    /// The default local builder's build command template (placeholders as in `[[builders]]`
    /// `build_command`). Default: HaikuPorter's builder contract.
    #[serde(default = "crate::builders::config::default_build_command")]
    pub local_build_command: Vec<String>,
    /// Most bytes one build log may hold; beyond it output is skipped (the cut is marked in the log
    /// and the last MiB is appended when the build ends). Default 67108864 (64 MiB).
    #[serde(default = "default_max_build_log_bytes")]
    pub max_build_log_bytes: u64,
}

/// `[buildrun] ports_tree_sync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortsTreeSyncMode {
    /// Send a git bundle over SFTP.
    #[default]
    Bundle,
    /// `git fetch` on the builder.
    Fetch,
    /// Leave the builder's tree alone.
    Skip,
}

impl Default for BuildrunSection {
    fn default() -> Self {
        Self {
            max_attempts: default_attempts(),
            ports_tree_sync: PortsTreeSyncMode::default(),
            local_haikuporter: default_local_haikuporter(),
            local_haikuporter_args: String::new(),
            local_build_command: crate::builders::config::default_build_command(),
            max_build_log_bytes: default_max_build_log_bytes(),
        }
    }
}

fn default_max_build_log_bytes() -> u64 {
    crate::builders::build_log::DEFAULT_MAX_BUILD_LOG_BYTES
}

fn default_local_haikuporter() -> String {
    "haikuporter".into()
}

/// `[publish]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSection {
    /// Seconds a publish keeps retrying, with backoff, through transient storage errors (an S3 server
    /// restarting, a network cut) before it fails; 0 fails at the first one. `publish --retry-window`
    /// overrides it. Default 600.
    #[serde(default = "default_retry_window")]
    pub retry_window: u64,
    /// `[publish.policy]`: the HaikuPorts repository's gate policy, as `[repositories.policy]` (with
    /// `[gate]`, built packages are staged and promoted only once its checks pass; see
    /// `docs/gate.md`). Default none: published as they are built.
    #[serde(default)]
    pub policy: Option<crate::gate::policy::PolicySection>,
}

impl Default for PublishSection {
    fn default() -> Self {
        Self {
            retry_window: default_retry_window(),
            policy: None,
        }
    }
}

impl PublishSection {
    /// `retry_window` as a duration.
    pub fn retry_window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.retry_window)
    }
}

fn default_retry_window() -> u64 {
    crate::publish::retry::DEFAULT_RETRY_WINDOW.as_secs()
}

/// `[serve]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// Address the HTTP server listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Seconds between polls of the ports tree (pull, HEAD, trigger files). Default 60, as
    /// HaikuPorter's loop.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: u64,
    /// Pull the ports tree from its upstream (`git pull --ff-only`) on every poll. Default true; a
    /// tree without a remote is never pulled.
    #[serde(default = "yes")]
    pub pull: bool,
    /// URL called with POST after every successful publish (HaikuPorter's `REPOSITORY_TRIGGER_URL`,
    /// which is also honoured from the environment). Default none. Logged without its query.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// File holding the API bearer token for the mutating endpoints (`BUILDMASTER_API_TOKEN` takes
    /// precedence). Default none: the API is read-only.
    pub token_file: Option<PathBuf>,
    /// Named API tokens with per-repository scopes and rights (`buildmaster token add|revoke|list`),
    /// re-read by the server whenever the file changes. Default `<state>/api-tokens.toml`.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// Seconds a client has to send one request's headers before the connection is closed. Default 10.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: u64,
    /// Most HTTP connections open at once; more are closed on accept. Default 2048 (keep `ulimit -n`
    /// above it).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_header_read_timeout() -> u64 {
    crate::server::listener::DEFAULT_HEADER_READ_TIMEOUT.as_secs()
}

fn default_max_connections() -> usize {
    crate::server::listener::DEFAULT_MAX_CONNECTIONS
}

impl ServeSection {
    /// The named tokens' file: `tokens_file`, else `api-tokens.toml` in the state directory `state`.
    pub fn tokens_file_in(&self, state: &Path) -> PathBuf {
        self.tokens_file
            .clone()
            .unwrap_or_else(|| state.join("api-tokens.toml"))
    }

    /// The HTTP server's bounds from these settings (a zero timeout is taken as one second).
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }
}

impl Default for ServeSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            poll_interval: default_poll_interval(),
            pull: true,
            webhook_url: None,
            token_file: None,
            tokens_file: None,
            header_read_timeout: default_header_read_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_arch() -> String {
    "x86_64".into()
}

/// Where Haiku keeps its licence files (`B_SYSTEM_DIRECTORY/data/licenses`).
const HAIKU_LICENSES_DIRECTORY: &str = "/boot/system/data/licenses";

fn default_licenses_directory() -> Option<PathBuf> {
    let haiku = Path::new(HAIKU_LICENSES_DIRECTORY);
    haiku.is_dir().then(|| haiku.to_owned())
}

fn yes() -> bool {
    true
}

fn default_attempts() -> u32 {
    3
}

fn default_poll_interval() -> u64 {
    60
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// Why the instance config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InstanceConfigError {
    /// The file could not be read.
    #[error("reading the instance config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid (syntax, unknown key, wrong type); the message names the key and line.
    #[error("instance config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

impl InstanceConfig {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, InstanceConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| InstanceConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| InstanceConfigError::Invalid {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
    }

    /// The config for a state directory: `explicit` if given, else `<state_dir>/buildmaster.toml` if it
    /// exists, else the defaults.
    pub fn locate(explicit: Option<&Path>, state_dir: &Path) -> Result<Self, InstanceConfigError> {
        match explicit {
            Some(path) => Self::load(path),
            None => {
                let default = state_dir.join("buildmaster.toml");
                if default.is_file() {
                    Self::load(&default)
                } else {
                    Ok(Self::default())
                }
            }
        }
    }

    /// The ports tree: `[ports] tree`, default `<state_dir>/haikuports`.
    pub fn ports_tree(&self, state_dir: &Path) -> PathBuf {
        self.ports
            .tree
            .clone()
            .unwrap_or_else(|| state_dir.join("haikuports"))
    }

    /// The system-packages directory, if configured or present at its default place.
    pub fn system_packages(&self, state_dir: &Path) -> Option<PathBuf> {
        self.ports.system_packages.clone().or_else(|| {
            let default = state_dir.join("system-packages");
            default.is_dir().then_some(default)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<InstanceConfig>("[ports]\ntarget_arch = \"x86\"\n").unwrap_err();
        assert!(err.to_string().contains("target_arch"), "{err}");
    }

    #[test]
    fn publish_retry_window_is_read_in_seconds() {
        let config: InstanceConfig = toml::from_str("[publish]\nretry_window = 45\n").unwrap();
        assert_eq!(config.publish.retry_window(), std::time::Duration::from_secs(45));
        let config: InstanceConfig = toml::from_str("").unwrap();
        assert_eq!(
            config.publish.retry_window(),
            crate::publish::retry::DEFAULT_RETRY_WINDOW
        );
    }

    #[test]
    fn a_retry_window_that_is_not_seconds_is_refused_naming_the_key() {
        for bad in ["\"10m\"", "-5", "1.5"] {
            let text = format!("[publish]\nretry_window = {bad}\n");
            let err = toml::from_str::<InstanceConfig>(&text).unwrap_err().to_string();
            assert!(
                err.contains("retry_window") && err.contains("line 2"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        let config: InstanceConfig = toml::from_str("").unwrap();
        assert_eq!(config.ports.target_architecture, "x86_64");
        assert_eq!(config.buildrun.max_attempts, 3);
        assert!(config.builders.is_empty());
    }
}
