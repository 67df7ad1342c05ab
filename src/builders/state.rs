//! Builder health as a state machine: available, busy, reconnecting (with backoff), lost (re-probed
//! periodically instead of being given up for the run, report §9.5). Time is passed in, so the logic is
//! tested without sleeping.

use std::time::{Duration, Instant};

use buildmaster_storage::RetryPolicy;

/// Default delay cap before the first reconnect attempt (HaikuPorter sleeps `5 + 1.2·n` s).
pub const DEFAULT_RECONNECT_BASE: Duration = Duration::from_secs(5);
/// Default longest delay between reconnect attempts.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(5 * 60);
/// Default consecutive connection failures after which a builder is lost.
pub const DEFAULT_LOST_AFTER: u32 = 10;
/// Default interval at which a lost builder is probed again.
pub const DEFAULT_REPROBE_LOST: Duration = Duration::from_secs(10 * 60);

/// What a builder can do right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuilderState {
    /// Connected and idle: can take a build.
    Available,
    /// Running a build.
    Busy,
    /// The connection failed; the next attempt is scheduled with backoff.
    Reconnecting,
    /// Too many consecutive failures; probed again at a long interval.
    Lost,
}

/// Reconnect timing.
#[derive(Clone, Debug)]
pub struct ReconnectPolicy {
    /// Delay cap before the first retry.
    pub base: Duration,
    /// Largest delay between retries.
    pub max: Duration,
    /// Consecutive failures after which the builder is lost.
    pub lost_after: u32,
    /// How often a lost builder is probed.
    pub reprobe_lost: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            base: DEFAULT_RECONNECT_BASE,
            max: DEFAULT_RECONNECT_MAX,
            lost_after: DEFAULT_LOST_AFTER,
            reprobe_lost: DEFAULT_REPROBE_LOST,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before retry `n` (1-based): the storage seam's exponential backoff with full jitter,
    /// so that builders lost together (a switch reboot) do not reconnect together.
    pub fn delay(&self, n: u32) -> Duration {
        RetryPolicy {
            attempts: self.lost_after,
            base_delay: self.base,
            max_delay: self.max,
        }
        .delay(n)
    }
}

/// A builder's health record.
#[derive(Clone, Debug)]
pub struct Health {
    /// Current state.
    pub state: BuilderState,
    /// Consecutive connection failures (reset by a successful connect).
    pub failures: u32,
    /// Consecutive infrastructure failures (setup, sync, cache) on a live connection; reset by a build
    /// that got past them. Too many make the builder lost like connection failures do.
    pub infrastructure_failures: u32,
    /// When the next connection attempt is due (reconnecting and lost only).
    pub next_attempt: Option<Instant>,
    /// The last failure, for status pages.
    pub last_error: Option<String>,
    /// Timing.
    pub policy: ReconnectPolicy,
}

impl Health {
    /// A builder not yet connected: due for a first attempt now.
    pub fn new(policy: ReconnectPolicy, now: Instant) -> Self {
        Self {
            state: BuilderState::Reconnecting,
            failures: 0,
            infrastructure_failures: 0,
            next_attempt: Some(now),
            last_error: None,
            policy,
        }
    }

    /// Whether a connection attempt is due.
    pub fn attempt_due(&self, now: Instant) -> bool {
        matches!(self.state, BuilderState::Reconnecting | BuilderState::Lost)
            && self.next_attempt.is_none_or(|t| now >= t)
    }

    /// A connection succeeded.
    pub fn connected(&mut self) {
        self.state = BuilderState::Available;
        self.failures = 0;
        self.next_attempt = None;
    }

    /// A build started / ended on a live connection.
    pub fn set_busy(&mut self, busy: bool) {
        self.state = if busy {
            BuilderState::Busy
        } else {
            BuilderState::Available
        };
    }

    /// A build got past setup, sync and cache on this builder (whatever the build's own outcome).
    pub fn infrastructure_ok(&mut self) {
        self.infrastructure_failures = 0;
    }

    /// Setup, sync or cache failed on a live connection: counts against the builder. Returns the new
    /// state (available again, or lost after too many in a row).
    pub fn infrastructure_failed(&mut self, reason: &str, now: Instant) -> BuilderState {
        self.infrastructure_failures += 1;
        self.last_error = Some(reason.to_string());
        if self.infrastructure_failures >= self.policy.lost_after {
            self.state = BuilderState::Lost;
            self.next_attempt = Some(now + self.policy.reprobe_lost);
        } else {
            self.state = BuilderState::Available;
        }
        self.state
    }

    /// The connection failed or was lost: the one place that decides reconnecting vs lost.
    pub fn connection_failed(&mut self, reason: &str, now: Instant) -> BuilderState {
        self.failures += 1;
        self.last_error = Some(reason.to_string());
        if self.failures >= self.policy.lost_after {
            self.state = BuilderState::Lost;
            self.next_attempt = Some(now + self.policy.reprobe_lost);
        } else {
            self.state = BuilderState::Reconnecting;
            self.next_attempt = Some(now + self.policy.delay(self.failures));
        }
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ReconnectPolicy {
        ReconnectPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(4),
            lost_after: 3,
            reprobe_lost: Duration::from_secs(60),
        }
    }

    #[test]
    fn failures_back_off_then_lose_then_reprobe_then_recover() {
        let t0 = Instant::now();
        let mut h = Health::new(policy(), t0);
        assert!(h.attempt_due(t0));
        assert_eq!(h.connection_failed("refused", t0), BuilderState::Reconnecting);
        assert!(h.next_attempt.unwrap() <= t0 + Duration::from_secs(1));
        assert_eq!(h.connection_failed("refused", t0), BuilderState::Reconnecting);
        assert_eq!(h.connection_failed("refused", t0), BuilderState::Lost);
        assert!(!h.attempt_due(t0 + Duration::from_secs(59)));
        assert!(h.attempt_due(t0 + Duration::from_secs(60)));
        h.connected();
        assert_eq!((h.state, h.failures), (BuilderState::Available, 0));
        assert_eq!(h.infrastructure_failed("sync", t0), BuilderState::Available);
        h.infrastructure_ok();
        assert_eq!(h.infrastructure_failed("sync", t0), BuilderState::Available);
        assert_eq!(h.infrastructure_failed("sync", t0), BuilderState::Available);
        assert_eq!(h.infrastructure_failed("sync", t0), BuilderState::Lost);
        h.connected();
        h.set_busy(true);
        assert_eq!(h.state, BuilderState::Busy);
        assert!(!h.attempt_due(t0));
    }
}
