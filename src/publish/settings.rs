//! Publishing tunables (defaults, or `buildmaster.toml`'s `[publish]` section), and the optional
//! progress hook a front end passes in.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::progress::PublishProgress;
use crate::config::instance::{InstanceConfig, PublishSection};
use crate::gate::buildrun::{GateConfigError, HaikuPortsGate};

/// How publishing and pruning behave.
#[derive(Clone, Debug)]
pub struct PublishSettings {
    /// An object stays in `packages/` while any index published within this period named it. Clients
    /// that fetched an older index can still download what it names. Default: 24 h.
    pub grace: Duration,
    /// How long pruned objects stay in `packages/.obsolete/` before they are deleted. Default: 30 days.
    pub obsolete_retention: Duration,
    /// The largest share of `packages/` one prune run may move without `--force`. Default: 0.10.
    pub max_prune_share: f64,
    /// How long a bucket lock is honoured before it is considered abandoned. Default: 1 h.
    pub lock_ttl: Duration,
    /// The largest share of the published index's package names one publish may withdraw (see
    /// [`PublishSettings::max_index_drop`]); more is refused as a likely accident. Default: 0.10.
    pub max_index_shrink_share: f64,
    /// Publish even an index that loses more packages than that (`publish --allow-shrink`). Default: false.
    pub allow_shrink: bool,
    /// Told how uploads advance (`buildmaster publish` draws bars from it on a terminal). Default: none.
    pub progress: Option<Arc<dyn PublishProgress>>,
    /// How long a publish keeps retrying (with backoff) through transient storage errors before it
    /// fails; zero fails at the first one. Default: 10 min ([`super::retry::DEFAULT_RETRY_WINDOW`]),
    /// or `[publish] retry_window` ([`PublishSettings::from_config`]).
    pub retry_window: Duration,
    /// The HaikuPorts repository's gate: new packages are staged and promoted only once their checks
    /// pass ([`crate::gate::haikuports_publish`]). Default: none, packages are published as they are
    /// built; set by [`PublishSettings::for_instance`] when the config has `[gate]` and
    /// `[publish.policy]`.
    pub gate: Option<Arc<HaikuPortsGate>>,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(24 * 3600),
            obsolete_retention: Duration::from_secs(30 * 24 * 3600),
            max_prune_share: 0.10,
            lock_ttl: Duration::from_secs(3600),
            max_index_shrink_share: 0.10,
            allow_shrink: false,
            progress: None,
            retry_window: super::retry::DEFAULT_RETRY_WINDOW,
            gate: None,
        }
    }
}

impl PublishSettings {
    /// The settings `buildmaster.toml`'s `[publish]` section asks for, every other one at its default:
    /// where every front end that publishes should start, so that they all publish alike.
    pub fn from_config(section: &PublishSection) -> Self {
        Self {
            retry_window: section.retry_window(),
            ..Self::default()
        }
    }

    /// [`PublishSettings::from_config`] with the gate `config` describes for the instance in
    /// `state_root` (its staging storage opened now), publishing on behalf of `who` (`cli:<user>`,
    /// `daemon`): what every front end that publishes the HaikuPorts repository starts from.
    pub async fn for_instance(
        config: &InstanceConfig,
        state_root: &Path,
        who: &str,
    ) -> Result<Self, GateConfigError> {
        Ok(Self {
            gate: HaikuPortsGate::open(config, state_root, who).await?.map(Arc::new),
            ..Self::from_config(&config.publish)
        })
    }

    /// How many package names an index of `published` packages may lose in one publish: the
    /// configured share, but at least one, so withdrawing a single package (deleting its stub) from
    /// a small repository needs no override.
    pub fn max_index_drop(&self, published: usize) -> usize {
        ((published as f64 * self.max_index_shrink_share).floor() as usize).max(1)
    }
}
