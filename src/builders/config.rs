//! Builder configuration: the `[[builders]]` section of the daemon's TOML config, and HaikuPorter's
//! per-builder JSON files (`<ports tree>/buildmaster/builders/*.json`) accepted unchanged. Both are
//! resolved into one [`BuilderSpec`], the only form the rest of `builders` sees.
//!
//! HaikuPorter's JSON (reference report §3.1): `name`; `ssh.host/port/user/privateKey` (base64 of the
//! OpenSSH private key text) or the older `privateKeyFile`; optional `ssh.jump` with the same fields;
//! `portstree.path/packagesPath/packagesCachePath/builderConfig`; `haikuporter.path/args`. Host keys come
//! from the `known_hosts` file next to the JSON files, shared by every builder and jump host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::error::ConfigError;

/// Default SSH port.
pub const DEFAULT_SSH_PORT: u16 = 22;
/// Default connect timeout (HaikuPorter uses `timeout=10` for paramiko's connect).
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Default keepalive interval (HaikuPorter's `transport.set_keepalive(15)`).
pub const DEFAULT_KEEPALIVE_INTERVAL_SECS: u64 = 15;
/// Default number of unanswered keepalives after which the connection counts as lost.
pub const DEFAULT_KEEPALIVE_MAX: usize = 3;
// A build has no idle-output or wall-clock limit by default: HaikuPorter has none
// (`RemoteBuilderSSH.runBuild` reads the build's output until it ends), and a limit of ours would kill
// builds it lets finish (a link step silent for an hour, a port that builds for a day on a slow
// builder). A builder that dies or hangs is noticed by keepalive instead; limits are opt-in.
/// Default timeout of the short housekeeping commands buildmaster adds (`git rev-parse`,
/// `sha256sum`, checks); the ports-tree sync and `--purge` run under the build's limits instead.
pub const DEFAULT_COMMAND_TIMEOUT_SECS: u64 = 10 * 60;

/// The longest name that becomes a file name (`NAME_MAX` on Linux and Haiku's BFS is 255 bytes;
/// `.log` and `.link-temp` suffixes are added). The API accepts builder names up to the same length
/// (`server::output::validate_name`), so every builder's log can be read back.
pub const MAX_NAME_BYTES: usize = 128;

/// Checks that `name` can be used as one path component (a log file name, a directory name): not
/// empty, at most [`MAX_NAME_BYTES`], only ASCII letters, digits, `.`, `_` and `-` (what the API
/// accepts in a builder log's path), and not
/// starting with `.` (which excludes `.` and `..`). A name like `../../evil` would otherwise put a
/// file outside the output tree. Returns what is wrong.
pub fn check_path_component(name: &str) -> Result<(), String> {
    // An error echoes at most the first bytes of a hostile name, never all of it.
    let shown: String = name.chars().take(MAX_NAME_BYTES).collect();
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("{shown:?} is longer than {MAX_NAME_BYTES} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{shown:?} contains {c:?}; use only letters, digits, '.', '_' and '-'"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("{shown:?} starts with '.'"));
    }
    Ok(())
}

/// Serde hook for builder names: the parser's error then names the file, the line and the key.
fn deserialize_builder_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_path_component(&name).map_err(|what| {
        serde::de::Error::custom(format!(
            "key `name`: builder name {what} (it becomes a log file name)"
        ))
    })?;
    Ok(name)
}

/// At most this many characters of a bad value are quoted back in an error (a key pasted whole, a
/// binary blob): enough to recognise it.
const MAX_QUOTED_VALUE: usize = 80;

/// `value`, cut to [`MAX_QUOTED_VALUE`] characters, quoted.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_VALUE) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// `value` unless it is empty: an empty `host` or `user` would only fail at the first connection, as
/// an unhelpful SSH error; refused at load, the parser's error names the file, the line and the key.
fn non_empty<E: serde::de::Error>(key: &str, value: String) -> Result<String, E> {
    if value.trim().is_empty() {
        return Err(E::custom(format!(
            "key `{key}` must not be empty: give the builder's host name or address and its login user"
        )));
    }
    Ok(value)
}

/// Serde hook for `host` (see [`non_empty`]).
fn deserialize_host<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    non_empty("host", String::deserialize(d)?)
}

/// Serde hook for `user` (see [`non_empty`]).
fn deserialize_user<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    non_empty("user", String::deserialize(d)?)
}

/// Serde hook for `host_key`: it must parse as an OpenSSH public key, or every connection would be
/// refused as an "unknown host key" with no hint that the pin itself is garbage.
fn deserialize_host_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(key) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if crate::builders::hostkey::parse_pinned_key(&key).is_none() {
        return Err(serde::de::Error::custom(format!(
            "key `host_key`: {} is not an OpenSSH public key; give the line of the host's .pub file or              of `ssh-keyscan -p PORT HOST` (`ssh-ed25519 AAAA…`)",
            quoted(&key)
        )));
    }
    Ok(Some(key))
}

/// Serde hook for timeouts that must be at least a second (`connect`, `command`): zero would fail
/// every connection or command at once.
fn deserialize_positive_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let secs = u64::deserialize(d)?;
    if secs == 0 {
        return Err(serde::de::Error::custom(
            "this timeout must be at least 1 (seconds); leave the key out for the default",
        ));
    }
    Ok(secs)
}

/// One builder in the daemon's TOML config (`[[builders]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderSection {
    /// Unique name, used in logs, status and log file names — so it must be a safe file name (see
    /// [`check_path_component`]); checked at load.
    #[serde(deserialize_with = "deserialize_builder_name")]
    pub name: String,
    /// How to reach it. Absent: a local builder running processes on the master.
    #[serde(default)]
    pub ssh: Option<SshSection>,
    /// Where the builder keeps its ports tree and packages.
    pub portstree: PortsTreeSection,
    /// The build tool on the builder.
    #[serde(default)]
    pub haikuporter: HaikuPorterSection,
    /// Timeouts; every field has a default.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    /// The build command template, one argument per element. Placeholders: `{haikuporter}`,
    /// `{config}`, `{port}` (the `name-version` being built), `{args}` (expands to the split
    /// `haikuporter.args`). Default: HaikuPorter's builder contract, see [`default_build_command`].
    #[serde(default = "default_build_command")]
    pub build_command: Vec<String>,
    /// The purge command template, run before and after every build as HaikuPorter does (it removes
    /// the port's work directory and downloads, so a retry never reuses a stale work directory);
    /// same placeholders, its exit status is logged and ignored (as HaikuPorter does). An empty list
    /// turns purging off. Default: see [`default_purge_command`].
    #[serde(default = "default_purge_command")]
    pub purge_command: Vec<String>,
    /// The network the build step sees: `"host"` (the builder's own network) or `"none"` (a network
    /// namespace with only loopback; Linux builders, see docs/builders.md). The sync, setup and
    /// transfer steps always use the host's network. Default `"host"`.
    #[serde(default)]
    pub network: NetworkMode,
    /// The build tool: `"haikuporter"` (HaikuPorts recipes), `"dpkg"` (Debian source packages,
    /// `dpkg-buildpackage` in a build root; needs `[builders.dpkg]`) or `"rpm"` (RPM dist-git
    /// directories, `rpmbuild`; needs `[builders.rpm]`). It must match the instance's `[ports] kind`.
    /// Default `"haikuporter"`. Checked by [`BuilderSection::toolchain_choice`], whose errors name the
    /// builder and the key.
    #[serde(default)]
    pub toolchain: Option<String>,
    /// `[builders.dpkg]`: what a Debian builder needs besides its ports-tree paths.
    #[serde(default)]
    pub dpkg: Option<DpkgSection>,
    /// `[builders.rpm]`: what an RPM builder needs besides its ports-tree paths.
    #[serde(default)]
    pub rpm: Option<RpmSection>,
}

/// `[builders.dpkg]`: paths on a Debian builder (docs/toolchains.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpkgSection {
    /// The build root tarball on the builder (`mmdebstrap --variant=buildd --format=tar bookworm
    /// FILE`); required.
    pub root_tarball: Option<String>,
    /// Where the per-source work, input and result directories go on the builder; required.
    pub work_base: Option<String>,
}

/// `[builders.rpm]`: paths on an RPM builder (docs/toolchains.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpmSection {
    /// Where the per-package work, input and result directories go on the builder; required.
    pub work_base: Option<String>,
}

/// The build tool a `[[builders]]` section chose, with the settings it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolchainChoice {
    /// HaikuPorter (the default; HaikuPorter's builder JSON files always are).
    HaikuPorter,
    /// Debian's `dpkg-buildpackage` in a build root unpacked from `root_tarball`.
    Dpkg {
        /// The build root tarball on the builder.
        root_tarball: String,
        /// The builder's work base.
        work_base: String,
    },
    /// RPM's `rpmbuild`.
    Rpm {
        /// The builder's work base.
        work_base: String,
    },
}

/// The `toolchain` values, as an error lists them.
pub const TOOLCHAIN_VALUES: &str = "\"haikuporter\", \"dpkg\" or \"rpm\"";

/// What network a build step sees (`[[builders]] network`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The builder's own network, as HaikuPorter builds always had.
    #[default]
    Host,
    /// No network: the build runs in a new network namespace whose only interface is loopback
    /// (`unshare --net`), so nothing it runs can reach another machine — or the builder's own
    /// services, whose loopback is a different one.
    None,
}

/// `[builders.ssh]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSection {
    /// Host name or address; not empty.
    #[serde(deserialize_with = "deserialize_host")]
    pub host: String,
    /// Port; default 22.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Login user; not empty.
    #[serde(deserialize_with = "deserialize_user")]
    pub user: String,
    /// The client's private key file (OpenSSH format; ed25519, ECDSA or RSA).
    pub private_key_file: PathBuf,
    /// Pinned host key, as in a `.pub` file or `known_hosts` (`ssh-ed25519 AAAA…`). Takes precedence
    /// over `known_hosts`. Checked at load.
    #[serde(default, deserialize_with = "deserialize_host_key")]
    pub host_key: Option<String>,
    /// A `known_hosts` file holding the host's key (`[host]:port` entries for ports other than 22).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Optional jump host, reached first; the builder is then reached through a direct-tcpip channel.
    #[serde(default)]
    pub jump: Option<Box<SshSection>>,
}

/// `[builders.portstree]`: paths on the builder.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsTreeSection {
    /// The haikuports checkout on the builder.
    pub path: String,
    /// What the build tool sees as its packages directory; default `<path>/packages`.
    #[serde(default)]
    pub packages_path: Option<String>,
    /// The package cache; default `<packages_path>/.cache`.
    #[serde(default)]
    pub packages_cache_path: Option<String>,
    /// The builder config file the master writes; default `<path>/builder.conf`.
    #[serde(default)]
    pub builder_config: Option<String>,
}

/// `[builders.haikuporter]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaikuPorterSection {
    /// The build tool; default `haikuporter` (found through `PATH`).
    #[serde(default)]
    pub path: Option<String>,
    /// Extra arguments, whitespace-separated (e.g. `-j2`); default none.
    #[serde(default)]
    pub args: String,
}

/// `[builders.timeouts]`, in seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    /// TCP connect plus SSH handshake and authentication; default 10, at least 1.
    #[serde(default = "default_connect", deserialize_with = "deserialize_positive_secs")]
    pub connect: u64,
    /// Keepalive interval; default 15.
    #[serde(default = "default_keepalive")]
    pub keepalive_interval: u64,
    /// Unanswered keepalives before the connection counts as lost; default 3.
    #[serde(default = "default_keepalive_max")]
    pub keepalive_max: usize,
    /// A build that prints nothing for this long (and whose builder still answers) is killed;
    /// default: no limit, as in HaikuPorter.
    #[serde(default)]
    pub idle_output: Option<u64>,
    /// Wall-clock limit of one build, also applied to the ports-tree sync and each `--purge`;
    /// default: no limit, as in HaikuPorter.
    #[serde(default)]
    pub build: Option<u64>,
    /// Limit for short housekeeping commands (`git rev-parse`, `sha256sum`, checks); default 600, at
    /// least 1.
    #[serde(default = "default_command", deserialize_with = "deserialize_positive_secs")]
    pub command: u64,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        Self {
            connect: default_connect(),
            keepalive_interval: default_keepalive(),
            keepalive_max: default_keepalive_max(),
            idle_output: None,
            build: None,
            command: default_command(),
        }
    }
}

fn default_port() -> u16 {
    DEFAULT_SSH_PORT
}
fn default_connect() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_SECS
}
fn default_keepalive() -> u64 {
    DEFAULT_KEEPALIVE_INTERVAL_SECS
}
fn default_keepalive_max() -> usize {
    DEFAULT_KEEPALIVE_MAX
}
fn default_command() -> u64 {
    DEFAULT_COMMAND_TIMEOUT_SECS
}

/// HaikuPorter's builder contract (`RemoteBuilderSSH.runBuild`): resolve dependencies only from the
/// packages the master made visible, never obsolete packages, never stop for messages.
pub fn default_build_command() -> Vec<String> {
    [
        "{haikuporter}",
        "--config={config}",
        "--no-system-packages",
        "--no-package-obsoletion",
        "--ignore-messages",
        "{args}",
        "{port}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// HaikuPorter's purge (`RemoteBuilderSSH._purgePort`): `<haikuporter> --config=<builder config>
/// --no-package-obsoletion --ignore-messages --purge <name-version>`, in the ports tree.
pub fn default_purge_command() -> Vec<String> {
    [
        "{haikuporter}",
        "--config={config}",
        "--no-package-obsoletion",
        "--ignore-messages",
        "--purge",
        "{port}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Timeouts as durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect + handshake + authentication.
    pub connect: Duration,
    /// Keepalive interval.
    pub keepalive_interval: Duration,
    /// Unanswered keepalives before the connection is lost.
    pub keepalive_max: usize,
    /// Longest silence of a running build; `None`: no limit.
    pub idle_output: Option<Duration>,
    /// Wall-clock limit of a build (and of the sync and purges around it); `None`: no limit.
    pub build: Option<Duration>,
    /// Limit of housekeeping commands.
    pub command: Duration,
}

impl From<&TimeoutsSection> for Timeouts {
    fn from(t: &TimeoutsSection) -> Self {
        Self {
            connect: Duration::from_secs(t.connect),
            keepalive_interval: Duration::from_secs(t.keepalive_interval.max(1)),
            keepalive_max: t.keepalive_max.max(1),
            idle_output: t.idle_output.map(Duration::from_secs),
            build: t.build.map(Duration::from_secs),
            command: Duration::from_secs(t.command),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        (&TimeoutsSection::default()).into()
    }
}

/// How the host key of an SSH endpoint is pinned.
#[derive(Clone, Debug)]
pub enum HostKeyPin {
    /// Exactly this key (OpenSSH public key text).
    Key(String),
    /// Whatever `known_hosts` lists for `[host]:port` (or `host` on port 22).
    KnownHosts(PathBuf),
}

/// One SSH endpoint, resolved.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// OpenSSH private key text (never logged).
    pub private_key: String,
    /// How the host key is checked; there is no "accept anything" option.
    pub host_key: HostKeyPin,
    /// Jump host, reached first.
    pub jump: Option<Box<SshTarget>>,
}

/// Paths on the builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuilderPaths {
    /// The ports tree checkout.
    pub ports_tree: String,
    /// The directory the build tool reads dependencies from and writes results to.
    pub packages: String,
    /// The package cache (real files).
    pub cache: String,
    /// The builder config file the master writes.
    pub builder_config: String,
}

/// A builder, resolved from either config form.
#[derive(Clone, Debug)]
pub struct BuilderSpec {
    /// Unique name.
    pub name: String,
    /// SSH endpoint; `None` for the local builder.
    pub ssh: Option<SshTarget>,
    /// Paths on the builder.
    pub paths: BuilderPaths,
    /// The build tool.
    pub haikuporter: String,
    /// Extra build tool arguments, already split.
    pub haikuporter_args: Vec<String>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// The build command template (see [`BuilderSection::build_command`]).
    pub build_command: Vec<String>,
    /// The purge command template (see [`BuilderSection::purge_command`]); empty: no purge.
    pub purge_command: Vec<String>,
    /// The network the build step sees (see [`BuilderSection::network`]).
    pub network: NetworkMode,
}

impl BuilderPaths {
    /// Fills in HaikuPorter's defaults.
    pub fn new(
        path: &str,
        packages: Option<&str>,
        cache: Option<&str>,
        builder_config: Option<&str>,
    ) -> Self {
        let path = path.trim_end_matches('/').to_string();
        let packages = packages
            .map(str::to_string)
            .unwrap_or_else(|| format!("{path}/packages"));
        let cache = cache
            .map(str::to_string)
            .unwrap_or_else(|| format!("{packages}/.cache"));
        let builder_config = builder_config
            .map(str::to_string)
            .unwrap_or_else(|| format!("{path}/builder.conf"));
        Self {
            ports_tree: path,
            packages,
            cache,
            builder_config,
        }
    }
}

impl BuilderSection {
    /// Resolves the TOML form (reading key files now, so that a bad path fails at startup).
    pub fn resolve(&self) -> Result<BuilderSpec, ConfigError> {
        let ssh = self
            .ssh
            .as_ref()
            .map(|s| resolve_ssh_section(&self.name, s))
            .transpose()?;
        let p = &self.portstree;
        Ok(BuilderSpec {
            name: self.name.clone(),
            ssh,
            paths: BuilderPaths::new(
                &p.path,
                p.packages_path.as_deref(),
                p.packages_cache_path.as_deref(),
                p.builder_config.as_deref(),
            ),
            haikuporter: self
                .haikuporter
                .path
                .clone()
                .unwrap_or_else(|| "haikuporter".into()),
            haikuporter_args: self
                .haikuporter
                .args
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            timeouts: (&self.timeouts).into(),
            build_command: self.build_command.clone(),
            purge_command: self.purge_command.clone(),
            network: self.network,
        })
    }
}

impl BuilderSection {
    /// The build tool this section chose, with its settings: an unknown `toolchain`, a missing
    /// required setting, or a settings table for another toolchain is an error naming the builder
    /// and the key.
    pub fn toolchain_choice(&self) -> Result<ToolchainChoice, ConfigError> {
        let invalid = |what: String| ConfigError::Invalid {
            builder: self.name.clone(),
            what,
        };
        let required = |value: Option<&String>, key: &str, what: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or_else(|| invalid(format!("toolchain = {:?} needs `{key}` ({what})", self.kind())))
        };
        if !matches!(self.kind(), "haikuporter" | "dpkg" | "rpm") {
            return Err(invalid(format!(
                "toolchain = {} is not a build tool buildmaster knows; use {TOOLCHAIN_VALUES}",
                quoted(self.kind())
            )));
        }
        let stray = [
            ("builders.dpkg", self.dpkg.is_some(), "dpkg"),
            ("builders.rpm", self.rpm.is_some(), "rpm"),
        ];
        if let Some((table, _, tool)) = stray.iter().find(|(_, set, tool)| *set && *tool != self.kind()) {
            return Err(invalid(format!(
                "[{table}] is set but toolchain = {:?}; set toolchain = {tool:?} or remove the table",
                self.kind()
            )));
        }
        let choice = match self.kind() {
            "dpkg" => {
                let dpkg = self.dpkg.as_ref();
                ToolchainChoice::Dpkg {
                    root_tarball: required(
                        dpkg.and_then(|d| d.root_tarball.as_ref()),
                        "builders.dpkg.root_tarball",
                        "the mmdebstrap build root tarball on the builder",
                    )?,
                    work_base: required(
                        dpkg.and_then(|d| d.work_base.as_ref()),
                        "builders.dpkg.work_base",
                        "a directory on the builder for the per-source work directories",
                    )?,
                }
            }
            "rpm" => ToolchainChoice::Rpm {
                work_base: required(
                    self.rpm.as_ref().and_then(|r| r.work_base.as_ref()),
                    "builders.rpm.work_base",
                    "a directory on the builder for the per-package work directories",
                )?,
            },
            _ => ToolchainChoice::HaikuPorter,
        };
        Ok(choice)
    }

    /// The `toolchain` value, `haikuporter` when absent.
    fn kind(&self) -> &str {
        self.toolchain.as_deref().unwrap_or("haikuporter")
    }
}

fn resolve_ssh_section(builder: &str, s: &SshSection) -> Result<SshTarget, ConfigError> {
    let private_key = std::fs::read_to_string(&s.private_key_file).map_err(|e| ConfigError::KeyFile {
        builder: builder.into(),
        path: s.private_key_file.clone(),
        source: e,
    })?;
    crate::config::secrets::warn_if_readable_by_others(&s.private_key_file, "an SSH private key");
    let host_key = match (&s.host_key, &s.known_hosts) {
        (Some(key), _) => HostKeyPin::Key(key.clone()),
        (None, Some(path)) => HostKeyPin::KnownHosts(path.clone()),
        (None, None) => {
            return Err(ConfigError::NoHostKey {
                builder: builder.into(),
                host: s.host.clone(),
            })
        }
    };
    Ok(SshTarget {
        host: s.host.clone(),
        port: s.port,
        user: s.user.clone(),
        private_key,
        host_key,
        jump: s
            .jump
            .as_ref()
            .map(|j| resolve_ssh_section(builder, j))
            .transpose()?
            .map(Box::new),
    })
}

/// HaikuPorter's builder JSON, field for field. Unknown fields are refused (HaikuPorter ignores them):
/// a typo such as `"pth"` for `"path"` would otherwise silently fall back to a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HpBuilder {
    #[serde(deserialize_with = "deserialize_builder_name")]
    name: String,
    ssh: HpSsh,
    portstree: HpPortsTree,
    #[serde(default)]
    haikuporter: HpHaikuPorter,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HpSsh {
    #[serde(deserialize_with = "deserialize_host")]
    host: String,
    #[serde(default)]
    port: Option<PortValue>,
    #[serde(deserialize_with = "deserialize_user")]
    user: String,
    #[serde(default)]
    private_key: Option<String>,
    #[serde(default)]
    private_key_file: Option<String>,
    #[serde(default)]
    jump: Option<Box<HpSsh>>,
}

/// HaikuPorter's sample writes the port as a string and applies `int()`; accept both.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortValue {
    Number(u16),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HpPortsTree {
    path: String,
    #[serde(default)]
    packages_path: Option<String>,
    #[serde(default)]
    packages_cache_path: Option<String>,
    #[serde(default)]
    builder_config: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HpHaikuPorter {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    args: Option<String>,
}

/// Loads one HaikuPorter builder JSON file. `known_hosts` is the shared file of the builders
/// directory; relative `privateKeyFile` paths are relative to the JSON file's directory.
pub fn load_haikuporter_json(path: &Path, known_hosts: &Path) -> Result<BuilderSpec, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.into(),
        source: e,
    })?;
    parse_haikuporter_json(&text, path, known_hosts)
}

/// Parses HaikuPorter's builder JSON text (see [`load_haikuporter_json`]).
pub fn parse_haikuporter_json(
    text: &str,
    path: &Path,
    known_hosts: &Path,
) -> Result<BuilderSpec, ConfigError> {
    let hp: HpBuilder = serde_json::from_str(text).map_err(|e| ConfigError::Json {
        path: path.into(),
        source: e,
    })?;
    if hp.ssh.private_key.is_some() {
        // HaikuPorter's JSON may carry the private key inline (`ssh.privateKey`).
        crate::config::secrets::warn_if_readable_by_others(path, "a builder JSON with ssh.privateKey");
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let ssh = resolve_hp_ssh(&hp.name, &hp.ssh, base, known_hosts)?;
    let p = &hp.portstree;
    Ok(BuilderSpec {
        name: hp.name.clone(),
        ssh: Some(ssh),
        paths: BuilderPaths::new(
            &p.path,
            p.packages_path.as_deref(),
            p.packages_cache_path.as_deref(),
            p.builder_config.as_deref(),
        ),
        haikuporter: hp
            .haikuporter
            .path
            .clone()
            .unwrap_or_else(|| "haikuporter".into()),
        haikuporter_args: hp
            .haikuporter
            .args
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        timeouts: Timeouts::default(),
        build_command: default_build_command(),
        purge_command: default_purge_command(),
        // HaikuPorter's JSON has no such setting; its builders keep their network.
        network: NetworkMode::Host,
    })
}

fn resolve_hp_ssh(
    builder: &str,
    s: &HpSsh,
    base: &Path,
    known_hosts: &Path,
) -> Result<SshTarget, ConfigError> {
    let port = match &s.port {
        None => DEFAULT_SSH_PORT,
        Some(PortValue::Number(n)) => *n,
        Some(PortValue::Text(t)) => t.trim().parse().map_err(|_| ConfigError::Invalid {
            builder: builder.into(),
            what: format!("ssh.port {t:?} is not a port number"),
        })?,
    };
    let private_key = match (&s.private_key, &s.private_key_file) {
        (Some(b64), _) => {
            let cleaned: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned.as_bytes())
                .map_err(|e| ConfigError::Invalid {
                    builder: builder.into(),
                    what: format!("ssh.privateKey is not base64: {e}"),
                })?;
            String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
                builder: builder.into(),
                what: "ssh.privateKey does not decode to OpenSSH key text".into(),
            })?
        }
        (None, Some(file)) => {
            let path = base.join(file);
            let key = std::fs::read_to_string(&path).map_err(|e| ConfigError::KeyFile {
                builder: builder.into(),
                path: path.clone(),
                source: e,
            })?;
            crate::config::secrets::warn_if_readable_by_others(&path, "an SSH private key");
            key
        }
        (None, None) => {
            return Err(ConfigError::Invalid {
                builder: builder.into(),
                what: "ssh needs privateKey (base64) or privateKeyFile".into(),
            })
        }
    };
    Ok(SshTarget {
        host: s.host.clone(),
        port,
        user: s.user.clone(),
        private_key,
        host_key: HostKeyPin::KnownHosts(known_hosts.into()),
        jump: s
            .jump
            .as_ref()
            .map(|j| resolve_hp_ssh(builder, j, base, known_hosts))
            .transpose()?
            .map(Box::new),
    })
}

/// Loads every `*.json` in HaikuPorter's builders directory with its shared `known_hosts`. Invalid
/// files are returned as errors next to the good ones, so one bad file does not take the others down
/// (HaikuPorter logs and skips them too).
pub fn load_haikuporter_dir(dir: &Path) -> Result<Vec<Result<BuilderSpec, ConfigError>>, ConfigError> {
    let known_hosts = dir.join("known_hosts");
    let entries = std::fs::read_dir(dir).map_err(|e| ConfigError::Read {
        path: dir.into(),
        source: e,
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files
        .iter()
        .map(|f| load_haikuporter_json(f, &known_hosts))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n";
    /// A real ed25519 public key (the pin must parse).
    const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDTad7/tGP+EZiCWLLZd4l0M6lTum6vf73YufZX/E3qB";

    #[test]
    fn haikuporter_json_is_accepted_unchanged() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
        let json = format!(
            r#"{{"name": "builder_x86_64", "ssh": {{"host": "haikuhost", "port": "2222", "user": "user",
                "privateKey": "{b64}", "jump": {{"host": "gate", "user": "j", "privateKey": "{b64}"}}}},
                "portstree": {{"path": "/boot/home/haikuports/"}},
                "haikuporter": {{"path": "/boot/home/haikuporter/haikuporter", "args": "-j2 --quiet"}}}}"#
        );
        let spec =
            parse_haikuporter_json(&json, Path::new("/b/x.json"), Path::new("/b/known_hosts")).unwrap();
        let ssh = spec.ssh.unwrap();
        assert_eq!(
            (ssh.host.as_str(), ssh.port, ssh.user.as_str()),
            ("haikuhost", 2222, "user")
        );
        assert_eq!(ssh.private_key, KEY);
        assert!(matches!(ssh.host_key, HostKeyPin::KnownHosts(ref p) if p == Path::new("/b/known_hosts")));
        let jump = ssh.jump.unwrap();
        assert_eq!((jump.host.as_str(), jump.port), ("gate", 22));
        assert_eq!(
            spec.paths,
            BuilderPaths {
                ports_tree: "/boot/home/haikuports".into(),
                packages: "/boot/home/haikuports/packages".into(),
                cache: "/boot/home/haikuports/packages/.cache".into(),
                builder_config: "/boot/home/haikuports/builder.conf".into(),
            }
        );
        assert_eq!(spec.haikuporter, "/boot/home/haikuporter/haikuporter");
        assert_eq!(spec.haikuporter_args, ["-j2", "--quiet"]);
    }

    #[test]
    fn haikuporter_json_with_key_file_and_numeric_port() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), KEY).unwrap();
        let json = r#"{"name": "b", "ssh": {"host": "h", "port": 22, "user": "u", "privateKeyFile": "k"},
                       "portstree": {"path": "/p", "packagesPath": "/pk"}}"#;
        let spec = parse_haikuporter_json(json, &dir.path().join("b.json"), Path::new("kh")).unwrap();
        assert_eq!(spec.ssh.unwrap().private_key, KEY);
        assert_eq!(spec.paths.cache, "/pk/.cache");
        assert_eq!(spec.build_command, default_build_command());
    }

    #[test]
    fn bad_haikuporter_json_names_the_problem() {
        let json = r#"{"name": "b", "ssh": {"host": "h", "port": "ssh", "user": "u", "privateKey": "eA=="},
                       "portstree": {"path": "/p"}}"#;
        let err = parse_haikuporter_json(json, Path::new("b.json"), Path::new("kh")).unwrap_err();
        assert!(err.to_string().contains("ssh.port"), "{err}");
        let json = r#"{"name": "b", "ssh": {"host": "h", "user": "u"}, "portstree": {"path": "/p"}}"#;
        let err = parse_haikuporter_json(json, Path::new("b.json"), Path::new("kh")).unwrap_err();
        assert!(err.to_string().contains("privateKey"), "{err}");
    }

    #[test]
    fn toml_section_rejects_unknown_fields_and_fills_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, KEY).unwrap();
        let text = format!(
            "name = \"b1\"\n[ssh]\nhost = \"127.0.0.1\"\nport = 2200\nuser = \"root\"\n\
             private_key_file = \"{}\"\nhost_key = \"{HOST_KEY}\"\n[portstree]\npath = \"/w\"\n\
             [timeouts]\nidle_output = 5\n",
            key.display()
        );
        let section: BuilderSection = toml::from_str(&text).unwrap();
        let spec = section.resolve().unwrap();
        assert_eq!(spec.timeouts.idle_output, Some(Duration::from_secs(5)));
        // HaikuPorter has no build timeout: none unless configured.
        assert_eq!(spec.timeouts.build, None);
        assert_eq!(spec.purge_command, default_purge_command());
        assert_eq!(
            spec.timeouts.connect,
            Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS)
        );
        assert_eq!(spec.build_command, default_build_command());
        assert!(matches!(spec.ssh.unwrap().host_key, HostKeyPin::Key(_)));

        let bad = text.replace("idle_output = 5", "idle_output = 5\nidel = 3");
        assert!(toml::from_str::<BuilderSection>(&bad).is_err());
    }

    fn local_section(extra: &str) -> BuilderSection {
        toml::from_str(&format!(
            "name = \"deb1\"\n{extra}[portstree]\npath = \"/w/tree\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn the_toolchain_is_chosen_with_its_settings() {
        assert_eq!(
            local_section("").toolchain_choice().unwrap(),
            ToolchainChoice::HaikuPorter
        );
        let dpkg = local_section(
            "toolchain = \"dpkg\"\n[dpkg]\nroot_tarball = \"/r.tar\"\nwork_base = \"/w/work\"\n",
        );
        assert_eq!(
            dpkg.toolchain_choice().unwrap(),
            ToolchainChoice::Dpkg {
                root_tarball: "/r.tar".into(),
                work_base: "/w/work".into()
            }
        );
        let rpm = local_section("toolchain = \"rpm\"\n[rpm]\nwork_base = \"/w/work\"\n");
        assert_eq!(
            rpm.toolchain_choice().unwrap(),
            ToolchainChoice::Rpm {
                work_base: "/w/work".into()
            }
        );
    }

    #[test]
    fn a_bad_toolchain_setting_names_the_builder_and_the_key() {
        let cases = [
            ("toolchain = \"sbuild\"\n", "toolchain = \"sbuild\""),
            ("toolchain = \"dpkg\"\n", "builders.dpkg.root_tarball"),
            (
                "toolchain = \"dpkg\"\n[dpkg]\nroot_tarball = \"/r.tar\"\n",
                "builders.dpkg.work_base",
            ),
            ("toolchain = \"rpm\"\n", "builders.rpm.work_base"),
            ("[rpm]\nwork_base = \"/w\"\n", "[builders.rpm] is set"),
        ];
        for (extra, key) in cases {
            let err = local_section(extra).toolchain_choice().unwrap_err().to_string();
            assert!(
                err.contains("builder deb1") && err.contains(key),
                "{extra}: {err}"
            );
        }
    }

    #[test]
    fn toml_section_without_host_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, KEY).unwrap();
        let text = format!(
            "name = \"b1\"\n[ssh]\nhost = \"h\"\nuser = \"u\"\nprivate_key_file = \"{}\"\n\
             [portstree]\npath = \"/w\"\n",
            key.display()
        );
        let err = toml::from_str::<BuilderSection>(&text)
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("host key"), "{err}");
    }
}
