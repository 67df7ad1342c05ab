//! A build's inputs, made on the master just before the build starts (the one place every buildrun —
//! CLI, daemon, scratch — goes through, see [`super::worker`]): the recipe's sources from the source
//! cache, each placed where the builder's toolchain expects it (for HaikuPorter
//! `<port dir>/download/<file>`, with the `<file>.uri` HaikuPorter needs to skip its own download;
//! for RPM the archives of the package's `sources` file and for Debian the `.orig` tarballs its tree
//! pins, in the toolchain's per-package inputs directory, which its build script puts beside the spec
//! or the source directory), the job manifest (tree revision, sources, dependencies, command)
//! recorded in the state database, and the builder inputs of the [`BuildRequest`] filled from it, so
//! that the builder checks every source by SHA-256 before the build runs.
//!
//! A source not in the cache fails the build before it starts when the builder has no network
//! (`network = "none"`): nothing there could download it, and we never let it try — and always for
//! Debian and RPM, whose build tools never download. On a HaikuPorter builder with the host's
//! network a source missing from the cache is left to HaikuPorter, as it has always done (so trees
//! whose sources were never fetched keep building); the manifest then lists only the sources that
//! were placed.
//!
//! Git sources are cached as the `git archive` tar HaikuPorter checksums, but HaikuPorter expects a
//! bare repository at `download/<name>` for a git URI; placing the tar there would make it fail, so a
//! git source on an offline builder is refused naming it (see docs/sources.md). Sources that are
//! files of the port directory travel with the ports tree and are covered by its revision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::{Sha256Digest, StorageBackend};

use crate::builders::build::BuildRequest;
use crate::builders::error::BuilderError;
use crate::builders::package::PlacedInput;
use crate::manifest::store::ManifestStore;
use crate::manifest::{BuildCommand, BuildIdentity, JobInputs, JobManifest, PackageInput, SourceInput};
use crate::ports::model::Port;
use crate::sources::key::source_key;
use crate::sources::{debian_orig, lookaside};
use crate::sources::{FetchSettings, Origin, RecipeSource, SourceCache, SourceError, SourceStatus};
use crate::toolchains::constant_script::ScriptFormat;
use crate::toolchains::debian::procedure::DebianBuilderPaths;
use crate::toolchains::rpm::procedure::RpmBuilderPaths;
use crate::toolchains::{Job, Toolchain};

/// [`Toolchain::name`] of HaikuPorter, whose recipes' `SOURCE_URI`s are placed from the cache.
const HAIKUPORTER: &str = "haikuporter";

/// What the master knows about every build of a buildrun.
#[derive(Clone, Debug)]
pub struct InputSettings {
    /// The master's recipe tree (recipes are read from it): the HaikuPorts ports tree, or the Debian
    /// or RPM tree whose package directories are the jobs' targets.
    pub tree: PathBuf,
    /// `[ports] target_architecture`: the recipe is evaluated for it.
    pub target_arch: String,
    /// The state database (source index, manifests).
    pub database: PathBuf,
    /// A directory under the state directory for small inputs made on the master (the `.uri` files),
    /// kept by content so that two builds share one file.
    pub made_dir: PathBuf,
    /// The buildrun.
    pub buildrun: u64,
    /// The ports tree's revision, when it is a git checkout.
    pub tree_revision: Option<String>,
}

/// What the master needs to know about the builder a build was assigned to.
#[derive(Clone, Debug)]
pub struct BuilderSide {
    /// Its name.
    pub name: String,
    /// Its build tool.
    pub toolchain: Arc<dyn Toolchain>,
    /// Where sources (and stubbed dependencies) are streamed from; `None`: no storage configured.
    pub storage: Option<Arc<dyn StorageBackend>>,
    /// `network = "none"`: every source must come from the cache.
    pub offline: bool,
}

/// Makes and records the manifest of `req` (a build of `port` on `side`) and fills `req.inputs`.
pub async fn prepare(
    settings: &InputSettings,
    side: &BuilderSide,
    port: &Port,
    req: &mut BuildRequest,
) -> Result<JobManifest, BuilderError> {
    let fail = |message: String| BuilderError::JobInputs {
        builder: side.name.clone(),
        port: req.port.clone(),
        message,
    };
    let (tree, target, toolchain) = (settings.tree.clone(), req.port.clone(), side.toolchain.name());
    let (job_port, arch) = (port.clone(), settings.target_arch.clone());
    let sources =
        tokio::task::spawn_blocking(move || sources_for(toolchain, &tree, &target, &job_port, &arch))
            .await
            .map_err(|e| fail(format!("reading the recipe's sources: {e}")))?
            .map_err(|e| fail(e.to_string()))?;
    let mut source_inputs = Vec::new();
    for source in sources.iter().filter(|s| needs_placing(s)) {
        let Some((digest, size, fetched_from)) = cached(settings, side, source).await.map_err(&fail)? else {
            continue;
        };
        source_inputs.push(SourceInput {
            source_index: source.index.clone(),
            file_name: source.file_name.clone(),
            uri: source.uris.first().cloned().unwrap_or(fetched_from),
            sha256: digest.to_hex(),
            size,
            // Where the builder's toolchain wants it: see `for_builder`.
            placed_as: String::new(),
        });
    }
    let dependencies = req
        .dependencies
        .iter()
        .map(|d| PackageInput {
            file_name: d.file_name.clone(),
            sha256: d.sha256.to_hex(),
            size: d.size,
            placed_as: String::new(),
        })
        .collect();
    let inputs = JobInputs {
        port: req.port.clone(),
        recipe: port.recipe_path.to_string_lossy().into_owned(),
        tree_revision: settings.tree_revision.clone(),
        sources: source_inputs,
        dependencies,
        command: BuildCommand {
            argv: Vec::new(),
            work_dir: String::new(),
            env: BTreeMap::new(),
        },
    };
    let identity = BuildIdentity {
        buildrun: settings.buildrun,
        build_number: req.number,
        builder: side.name.clone(),
    };
    let manifest = for_builder(identity, inputs, side)
        .map_err(&fail)?
        .with_results(req.results.clone());
    ManifestStore::open(&settings.database)
        .and_then(|store| store.record(&manifest))
        .map_err(|e| fail(format!("recording the job manifest: {e}")))?;
    req.inputs = placed_inputs(&manifest, &settings.made_dir, side.toolchain.as_ref()).map_err(&fail)?;
    Ok(manifest)
}

/// The sources of the job `target` (HaikuPorter: `port`'s recipe, evaluated for `arch`; RPM: the
/// archives of `<tree>/<target>/sources` not in the tree; Debian: the `.orig` tarballs
/// `<tree>/<target>/debian/source/orig-checksums` pins). No URIs are needed here: only digests.
fn sources_for(
    toolchain: &str,
    tree: &Path,
    target: &str,
    port: &Port,
    arch: &str,
) -> Result<Vec<RecipeSource>, SourceError> {
    match toolchain {
        HAIKUPORTER => crate::sources::recipe::sources_of(tree, port, arch),
        RpmBuilderPaths::TOOLCHAIN_NAME => lookaside::rpm_sources(tree, target, None),
        DebianBuilderPaths::TOOLCHAIN_NAME => debian_orig::debian_sources(tree, target, None),
        _ => Ok(Vec::new()),
    }
}

/// The manifest of `inputs` as they are on `side`'s builder: every source and dependency placed
/// where its toolchain wants it, and its own build command — so a manifest recorded for one builder
/// can be rebuilt on another (its paths and tool differ; its inputs' digests do not).
pub fn for_builder(
    build: BuildIdentity,
    mut inputs: JobInputs,
    side: &BuilderSide,
) -> Result<JobManifest, String> {
    let job = Job { target: &inputs.port };
    let recipe_dir = Path::new(&inputs.recipe)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    for source in &mut inputs.sources {
        source.placed_as = side.toolchain.input_path(job, &recipe_dir, &source.file_name);
    }
    let visible = side.toolchain.dependencies().visible_dir;
    for package in &mut inputs.dependencies {
        package.placed_as = format!("{}/{}", visible.trim_end_matches('/'), package.file_name);
    }
    inputs.command = BuildCommand {
        argv: side.toolchain.build_argv(job),
        work_dir: side.toolchain.work_dir(job),
        // buildmaster sets no variable of its own: the build sees the builder's login environment
        // (SSH) or BUILD_ENV_PASSED (local), which is the builder's configuration, not the job's.
        env: BTreeMap::new(),
    };
    JobManifest::new(build, inputs).map_err(|e| e.to_string())
}

/// The files the builder checks before the build besides its dependencies (which the package cache
/// places): each source of `manifest`, streamed from its content key in storage, and — for
/// HaikuPorter, which downloads again without it — the `<file>.uri` beside it (made in `made_dir`).
pub fn placed_inputs(
    manifest: &JobManifest,
    made_dir: &Path,
    toolchain: &dyn Toolchain,
) -> Result<Vec<PlacedInput>, String> {
    let mut placed = Vec::new();
    for source in &manifest.inputs.sources {
        let sha256 = Sha256Digest::from_hex(&source.sha256)
            .ok_or_else(|| format!("source {} has no valid SHA-256", source.file_name))?;
        placed.push(PlacedInput {
            name: format!("source {} ({})", source.source_index, source.file_name),
            size: source.size,
            sha256,
            dest: source.placed_as.clone(),
            local: None,
            key: Some(source_key(&sha256).map_err(|e| e.to_string())?),
        });
        if toolchain.name() == HAIKUPORTER {
            placed.push(uri_file(made_dir, source)?);
        }
    }
    Ok(placed)
}

/// Whether a source is placed by the master: not a file of the port's directory (it comes with the
/// ports tree).
fn needs_placing(source: &RecipeSource) -> bool {
    !matches!(
        source.uris.first().map(|u| Origin::of(u)),
        Some(Origin::PortFile { .. })
    )
}

/// The digest, size and recorded origin of `source` in the cache; `None` when it is not there and
/// the builder may download it itself (HaikuPorter with the host's network); an error (naming the
/// source and what to do) when it must come from the cache.
async fn cached(
    settings: &InputSettings,
    side: &BuilderSide,
    source: &RecipeSource,
) -> Result<Option<(Sha256Digest, u64, String)>, String> {
    // Only HaikuPorter downloads for itself; rpmbuild and dpkg-buildpackage get theirs from us.
    let must_place = side.offline || side.toolchain.name() != HAIKUPORTER;
    let first = source.uris.first().map(String::as_str).unwrap_or("");
    let what = format!(
        "source {} ({}) of {}",
        source.index, source.file_name, source.port
    );
    if matches!(Origin::of(first), Origin::Git { .. }) {
        if side.offline {
            return Err(format!(
                "{what} is a git source ({first}); HaikuPorter expects a bare repository at \
                 download/{} for it, which the source cache (holding its archive) does not place yet: \
                 build it on a builder with network = \"host\"",
                source.file_name
            ));
        }
        return Ok(None);
    }
    let Some(storage) = &side.storage else {
        if must_place {
            return Err(format!(
                "{what} must come from the source cache (the builder has network = \"none\" or a \
                 build tool that never downloads), but no storage is configured; configure storage and \
                 run `buildmaster sources fetch {}`",
                source.port
            ));
        }
        return Ok(None);
    };
    let cache = SourceCache::new(
        storage.clone(),
        &settings.database,
        settings.made_dir.clone(),
        FetchSettings::default(),
    )
    .map_err(|e| e.to_string())?;
    match cache.status(source).await.map_err(|e| e.to_string())? {
        SourceStatus::Present(row) => {
            let digest = Sha256Digest::from_hex(&row.sha256)
                .ok_or_else(|| format!("{what}: the source index holds no valid SHA-256 ({})", row.sha256))?;
            Ok(Some((digest, row.size, row.uri)))
        }
        SourceStatus::Missing { expected } if must_place => Err(format!(
            "{what} is not in the source cache ({}); nothing on the builder may download it, so run \
             `buildmaster sources fetch {}` (or `sources add`) first",
            match (&expected, &source.sha512) {
                (Some(sha256), _) => format!("sha256 {sha256}"),
                (None, Some(sha512)) => format!("sha512 {sha512}"),
                (None, None) => "sha256 not known until fetched".to_owned(),
            },
            source.port
        )),
        SourceStatus::Missing { .. } => Ok(None),
    }
}

/// HaikuPorter's `<file>.uri` beside a placed source, holding the URI it came from (as
/// `storeStringInFile` writes it: no newline), made as a small local file named by its content.
fn uri_file(made_dir: &Path, source: &SourceInput) -> Result<PlacedInput, String> {
    let (uri, placed_as) = (&source.uri, &source.placed_as);
    let digest = Sha256Digest::of(uri.as_bytes());
    let path = made_dir.join(format!("uri-{}", digest.to_hex()));
    write_once(&path, uri.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(PlacedInput {
        name: format!("source {} ({}.uri)", source.source_index, source.file_name),
        size: uri.len() as u64,
        sha256: digest,
        dest: format!("{placed_as}.uri"),
        local: Some(path),
        key: None,
    })
}

/// Writes `bytes` to `path` unless it already holds them (through a temporary file and a rename, so
/// a concurrent reader never sees a partial file).
fn write_once(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|have| have == bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::builder_conf::BuilderConfValues;
    use crate::builders::config::{
        default_build_command, default_purge_command, BuilderPaths, BuilderSpec, Timeouts,
    };
    use crate::toolchains::haikuporter::HaikuPorter;

    fn side(ports: &str) -> BuilderSide {
        let spec = BuilderSpec {
            name: "b2".into(),
            ssh: None,
            paths: BuilderPaths::new(ports, None, None, None),
            haikuporter: "/hp/haikuporter".into(),
            haikuporter_args: Vec::new(),
            timeouts: Timeouts::default(),
            build_command: default_build_command(),
            purge_command: default_purge_command(),
            network: Default::default(),
        };
        BuilderSide {
            name: "b2".into(),
            toolchain: Arc::new(HaikuPorter::new(&spec, BuilderConfValues::default())),
            storage: None,
            offline: true,
        }
    }

    fn inputs(placed: &str) -> JobInputs {
        JobInputs {
            port: "foo-1.0".into(),
            recipe: "app-misc/foo/foo-1.0.recipe".into(),
            tree_revision: Some("0123".into()),
            sources: vec![SourceInput {
                source_index: "1".into(),
                file_name: "foo-1.0.tar.gz".into(),
                uri: "https://example.org/foo-1.0.tar.gz".into(),
                sha256: Sha256Digest::of(b"foo").to_hex(),
                size: 3,
                placed_as: placed.into(),
            }],
            dependencies: vec![PackageInput {
                file_name: "bar-2-1-x86_64.hpkg".into(),
                sha256: Sha256Digest::of(b"bar").to_hex(),
                size: 3,
                placed_as: placed.into(),
            }],
            command: BuildCommand {
                argv: vec!["elsewhere".into()],
                work_dir: "/old".into(),
                env: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn a_manifest_is_placed_for_the_builder_it_runs_on_with_the_same_digests() {
        let identity = BuildIdentity {
            buildrun: 1,
            build_number: 7,
            builder: "b1".into(),
        };
        let here = for_builder(identity, inputs("/b1/somewhere"), &side("/b2/ports")).unwrap();
        let i = &here.inputs;
        assert_eq!(
            i.sources[0].placed_as,
            "/b2/ports/app-misc/foo/download/foo-1.0.tar.gz"
        );
        assert_eq!(
            i.dependencies[0].placed_as,
            "/b2/ports/packages/bar-2-1-x86_64.hpkg"
        );
        assert_eq!(
            i.command.argv.first().map(String::as_str),
            Some("/hp/haikuporter")
        );
        assert_eq!(i.command.argv.last().map(String::as_str), Some("foo-1.0"));
        assert_eq!(i.sources[0].sha256, Sha256Digest::of(b"foo").to_hex());
        assert_eq!(here.digest().to_hex(), here.inputs_sha256);

        let made = tempfile::tempdir().unwrap();
        let placed = placed_inputs(&here, made.path(), side("/b2/ports").toolchain.as_ref()).unwrap();
        assert_eq!(placed.len(), 2, "the source and its .uri");
        assert_eq!(placed[0].dest, i.sources[0].placed_as);
        assert_eq!(
            placed[0].key.as_ref().map(|k| k.as_str().to_owned()),
            Some(format!("sources/sha256/{}", Sha256Digest::of(b"foo").to_hex()))
        );
        let uri = &placed[1];
        assert_eq!(uri.dest, format!("{}.uri", i.sources[0].placed_as));
        let bytes = std::fs::read(uri.local.as_ref().unwrap()).unwrap();
        assert_eq!(
            bytes, b"https://example.org/foo-1.0.tar.gz",
            "no newline, as HaikuPorter writes it"
        );
        assert_eq!(uri.sha256, Sha256Digest::of(&bytes));
    }
}
