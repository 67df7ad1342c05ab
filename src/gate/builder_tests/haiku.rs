//! HaikuPorter's `TEST()` for the HaikuPorts repository's gate (`[publish.policy.test] on =
//! "builder"`). HaikuPorter is the contract: `haikuporter --test PORT` (`Main._buildPort` →
//! `_testPort` → `Port.test`) runs the recipe's `TEST()` in the port's build environment, with its
//! build requirements active, against what the port's *build* made — after building it when the
//! work directory holds no finished build. It never installs a published `.hpkg`. So the test of a
//! built package here is the **recorded build job again, with `--test`**: the package's job manifest
//! (the build that produced its file) rebuilt through [`crate::buildrun::rebuild`] — the same
//! builder flow, the same dependencies by digest, the same ports tree revision — on a configured
//! builder whose build tool gets HaikuPorter's `--test`. Exit 0 passes; `TEST()` failing ends the
//! build with HaikuPorter's "Test has failed - stopping." and fails the check with the build's log.
//! The rebuilt packages are thrown away: what is promoted is always the staged bytes. A build that
//! made several packages (`libfoo` and `libfoo_devel`) is run again once; its verdict is every one's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use buildmaster_storage::StorageBackend;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{could_not_run, BuilderTest};
use crate::builders::build::ResultDirs;
use crate::builders::exec::Stream;
use crate::builders::remote::RemoteBuilder;
use crate::builders::state::ReconnectPolicy;
use crate::buildrun::rebuild::{rebuild, Rebuild};
use crate::config::instance::InstanceConfig;
use crate::formats::InspectedPackage;
use crate::gate::command_check::{CommandOutcome, MAX_LOG_BYTES};
use crate::gate::policy::Policy;
use crate::manifest::store::ManifestStore;
use crate::state::StateDir;

/// HaikuPorter's option that runs `TEST()` after the build.
pub const TEST_OPTION: &str = "--test";

/// The instance a Haiku test rebuilds in. Compared by state directory.
#[derive(Clone, Debug)]
pub struct HaikuBinding(Arc<Bound>);

/// What a binding holds.
struct Bound {
    /// The instance's state (database, spool).
    state: StateDir,
    /// Its configuration (builders, ports tree).
    config: InstanceConfig,
    /// HaikuPorter's builders directory the instance builds with, when not `[[builders]]` and not
    /// `<state>/builders` (a scratch build's state directory has none: it builds on the instance's).
    builders_dir: Option<PathBuf>,
    /// The publisher's storage: dependencies whose spool file is a stub, and the source cache, are
    /// read from it ([`use_storage`]); unset, only real spool files can be placed.
    storage: OnceLock<Arc<dyn StorageBackend>>,
    /// Verdicts of the builds run again so far, by (buildrun, build number).
    outcomes: Mutex<HashMap<(u64, u64), CommandOutcome>>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("state", &self.state.root())
            .field("storage", &self.storage.get().map(|s| s.describe()))
            .finish()
    }
}

impl PartialEq for HaikuBinding {
    fn eq(&self, other: &Self) -> bool {
        self.0.state.root() == other.0.state.root()
    }
}

impl Eq for HaikuBinding {}

/// `policy` (`[publish.policy]`) with its test on a builder bound to the instance in `state_root`.
pub fn bind(policy: Policy, config: &InstanceConfig, state_root: &Path) -> Policy {
    bind_in(policy, config, state_root, None)
}

/// [`bind`] for builds recorded in `state_root` but run on the builders of `builders_dir` (a
/// scratch build's state directory, whose builders are the instance's).
pub fn bind_in(
    mut policy: Policy,
    config: &InstanceConfig,
    state_root: &Path,
    builders_dir: Option<PathBuf>,
) -> Policy {
    if let Some(test) = policy.test.as_mut().and_then(|t| t.on_builder.as_mut()) {
        test.haiku = Some(HaikuBinding(Arc::new(Bound {
            state: StateDir::new(state_root),
            config: config.clone(),
            builders_dir,
            storage: OnceLock::new(),
            outcomes: Mutex::new(HashMap::new()),
        })));
    }
    policy
}

/// Gives `policy`'s Haiku test the publisher's `storage` (the first one given stays).
pub fn use_storage(policy: &Policy, storage: &Arc<dyn StorageBackend>) {
    if let Some(HaikuBinding(bound)) = policy
        .test
        .as_ref()
        .and_then(|t| t.on_builder.as_ref())
        .and_then(|t| t.haiku.as_ref())
    {
        let _ = bound.storage.set(storage.clone());
    }
}

/// Runs `package`'s recipe's `TEST()` as the module says.
pub async fn run(test: &BuilderTest, timeout: Duration, package: &InspectedPackage) -> CommandOutcome {
    let Some(HaikuBinding(bound)) = &test.haiku else {
        return could_not_run(
            "tests on a builder for Haiku packages run in the HaikuPorts repository's gate ([publish.policy.test])"
                .into(),
        );
    };
    let (state, config, builders_dir) = (&bound.state, &bound.config, bound.builders_dir.as_deref());
    let database = state.database();
    let file_name = package.file_name.clone();
    let found = tokio::task::spawn_blocking(move || {
        ManifestStore::open(&database).and_then(|store| store.find_by_result(&file_name))
    })
    .await;
    let manifest = match found {
        Ok(Ok(Some(manifest))) => manifest,
        Ok(Ok(None)) => {
            return could_not_run(format!(
                "no recorded build made {}: HaikuPorter's TEST() runs with the port's build, and there is \
                 no job manifest to run it again from",
                package.file_name
            ))
        }
        Ok(Err(e)) => return could_not_run(e.to_string()),
        Err(e) => return could_not_run(format!("reading the job manifests: {e}")),
    };
    let build = (manifest.build.buildrun, manifest.build.build_number);
    if let Some(done) = bound.outcomes.lock().ok().and_then(|o| o.get(&build).cloned()) {
        return done;
    }
    let config = with_test_option(config);
    let builder = match builder_name(test, state, &config, builders_dir) {
        Ok(name) => name,
        Err(why) => return could_not_run(why),
    };
    let out = scratch_dir(state, &package.file_name);
    let request = Rebuild {
        state,
        config: &config,
        builders_dir,
        storage: bound.storage.get().cloned(),
        builder: &builder,
        out: &out,
    };
    let mut log = Vec::new();
    let mut sink = |_: Stream, data: &[u8]| {
        let room = (MAX_LOG_BYTES + 4).saturating_sub(log.len());
        log.extend_from_slice(&data[..data.len().min(room)]);
    };
    let cancel = CancellationToken::new();
    let what = format!(
        "{} (build {} of buildrun {}) again with {TEST_OPTION} on builder {builder}",
        manifest.inputs.port, manifest.build.build_number, manifest.build.buildrun
    );
    let ran = tokio::time::timeout(timeout, rebuild(&request, &manifest, &mut sink, &cancel)).await;
    cancel.cancel();
    if let Err(e) = forget_rebuilt(state, &config, builders_dir, &builder, &manifest.results).await {
        tracing::warn!(builder, %e, "the packages a gate test rebuilt may still be in the builder's cache");
    }
    let _ = std::fs::remove_dir_all(&out);
    let log = crate::bounded_text::shortened(&String::from_utf8_lossy(&log), MAX_LOG_BYTES);
    let (passed, summary) = match ran {
        Ok(Ok(_)) => (true, format!("TEST() passed: {what}")),
        Ok(Err(e)) => (false, format!("TEST() failed: {what}: {e}")),
        Err(_) => (
            false,
            format!("{what} did not finish within {} s", timeout.as_secs()),
        ),
    };
    let outcome = CommandOutcome { passed, summary, log };
    if let Ok(mut outcomes) = bound.outcomes.lock() {
        outcomes.insert(build, outcome.clone());
    }
    outcome
}

/// `config` with HaikuPorter's `--test` given to every builder's build tool (`[[builders]]` and the
/// default local builder).
fn with_test_option(config: &InstanceConfig) -> InstanceConfig {
    let mut config = config.clone();
    for builder in &mut config.builders {
        builder.haikuporter.args = format!("{} {TEST_OPTION}", builder.haikuporter.args);
    }
    config.buildrun.local_haikuporter_args =
        format!("{} {TEST_OPTION}", config.buildrun.local_haikuporter_args);
    config
}

/// The builder named by the policy, else the first the instance builds on.
fn builder_name(
    test: &BuilderTest,
    state: &StateDir,
    config: &InstanceConfig,
    builders_dir: Option<&Path>,
) -> Result<String, String> {
    if let Some(name) = &test.builder {
        return Ok(name.clone());
    }
    let specs =
        crate::buildrun::fleet::builder_specs(state, config, builders_dir).map_err(|e| e.to_string())?;
    specs
        .first()
        .map(|s| s.name.clone())
        .ok_or_else(|| "the instance has no builder to run the test on".into())
}

/// Removes what the test's build made from `builder`'s package cache. The builder flow keeps a
/// build's verified results there for later builds to use; these are a second build's, not the
/// bytes the repository has (a `.hpkg` is not byte-identical on rebuild), so a later build must be
/// sent the repository's own instead.
async fn forget_rebuilt(
    state: &StateDir,
    config: &InstanceConfig,
    builders_dir: Option<&Path>,
    builder: &str,
    results: &[String],
) -> Result<(), String> {
    let specs =
        crate::buildrun::fleet::builder_specs(state, config, builders_dir).map_err(|e| e.to_string())?;
    let spec = specs
        .into_iter()
        .find(|s| s.name == builder)
        .ok_or_else(|| format!("no builder {builder}"))?;
    let unused = scratch_dir(state, "forget");
    let dirs = ResultDirs {
        staging: unused.clone(),
        commit: unused,
    };
    let conf = crate::buildrun::fleet::conf_values(config);
    let mut remote = RemoteBuilder::new(spec, None, conf, dirs, ReconnectPolicy::default());
    remote.connect().await.map_err(|e| e.to_string())?;
    let cache_dir = remote.toolchain().dependencies().cache_dir;
    let removed = match remote.host_and_listing() {
        Some((host, listing)) => {
            let mut outcome = Ok(());
            for name in results {
                if let Err(e) = host.remove(&format!("{cache_dir}/{name}")).await {
                    outcome = Err(e.to_string());
                }
                listing.packages.remove(name);
            }
            outcome
        }
        None => Err("not connected".into()),
    };
    remote.disconnect().await;
    removed
}

/// A fresh directory for the rebuild's results (thrown away after).
fn scratch_dir(state: &StateDir, file_name: &str) -> PathBuf {
    state.root().join("gate-tests").join(format!(
        "{file_name}-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ))
}
