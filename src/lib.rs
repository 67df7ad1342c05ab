//! buildmaster: a build-farm coordinator with pluggable object storage.
//!
//! It schedules package builds on SSH builders, streams each build's dependencies from object storage
//! into a verified per-builder cache, uploads the built packages through a
//! [`StorageBackend`](buildmaster_storage::StorageBackend), stubs the local copies, regenerates the
//! repository index natively, and prunes orphaned objects safely. See `docs/` for the operator guide.
//!
//! # Layout
//! - [`config`]: configuration files — the HaikuPorter-compatible storage JSON.
//! - [`storage`]: opening the configured [`StorageBackend`](buildmaster_storage::StorageBackend) (the
//!   trait and the backends themselves live in `backends/`).
//! - [`haiku`]: Haiku's package formats — `.hpkg` packages, the HPKR repository index, `repo.info`,
//!   `repo.sha256`, versions and resolvables.
//! - [`formats`]: repository formats behind one trait ([`formats::RepositoryFormat`]) — Debian (apt)
//!   and RPM (dnf) repositories published from pushed packages.
//! - [`ports`]: HaikuPorts-format ports trees — recipes evaluated with bash, cached, active versions.
//! - [`plan`]: requirement resolution and the build plan (`buildmaster plan`).
//! - [`builders`]: SSH and local builders — pinned connections, the verified package cache, fast SFTP,
//!   builds with live output and verified results.
//! - [`buildrun`]: buildruns — the event-driven executor over the builders, durable state, HaikuPorter's
//!   output tree, resume after a crash or stop (`buildmaster buildrun`).
//! - [`sources`]: the source cache — recipe sources fetched once, verified against the recipe,
//!   stored in the bucket by content (`sources/sha256/<hex>`); `buildmaster sources`.
//! - [`manifest`]: the job manifest — every input of a build by SHA-256 and size, recorded with the
//!   build, served by the API, checked on the builder.
//! - [`state`]: the state directory (`packages/`, `repository/`) and the SQLite database of package
//!   records (format-neutral) — the source of truth for what is published.
//! - [`publish`]: the instance's implicit repository (HaikuPorter's single Haiku repository) through
//!   [`formats::RepositoryFormat`]: upload → verify → stub, index render and upload, prune, recover.
//! - [`repos`]: Debian and RPM repositories of pushed packages — `[[repositories]]`, the shared pool,
//!   `buildmaster push`, indexes uploaded root of trust last.
//! - [`gate`]: stage → gate → promote — pushed packages wait in a staging storage until their checks
//!   (installability, lint, tests; waivers) pass, then the same bytes are promoted; the audit log;
//!   the HaikuPorts repository's gated publish (built packages staged, checked, promoted).
//! - [`scratch`]: scratch builds — a ref of the ports tree built as a buildrun would, gated, reported
//!   to a webhook, never published, expired after a TTL.
//! - [`toolchains`]: the toolchain seam — per build tool (HaikuPorter, Debian, RPM) the commands a
//!   job runs, where its inputs go on the builder, which results it must produce.
//! - [`scheduler`]: build graphs, scheduling policies (critical path; FIFO baseline) and the
//!   event-driven simulation behind `bench/schedule`.
//! - [`daemon`]: `buildmaster serve`'s loop — ports-tree polling, trigger files, jobs, webhook.
//! - [`server`]: the HTTP server of `buildmaster serve` — JSON API, live status and log tails (SSE),
//!   metrics, bearer-token control endpoints, the embedded web UI.
//! - [`bounded_text`]: outside text cut to a length messages and answers can carry.
//! - [`fsutil`]: atomic file replacement and streaming SHA-256, for every format.
//! - [`parallel`]: one function over many items on all cores, results in input order.
//! - [`natural_order`]: digit-aware string ordering (Haiku's `NaturalCompare`), for versions and
//!   numbered lists alike.
//! - [`cli`]: the command-line surface (`buildmaster storage|hpkg|repo …`); `main.rs` only parses and
//!   dispatches.

pub mod bounded_text;
pub mod builders;
pub mod buildrun;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod formats;
pub mod fsutil;
pub mod gate;
pub mod haiku;
pub mod manifest;
pub mod natural_order;
pub mod parallel;
pub mod plan;
pub mod ports;
pub mod publish;
pub mod repos;
pub mod scheduler;
pub mod scratch;
pub mod server;
pub mod sources;
pub mod state;
pub mod storage;
pub mod toolchains;

pub use buildmaster_storage as storage_api;
