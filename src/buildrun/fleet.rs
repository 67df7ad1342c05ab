//! Which builders a buildrun uses: the `[[builders]]` of the instance config (a section with
//! `[builders.ssh]` is a remote builder, one without is a local builder), else HaikuPorter's builders
//! directory (`--builders-dir`, default `<state>/builders`: one JSON per builder plus `known_hosts`),
//! else one local builder on the master that builds in the configured ports tree with its packages
//! under `<state>/local-builder/`. Each builder's build tool is its section's `toolchain`
//! (HaikuPorter, `dpkg-buildpackage` or `rpmbuild`), and it must build the instance's kind of tree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::StorageBackend;

use super::builder::{Builder, Remote};
use super::served;
use super::BuildrunError;
use crate::builders::build::ResultDirs;
use crate::builders::builder_conf::BuilderConfValues;
use crate::builders::cache::{KeepSet, KeepSource};
use crate::builders::config::{load_haikuporter_dir, BuilderPaths, BuilderSpec, Timeouts, ToolchainChoice};
use crate::builders::remote::RemoteBuilder;
use crate::builders::state::ReconnectPolicy;
use crate::config::instance::InstanceConfig;
use crate::plan::recipe_tree::TreeKind;
use crate::state::{Database, StateDir};
use crate::toolchains::debian::procedure::DebianBuilderPaths;
use crate::toolchains::debian::toolchain::DpkgBuildpackage;
use crate::toolchains::haikuporter::HPKG_EXTENSION;
use crate::toolchains::rpm::procedure::RpmBuilderPaths;
use crate::toolchains::rpm::toolchain::Rpmbuild;
use crate::toolchains::Toolchain;

/// Name of the default local builder.
pub const DEFAULT_LOCAL_NAME: &str = "local";

/// Where verified results are staged (same file system as the spool they are committed to).
pub fn result_dirs(state: &StateDir) -> ResultDirs {
    ResultDirs {
        staging: state.root().join("staging"),
        commit: state.packages(),
    }
}

/// What the builder config file tells the build tool, from `[ports]`.
pub fn conf_values(config: &InstanceConfig) -> BuilderConfValues {
    BuilderConfValues {
        target_architecture: config.ports.target_architecture.clone(),
        secondary_architectures: config.ports.secondary_architectures.clone(),
        allow_untested: config.ports.allow_untested,
        ..BuilderConfValues::default()
    }
}

/// `path` made absolute against the current directory (unchanged when that is unknown).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The default local builder's spec: the master's ports tree, packages and cache under
/// `<state>/local-builder/`, the build tool and template from `[buildrun]`.
pub fn default_local_spec(state: &StateDir, config: &InstanceConfig) -> BuilderSpec {
    let base = absolute(&state.root().join("local-builder"));
    let packages = base.join("packages");
    let tree = absolute(&config.ports_tree(state.root()));
    let b = &config.buildrun;
    // The build tool runs in the ports tree: a relative path to it must not be resolved from there.
    let tool = if b.local_haikuporter.contains('/') {
        absolute(Path::new(&b.local_haikuporter))
            .to_string_lossy()
            .into_owned()
    } else {
        b.local_haikuporter.clone()
    };
    BuilderSpec {
        name: DEFAULT_LOCAL_NAME.into(),
        ssh: None,
        paths: BuilderPaths::new(
            &tree.to_string_lossy(),
            Some(&packages.to_string_lossy()),
            Some(&packages.join(".cache").to_string_lossy()),
            Some(&base.join("builder.conf").to_string_lossy()),
        ),
        haikuporter: tool,
        haikuporter_args: b
            .local_haikuporter_args
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        timeouts: Timeouts::default(),
        build_command: b.local_build_command.clone(),
        // The local builder does not run a purge (docs/builder-contract.md): its work directories
        // are the master's own, kept for inspection.
        purge_command: Vec::new(),
        network: Default::default(),
    }
}

/// The specs of the builders to use (see the module doc for the order of precedence).
pub fn builder_specs(
    state: &StateDir,
    config: &InstanceConfig,
    builders_dir: Option<&Path>,
) -> Result<Vec<BuilderSpec>, BuildrunError> {
    if !config.builders.is_empty() {
        return config
            .builders
            .iter()
            .map(|section| {
                section
                    .resolve()
                    .map_err(|e| BuildrunError::Config(format!("[[builders]] {}: {e}", section.name)))
            })
            .collect();
    }
    let dir: PathBuf = builders_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| state.root().join("builders"));
    if builders_dir.is_some() || dir.is_dir() {
        let loaded = load_haikuporter_dir(&dir).map_err(|e| BuildrunError::Config(e.to_string()))?;
        let mut specs = Vec::new();
        for spec in loaded {
            match spec {
                Ok(spec) => specs.push(spec),
                Err(err) => tracing::warn!(%err, "skipping an invalid builder file"),
            }
        }
        if !specs.is_empty() {
            return Ok(specs);
        }
        if builders_dir.is_some() {
            return Err(BuildrunError::Config(format!(
                "the builders directory {} holds no valid builder (*.json); fix the files or remove \
                 --builders-dir to use the local builder",
                dir.display()
            )));
        }
    }
    Ok(vec![default_local_spec(state, config)])
}

/// Builders ready for the executor: remote ones for specs with SSH, local ones otherwise. `storage`
/// serves dependencies whose spool files are already stubs.
pub fn make_builders(
    specs: Vec<BuilderSpec>,
    state: &StateDir,
    config: &InstanceConfig,
    storage: Option<Arc<dyn StorageBackend>>,
) -> Result<Vec<Arc<dyn Builder>>, BuildrunError> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Arc<dyn Builder>> = Vec::new();
    for spec in specs {
        if !seen.insert(spec.name.clone()) {
            return Err(BuildrunError::Config(format!(
                "two builders are called {:?}; builder names must be unique",
                spec.name
            )));
        }
        let conf = conf_values(config);
        let dirs = result_dirs(state);
        let toolchain = toolchain_for(&spec, config)?;
        // One builder type for both: a builder without [ssh] is the master itself, through the same
        // flow. Only a remote builder prunes on connect; the local cache keeps what it had (as before).
        let remote = spec.ssh.is_some();
        let mut builder = RemoteBuilder::new(spec, storage.clone(), conf, dirs, ReconnectPolicy::default());
        if let Some(toolchain) = toolchain {
            builder = builder.with_toolchain(toolchain);
        }
        if remote {
            let keep = match config.ports.kind {
                TreeKind::Haikuports => cache_keep_source(state, config),
                _ => served::cache_keep_source(config, state),
            };
            builder = builder.with_prune_on_connect(keep);
        }
        out.push(Arc::new(Remote::new(builder)));
    }
    Ok(out)
}

/// The build tool of `spec`'s builder, from its `[[builders]]` section's `toolchain` (builders from
/// HaikuPorter's JSON files, and the default local builder, run HaikuPorter); `None`: HaikuPorter,
/// which [`RemoteBuilder::new`] sets up itself. A builder whose tool cannot build the instance's
/// tree (`[ports] kind`) is refused, naming it and both settings.
pub fn toolchain_for(
    spec: &BuilderSpec,
    config: &InstanceConfig,
) -> Result<Option<Arc<dyn Toolchain>>, BuildrunError> {
    let section = config.builders.iter().find(|s| s.name == spec.name);
    let choice = match section {
        Some(section) => section
            .toolchain_choice()
            .map_err(|e| BuildrunError::Config(e.to_string()))?,
        None => ToolchainChoice::HaikuPorter,
    };
    let kind = config.ports.kind;
    if !kind.built_by(&choice) {
        let what = match section {
            Some(_) => format!("builder {} builds with another toolchain", spec.name),
            None => format!(
                "builder {} (from a HaikuPorter builders directory, or the default local builder) runs \
                 HaikuPorter",
                spec.name
            ),
        };
        return Err(BuildrunError::Config(format!(
            "{what}, but [ports] kind = {:?} needs [[builders]] with toolchain = {:?}",
            kind.as_str(),
            kind.toolchain()
        )));
    }
    let paths = &spec.paths;
    Ok(match choice {
        ToolchainChoice::HaikuPorter => None,
        ToolchainChoice::Dpkg {
            root_tarball,
            work_base,
        } => Some(Arc::new(DpkgBuildpackage::new(
            DebianBuilderPaths {
                root_tarball,
                recipe_tree: paths.ports_tree.clone(),
                work_base,
                dependencies: paths.packages.clone(),
            },
            paths.cache.clone(),
        ))),
        ToolchainChoice::Rpm { work_base } => Some(Arc::new(Rpmbuild::new(
            RpmBuilderPaths {
                recipe_tree: paths.ports_tree.clone(),
                work_base,
                dependencies: paths.packages.clone(),
            },
            paths.cache.clone(),
        ))),
    })
}

/// What a remote builder's cache keeps when it prunes on connect: every package the state database
/// records (HaikuPorter: the repository's packages) and every `*.hpkg` in the system packages
/// directory. Read at each connect, so packages built since the buildrun started are kept.
pub fn cache_keep_source(state: &StateDir, config: &InstanceConfig) -> KeepSource {
    let database = state.database();
    let system_dir = config.system_packages(state.root());
    Arc::new(move || {
        let db = Database::open(&database).map_err(|e| e.to_string())?;
        let repository = db
            .all()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| r.package.file_name)
            .collect();
        let mut system = std::collections::HashSet::new();
        if let Some(dir) = &system_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(HPKG_EXTENSION) {
                    system.insert(name);
                }
            }
        }
        Ok(KeepSet { repository, system })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_builders_anywhere_means_one_local_builder_in_the_ports_tree() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let config: InstanceConfig = toml::from_str(
            "[ports]\ntree = \"/src/haikuports\"\n[buildrun]\nlocal_haikuporter = \"/t/hp\"\n",
        )
        .unwrap();
        let specs = builder_specs(&state, &config, None).unwrap();
        assert_eq!(specs.len(), 1);
        let spec = &specs[0];
        assert_eq!((spec.name.as_str(), spec.ssh.is_none()), ("local", true));
        assert_eq!(spec.paths.ports_tree, "/src/haikuports");
        assert!(spec.paths.packages.ends_with("local-builder/packages"));
        assert_eq!(spec.haikuporter, "/t/hp");
        // A named but empty builders directory is an error, not a silent local build.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = builder_specs(&state, &config, Some(&empty)).unwrap_err();
        assert!(err.to_string().contains("no valid builder"), "{err}");
    }

    #[test]
    fn a_builders_section_without_ssh_is_local() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let config: InstanceConfig = toml::from_str(
            "[[builders]]\nname = \"here\"\n[builders.portstree]\npath = \"/w/tree\"\n\
             [[builders]]\nname = \"here\"\n[builders.portstree]\npath = \"/w/tree2\"\n",
        )
        .unwrap();
        let specs = builder_specs(&state, &config, None).unwrap();
        assert!(specs.iter().all(|s| s.ssh.is_none()));
        let err = make_builders(specs, &state, &config, None).err().unwrap();
        assert!(err.to_string().contains("unique"), "{err}");
    }
}
