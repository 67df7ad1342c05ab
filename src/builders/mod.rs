//! Builders: machines reached over SSH (or the master itself) that build packages. Everything a build
//! needs comes from the master over the builder's SSH connection — the ports tree, the builder config,
//! every dependency package — and the results come back the same way, verified before anything trusts
//! them. HaikuPorter's `RemoteBuilderSSH` is the model (reference report §3); its weaknesses (§9) are
//! fixed here.
//!
//! # Layout
//! - [`package`]: [`package::WantedPackage`] — a package record as the builders need it, and where
//!   its bytes are (spool file or storage object).
//! - [`cache`]: the builder's package cache: send only what is missing, verify, prune, make visible.
//! - [`config`]: the `[[builders]]` TOML section and HaikuPorter's per-builder JSON, resolved into one
//!   [`config::BuilderSpec`].
//! - [`error`]: typed errors and their [`error::ErrorClass`] (transport, infrastructure, build failure).
//! - [`hostkey`]: host-key pinning (pinned key or `known_hosts`), fingerprints for error messages.
//! - [`connection`]: the russh connection (keys, timeouts, keepalive, `TCP_NODELAY`, jump hosts).
//! - [`quote`]: argument vectors to strictly quoted shell command lines.
//! - [`host`]: the transport seam — [`host::BuilderHost`], what the flow needs from a machine.
//! - [`ssh_host`]: [`ssh_host::SshHost`], a builder over SSH (the connection plus SFTP).
//! - [`local`]: [`local::LocalHost`], the master itself (processes, files; the build environment).
//! - [`exec`]: SSH commands with live output, PTY, idle/total timeouts and cancellation.
//! - [`sftp`]: pipelined SFTP uploads/downloads verified by size and SHA-256 while streaming.
//! - [`sftp_rename`]: every rename with `posix-rename@openssh.com` (Haiku's BFS has no hard links).
//! - [`ports_tree`]: bringing the builder's ports tree to the master's revision (fetch or bundle).
//! - [`builder_conf`]: the builder config file the build tool reads.
//! - [`results`]: fetching results to staging, verifying them, committing the set all-or-nothing.
//! - [`build_log`]: the per-build log file with live subscribers.
//! - [`network`]: builds without network (`network = "none"`: `unshare --net`).
//! - [`build`]: setup and one build, step by step — the one flow for every host and toolchain
//!   ([`crate::toolchains`]).
//! - [`remote`]: [`remote::RemoteBuilder`] — a builder's transport life (SSH, or the master itself),
//!   health, and the one place a builder is lost.
//! - [`check`]: `buildmaster builder check` — reachability, cache, disk, tool, latency.
//! - [`check_local`]: the same report for the local builder, from this machine.
//! - [`state`]: builder states and reconnect backoff.
//! - [`task`]: the named-task spawn helper.

pub mod build;
pub mod build_log;
pub mod builder_conf;
pub mod cache;
pub mod check;
pub mod check_local;
pub mod config;
pub mod connection;
pub mod error;
pub mod exec;
pub mod host;
pub mod hostkey;
pub mod local;
pub mod network;
pub mod package;
pub mod ports_tree;
pub mod quote;
pub mod remote;
pub mod results;
pub mod sftp;
pub mod sftp_rename;
pub mod ssh_host;
pub mod state;
pub mod task;

pub use config::{BuilderSection, BuilderSpec};
pub use error::{BuilderError, ErrorClass};
pub use state::BuilderState;
