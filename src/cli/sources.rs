//! `buildmaster sources fetch|add|list|check`: the source cache (docs/sources.md). Ports are named as
//! `buildmaster ports dump` lists them (`name` for the active version, or `name-version`); without
//! names, `fetch` and `check` take every active port. For a Debian or RPM tree (`[ports] kind`) a
//! package is named by its directory in the tree, and its sources are the `.orig` tarballs it pins
//! or the lookaside archives its `sources` file lists.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cli::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::plan::instance::eval_options;
use crate::plan::recipe_tree::TreeKind;
use crate::ports::model::Port;
use crate::ports::{PortsTree, DEFAULT_RECIPE_TIMEOUT};
use crate::sources::cache::DEFAULT_MAX_SOURCE_BYTES;
use crate::sources::recipe::sources_of;
use crate::sources::trees::{tree_sources, ForeignTree};
use crate::sources::{FetchSettings, Fetched, RecipeSource, SourceCache, SourceError, SourceStatus};
use crate::state::StateDir;

/// The spool directory for downloads in progress, under the state directory.
const SPOOL_DIR: &str = "sources-spool";

/// `buildmaster sources …`.
#[derive(Debug, Args)]
pub struct SourcesArgs {
    /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
    #[arg(long, env = "BUILDMASTER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Which operation.
    #[command(subcommand)]
    pub command: SourcesCommand,
}

/// Source cache operations.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Fetch the sources of these ports (default: every active port) into the cache; already stored
    /// sources are not downloaded again.
    Fetch {
        /// Ports (`name` or `name-version`).
        ports: Vec<String>,
        /// Largest source accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_SOURCE_BYTES)]
        max_size: u64,
        /// A mirror tried after each source's own URIs, as `<mirror>/<port dir>/<file>` (HaikuPorter's
        /// DOWNLOAD_MIRROR, e.g. https://ports-mirror.haiku-os.org).
        #[arg(long)]
        mirror: Option<String>,
        /// RPM trees: the lookaside cache the `sources` files' archives are fetched from, as
        /// `<URL>/<name>/<file>/sha512/<hash>/<file>` (Fedora: https://src.fedoraproject.org/repo/pkgs;
        /// a namespaced cache with its `rpms` part, e.g. https://sources.stream.centos.org/sources/rpms).
        #[arg(long, env = "BUILDMASTER_LOOKASIDE")]
        lookaside: Option<String>,
        /// Debian trees: the archive whose pool the `.orig` tarballs are fetched from, as
        /// `<URL>/pool/<component>/<prefix>/<source>/<file>` (e.g. https://deb.debian.org/debian).
        #[arg(long, env = "BUILDMASTER_DEBIAN_ARCHIVE")]
        debian_archive: Option<String>,
    },
    /// Store FILE as a port's source (verified against the recipe's CHECKSUM_SHA256 when it has one,
    /// a Debian tree's pinned SHA-256, or an RPM `sources` file's SHA-512).
    Add {
        /// The file.
        file: PathBuf,
        /// The port (`name` or `name-version`; a Debian or RPM tree's package directory).
        #[arg(long)]
        port: String,
        /// The source index (1 for SOURCE_URI, 2 for SOURCE_URI_2, …; for a Debian or RPM tree, the
        /// line of the pin or `sources` file) or its file name.
        #[arg(long, default_value = "1")]
        source: String,
    },
    /// List the recorded sources.
    List {
        /// As a JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Check that every source of these ports (default: every active port) is in the cache; exit 1
    /// if any is missing.
    Check {
        /// Ports (`name` or `name-version`).
        ports: Vec<String>,
    },
}

/// Runs `buildmaster sources …`.
pub fn run(args: SourcesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    state.require_existing()?;
    let config = InstanceConfig::locate(args.config.as_deref(), state.root())?;
    let (settings, origins) = match &args.command {
        SourcesCommand::Fetch {
            max_size,
            mirror,
            lookaside,
            debian_archive,
            ..
        } => (
            FetchSettings {
                max_size: *max_size,
                mirror: mirror.clone(),
            },
            Origins {
                lookaside: lookaside.clone(),
                debian_archive: debian_archive.clone(),
                fetching: true,
            },
        ),
        _ => (FetchSettings::default(), Origins::default()),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let storage =
            crate::storage::open(global.storage_backend_config.as_deref(), &global.state_dir).await?;
        let cache = SourceCache::new(storage, &state.database(), state.root().join(SPOOL_DIR), settings)?;
        match args.command {
            SourcesCommand::List { json } => list(&cache, json),
            SourcesCommand::Fetch { ports, .. } => {
                let sources = recipe_sources(&config, &state, &ports, &origins)?;
                fetch(&cache, &sources).await
            }
            SourcesCommand::Check { ports } => {
                let sources = recipe_sources(&config, &state, &ports, &origins)?;
                check(&cache, &sources).await
            }
            SourcesCommand::Add { file, port, source } => {
                let sources = recipe_sources(&config, &state, std::slice::from_ref(&port), &origins)?;
                let wanted = sources
                    .iter()
                    .find(|s| s.index == source || s.file_name == source)
                    .ok_or_else(|| SourceError::NoSuchSource {
                        port: sources.first().map_or(port.clone(), |s| s.port.clone()),
                        source_index: source.clone(),
                        known: sources
                            .iter()
                            .map(|s| s.index.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                let row = cache.add(wanted, &file).await?;
                println!(
                    "{} source {}: stored {} as sha256 {} ({} bytes, {})",
                    row.port, row.source_index, row.file_name, row.sha256, row.size, row.verified_by
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Where a Debian or RPM tree's sources are fetched from (`sources fetch` options).
#[derive(Debug, Default)]
struct Origins {
    /// `--lookaside`.
    lookaside: Option<String>,
    /// `--debian-archive`.
    debian_archive: Option<String>,
    /// Whether this is `fetch`, which needs them (the other commands need only digests).
    fetching: bool,
}

/// The sources of the named ports' recipes (every active port when none is named), each recipe
/// once; for a Debian or RPM tree, of its named (or every) package directory.
fn recipe_sources(
    config: &InstanceConfig,
    state: &StateDir,
    names: &[String],
    origins: &Origins,
) -> anyhow::Result<Vec<RecipeSource>> {
    let root = config.ports_tree(state.root());
    let foreign = match config.ports.kind {
        TreeKind::Haikuports => None,
        TreeKind::Rpm => {
            anyhow::ensure!(
                !origins.fetching || origins.lookaside.is_some(),
                "an RPM tree's archives are fetched from a lookaside cache: give --lookaside URL \
                 (Fedora's is https://src.fedoraproject.org/repo/pkgs), or upload them with `sources add`"
            );
            Some(ForeignTree::Rpm {
                lookaside: origins.lookaside.as_deref(),
            })
        }
        TreeKind::Debian => {
            anyhow::ensure!(
                !origins.fetching || origins.debian_archive.is_some(),
                "a Debian tree's .orig tarballs are fetched from an archive's pool: give \
                 --debian-archive URL (e.g. https://deb.debian.org/debian), or upload them with `sources add`"
            );
            Some(ForeignTree::Debian {
                archive: origins.debian_archive.as_deref(),
            })
        }
    };
    if let Some(kind) = foreign {
        return Ok(tree_sources(&root, kind, names)?);
    }
    let tree = PortsTree::load_with_timeout(&root, &eval_options(config, state), DEFAULT_RECIPE_TIMEOUT)
        .with_context(|| format!("loading the ports tree {}", root.display()))?;
    let ports: Vec<&Port> = if names.is_empty() {
        tree.active_ports().collect()
    } else {
        names
            .iter()
            .map(|name| {
                tree.find(name)
                    .ok_or_else(|| SourceError::NoSuchPort { port: name.clone() })
            })
            .collect::<Result<_, _>>()?
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for port in ports {
        if seen.insert(port.recipe_path.clone()) {
            out.extend(sources_of(&root, port, &config.ports.target_architecture)?);
        }
    }
    Ok(out)
}

async fn fetch(cache: &SourceCache, sources: &[RecipeSource]) -> anyhow::Result<ExitCode> {
    let mut failed = 0usize;
    for source in sources {
        match cache.fetch(source).await {
            Ok((Fetched::AlreadyStored, row)) => {
                println!(
                    "{} source {}: already stored (sha256 {})",
                    source.port, source.index, row.sha256
                )
            }
            Ok((Fetched::Stored { from }, row)) => println!(
                "{} source {}: stored from {from} (sha256 {}, {} bytes, {})",
                source.port, source.index, row.sha256, row.size, row.verified_by
            ),
            Err(error) => {
                failed += 1;
                eprintln!("error: {error}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} sources could not be stored", sources.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(cache: &SourceCache, sources: &[RecipeSource]) -> anyhow::Result<ExitCode> {
    let mut missing = 0usize;
    for source in sources {
        match cache.status(source).await? {
            SourceStatus::Present(_) => {}
            SourceStatus::Missing { expected } => {
                missing += 1;
                println!(
                    "missing: {} source {} ({}, sha256 {}); run `buildmaster sources fetch {}`",
                    source.port,
                    source.index,
                    source.file_name,
                    expected.as_deref().unwrap_or("not known until fetched"),
                    source.port
                );
            }
        }
    }
    println!("{} of {} sources present", sources.len() - missing, sources.len());
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn list(cache: &SourceCache, json: bool) -> anyhow::Result<ExitCode> {
    let rows = cache.list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for row in rows {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                row.port, row.source_index, row.file_name, row.sha256, row.size, row.verified_by, row.uri
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
