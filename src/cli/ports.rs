//! `buildmaster ports dump`: the instance's ports tree as evaluated — every recipe's port, its
//! status, whether it is the active version, its packages with their provides and requires, and the
//! recipes that could not be evaluated — as JSON. This is what `bench/real-tree` compares against
//! HaikuPorter's own view of the same tree, entry for entry.
//!
//! Resolvables are written as text in the shape HaikuPorter prints them after reading them back from
//! its DependencyInfo files (`PackageInfo.Resolvable` / `ResolvableExpression.__str__`), so the two
//! views compare as strings: `name = version (compatible >= version)` and `name op version [base]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::config::instance::InstanceConfig;
use crate::haiku::resolvable::{Provides, ResolvableExpression};
use crate::plan::instance::eval_options;
use crate::ports::active::lookup_name;
use crate::ports::model::{ArchStatus, Port, PortPackage};
use crate::ports::{PortsTree, DEFAULT_RECIPE_TIMEOUT};
use crate::state::StateDir;

/// `buildmaster ports …`.
#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Which ports operation.
    #[command(subcommand)]
    pub command: PortsCommand,
}

/// Ports-tree operations.
#[derive(Debug, Subcommand)]
pub enum PortsCommand {
    /// Evaluate the instance's ports tree (with the recipe cache) and print it as JSON.
    Dump {
        /// The instance config; default `<state-dir>/buildmaster.toml` when it exists, else defaults.
        #[arg(long, env = "BUILDMASTER_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// The whole dump.
#[derive(Debug, Serialize)]
struct Dump<'a> {
    /// Always `buildmaster`, so a reader can tell the two views apart.
    tool: &'static str,
    /// `[ports] target_architecture`.
    target_architecture: &'a str,
    /// `[ports] allow_untested`: whether untested ports may be active.
    allow_untested: bool,
    /// Every evaluated recipe (all versions), in tree order.
    ports: Vec<PortEntry<'a>>,
    /// Recipes that could not be evaluated, with our message.
    problems: Vec<ProblemEntry>,
}

/// One evaluated recipe.
#[derive(Debug, Serialize)]
struct PortEntry<'a> {
    /// Lookup name (`name`, or `name_<arch>` for a secondary-architecture port).
    name: String,
    /// `portVersion`.
    version: &'a str,
    /// `REVISION`.
    revision: u32,
    /// The recipe, relative to the tree root.
    recipe: String,
    /// Status of the main package on the target architecture.
    status: ArchStatus,
    /// Whether this is the port's active version.
    active: bool,
    /// The packages it builds.
    packages: Vec<PackageEntry<'a>>,
}

/// One package, with the port's build requirements (HaikuPorter gives every package of a port the
/// port's `BUILD_REQUIRES` and `BUILD_PREREQUIRES`).
#[derive(Debug, Serialize)]
struct PackageEntry<'a> {
    /// Package name.
    name: &'a str,
    /// Package version with revision.
    version: String,
    /// `any` or the target architecture.
    architecture: &'a str,
    /// The package's own status (subpackages may be more restricted than the port).
    status: ArchStatus,
    /// `PROVIDES`, as text.
    provides: Vec<String>,
    /// `REQUIRES`, as text.
    requires: Vec<String>,
    /// The port's `BUILD_REQUIRES`, as text.
    build_requires: Vec<String>,
    /// The port's `BUILD_PREREQUIRES`, as text.
    build_prerequires: Vec<String>,
}

/// One recipe that could not be evaluated.
#[derive(Debug, Serialize)]
struct ProblemEntry {
    /// The recipe, relative to the tree root.
    recipe: String,
    /// Why.
    message: String,
}

/// Runs `buildmaster ports …`.
pub fn run(args: PortsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PortsCommand::Dump { config } => dump(config, global),
    }
}

fn dump(config: Option<PathBuf>, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&global.state_dir);
    let config = InstanceConfig::locate(config.as_deref(), state.root())?;
    let root = config.ports_tree(state.root());
    let options = eval_options(&config, &state);
    let tree = PortsTree::load_with_timeout(&root, &options, DEFAULT_RECIPE_TIMEOUT)
        .with_context(|| format!("loading the ports tree {}", root.display()))?;
    let stats = tree.stats();
    tracing::info!(
        recipes = stats.recipes,
        evaluated = stats.evaluated,
        cached = stats.cached,
        problems = stats.problems,
        load_ms = stats.elapsed.as_millis() as u64,
        "ports tree loaded"
    );
    let dump = Dump {
        tool: "buildmaster",
        target_architecture: &config.ports.target_architecture,
        allow_untested: config.ports.allow_untested,
        ports: tree.ports.iter().map(|port| port_entry(&tree, port)).collect(),
        problems: tree
            .problems
            .iter()
            .map(|p| ProblemEntry {
                recipe: p.recipe_path.to_string_lossy().into_owned(),
                message: p.message.clone(),
            })
            .collect(),
    };
    let stdout = std::io::stdout().lock();
    serde_json::to_writer(std::io::BufWriter::new(stdout), &dump).context("writing the dump")?;
    Ok(ExitCode::SUCCESS)
}

fn port_entry<'a>(tree: &PortsTree, port: &'a Port) -> PortEntry<'a> {
    let name = lookup_name(port);
    let active = tree.active(&name).is_some_and(|a| std::ptr::eq(a, port));
    let build_requires: Vec<String> = port.build_requires.iter().map(expression_text).collect();
    let build_prerequires: Vec<String> = port.build_prerequires.iter().map(expression_text).collect();
    PortEntry {
        name,
        version: &port.version,
        revision: port.revision,
        recipe: port.recipe_path.to_string_lossy().into_owned(),
        status: port.status,
        active,
        packages: port
            .packages
            .iter()
            .map(|package| package_entry(package, &build_requires, &build_prerequires))
            .collect(),
    }
}

fn package_entry<'a>(
    package: &'a PortPackage,
    build_requires: &[String],
    build_prerequires: &[String],
) -> PackageEntry<'a> {
    PackageEntry {
        name: &package.name,
        version: package.version.to_string(),
        architecture: &package.architecture,
        status: package.status,
        provides: package.provides.iter().map(provides_text).collect(),
        requires: package.requires.iter().map(expression_text).collect(),
        build_requires: build_requires.to_vec(),
        build_prerequires: build_prerequires.to_vec(),
    }
}

/// `name = version (compatible >= version)`, as HaikuPorter's `Resolvable.__str__`.
fn provides_text(provides: &Provides) -> String {
    let mut text = provides.name.clone();
    if let Some(version) = provides.version.as_ref().filter(|v| v.is_set()) {
        text.push_str(&format!(" = {version}"));
        if let Some(compatible) = provides.compatible_version.as_ref().filter(|v| v.is_set()) {
            text.push_str(&format!(" (compatible >= {compatible})"));
        }
    }
    text
}

/// `name op version [base]`, as HaikuPorter's `ResolvableExpression.__str__`.
fn expression_text(expression: &ResolvableExpression) -> String {
    let mut text = expression.name.clone();
    if let (Some(operator), Some(version)) = (expression.operator, &expression.version) {
        text.push_str(&format!(" {operator} {version}"));
    }
    if expression.base {
        text.push_str(" base");
    }
    text
}
