//! Prometheus metrics (`GET /metrics`, text exposition format).
//!
//! Two sources: the [`Metrics`] handle, which the executor and daemon update as things happen (bytes
//! transferred, build and publish durations), and the current buildrun's status.json, read at scrape time
//! for the gauges (queue length, builds and builders by state) so they are right even for a buildrun run by
//! another process. Names (documented in `docs/api.md`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `buildmaster_queue_length` | gauge | — (scheduled + blocked builds) |
//! | `buildmaster_builds` | gauge | `state` (each list of status.json) |
//! | `buildmaster_builders` | gauge | `state` (`active`, `idle`, `lost`) |
//! | `buildmaster_current_buildrun` | gauge | — |
//! | `buildmaster_transferred_bytes_total` | counter | `direction` |
//! | `buildmaster_build_duration_seconds` | histogram | `result` (`success`, `failure`) |
//! | `buildmaster_publish_duration_seconds` | histogram | `result` |

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use super::output::{BuildrunSummary, BUILDER_STATES, BUILD_STATES};

/// Build durations span a minute (a small library) to a day (a toolchain): buckets 30 s × 2^k.
const BUILD_BUCKETS: (f64, f64, u16) = (30.0, 2.0, 12);

/// Publishes take a second (nothing new) to an hour (a full upload): buckets 1 s × 2^k.
const PUBLISH_BUCKETS: (f64, f64, u16) = (1.0, 2.0, 13);

/// Which way bytes went.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Direction {
    /// Master → object storage (publishing packages and the index).
    Upload,
    /// Object storage → master (dependencies streamed for builders).
    Download,
    /// Master → builder (dependencies, ports tree).
    ToBuilder,
    /// Builder → master (built packages).
    FromBuilder,
}

/// How a build or publish ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed.
    Failure,
}

impl Direction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
            Self::ToBuilder => "to_builder",
            Self::FromBuilder => "from_builder",
        }
    }
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

type HistogramFamily = Family<ResultLabel, Histogram, fn() -> Histogram>;

/// The metrics handle: clone it into the executor and the daemon.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    queue_length: Gauge,
    builds: Family<StateLabel, Gauge>,
    builders: Family<StateLabel, Gauge>,
    current_buildrun: Gauge,
    transferred: Family<DirectionLabel, Counter>,
    build_duration: HistogramFamily,
    publish_duration: HistogramFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("buildmaster");
        let queue_length = Gauge::default();
        registry.register(
            "queue_length",
            "Builds waiting in the current buildrun (scheduled + blocked)",
            queue_length.clone(),
        );
        let builds = Family::<StateLabel, Gauge>::default();
        registry.register(
            "builds",
            "Builds of the current buildrun by state",
            builds.clone(),
        );
        let builders = Family::<StateLabel, Gauge>::default();
        registry.register("builders", "Builders by state", builders.clone());
        let current_buildrun = Gauge::default();
        registry.register(
            "current_buildrun",
            "Number of the current buildrun",
            current_buildrun.clone(),
        );
        let transferred = Family::<DirectionLabel, Counter>::default();
        registry.register_with_unit(
            "transferred",
            "Bytes transferred, by direction",
            Unit::Bytes,
            transferred.clone(),
        );
        let build_duration: HistogramFamily = Family::new_with_constructor(|| {
            let (start, factor, count) = BUILD_BUCKETS;
            Histogram::new(exponential_buckets(start, factor, count))
        });
        registry.register_with_unit(
            "build_duration",
            "Duration of finished builds",
            Unit::Seconds,
            build_duration.clone(),
        );
        let publish_duration: HistogramFamily = Family::new_with_constructor(|| {
            let (start, factor, count) = PUBLISH_BUCKETS;
            Histogram::new(exponential_buckets(start, factor, count))
        });
        registry.register_with_unit(
            "publish_duration",
            "Duration of publishes (upload, verify, index)",
            Unit::Seconds,
            publish_duration.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                queue_length,
                builds,
                builders,
                current_buildrun,
                transferred,
                build_duration,
                publish_duration,
            }),
        }
    }

    /// Counts `bytes` transferred in `direction`.
    pub fn add_transferred(&self, direction: Direction, bytes: u64) {
        self.inner
            .transferred
            .get_or_create(&DirectionLabel {
                direction: direction.as_str(),
            })
            .inc_by(bytes);
    }

    /// Records a finished build.
    pub fn observe_build(&self, duration: Duration, outcome: Outcome) {
        self.inner
            .build_duration
            .get_or_create(&ResultLabel {
                result: outcome.as_str(),
            })
            .observe(duration.as_secs_f64());
    }

    /// Records a finished publish.
    pub fn observe_publish(&self, duration: Duration, outcome: Outcome) {
        self.inner
            .publish_duration
            .get_or_create(&ResultLabel {
                result: outcome.as_str(),
            })
            .observe(duration.as_secs_f64());
    }

    /// Sets the gauges from the current buildrun (all zero without one). Every state is set, so a state
    /// that emptied reads 0 rather than its last value.
    pub fn set_current(&self, summary: Option<&BuildrunSummary>) {
        let inner = &self.inner;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for state in BUILD_STATES {
            let n = summary.map_or(0, |s| s.builds_in(state));
            inner
                .builds
                .get_or_create(&StateLabel { state: state.into() })
                .set(count(n));
        }
        for state in BUILDER_STATES {
            let n = summary.map_or(0, |s| s.builders_in(state));
            inner
                .builders
                .get_or_create(&StateLabel { state: state.into() })
                .set(count(n));
        }
        let queued = summary.map_or(0, |s| s.builds_in("scheduled") + s.builds_in("blocked"));
        inner.queue_length.set(count(queued));
        inner
            .current_buildrun
            .set(count(summary.map_or(0, |s| s.buildrun)));
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

/// The executor reports every attempt and transfer here (`buildmaster serve` passes the daemon's
/// metrics as the buildrun's observer).
impl crate::buildrun::observer::BuildObserver for Metrics {
    fn attempt_ended(&self, duration: Duration, end: crate::buildrun::observer::AttemptEnd) {
        let outcome = match end {
            crate::buildrun::observer::AttemptEnd::Success => Outcome::Success,
            crate::buildrun::observer::AttemptEnd::Failure => Outcome::Failure,
        };
        self.observe_build(duration, outcome);
    }

    fn transferred(&self, to_builder: u64, from_builder: u64) {
        self.add_transferred(Direction::ToBuilder, to_builder);
        self.add_transferred(Direction::FromBuilder, from_builder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_documented() {
        let metrics = Metrics::new();
        metrics.add_transferred(Direction::Upload, 1234);
        metrics.observe_build(Duration::from_secs(90), Outcome::Success);
        metrics.observe_publish(Duration::from_secs(3), Outcome::Failure);
        let status = serde_json::json!({
            "builds": {"scheduled": [{}, {}], "blocked": [{}], "active": [{}]},
            "builders": {"active": [{}], "idle": [{}, {}]},
        });
        metrics.set_current(Some(&BuildrunSummary::from_status(7, &status)));
        let text = metrics.encode();
        for line in [
            "buildmaster_queue_length 3",
            "buildmaster_builds{state=\"active\"} 1",
            "buildmaster_builds{state=\"failed\"} 0",
            "buildmaster_builders{state=\"idle\"} 2",
            "buildmaster_current_buildrun 7",
            "buildmaster_transferred_bytes_total{direction=\"upload\"} 1234",
            "buildmaster_build_duration_seconds_count{result=\"success\"} 1",
            "buildmaster_build_duration_seconds_sum{result=\"success\"} 90.0",
            "buildmaster_publish_duration_seconds_count{result=\"failure\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
