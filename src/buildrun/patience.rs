//! How long a buildrun waits: between attempts of a build on a builder it failed on (backoff, so that
//! a full disk on the only builder does not burn every attempt in a second), and — for a one-shot
//! run — for a builder that can work at all (so that a changed host key ends the run with an error
//! instead of waiting forever). The daemon waits for builders indefinitely: it runs until stopped, and
//! a fixed builder is picked up by its re-probe.

use std::time::Duration;

/// Default delay before a build's second attempt on a builder it failed on; doubled for each further
/// attempt. Long enough for a transient condition (a full disk being cleaned, a reboot) to pass.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
/// Default longest delay between two attempts of a build on the same builder.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(5 * 60);
/// Default time a one-shot run waits with no builder able to work (none idle, none building) before
/// it stops: a dead host reaches this; a builder that needs an operator stops the run at once. Ten
/// minutes is one re-probe interval of a lost builder (`DEFAULT_REPROBE_LOST`).
pub const DEFAULT_BUILDER_WAIT: Duration = Duration::from_secs(10 * 60);

/// How a buildrun waits (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patience {
    /// Stop the run (resumable, with an error naming each builder and why) when no builder can work:
    /// every builder needs an operator, or none has been usable for `builder_wait`. `false` (the daemon)
    /// waits until a builder comes back. Default `false`.
    pub one_shot: bool,
    /// How long a one-shot run waits with no usable builder. Default [`DEFAULT_BUILDER_WAIT`].
    pub builder_wait: Duration,
    /// Delay before a build's next attempt on a builder it already failed on, doubled per attempt; a
    /// builder it has not failed on takes it at once. Default [`DEFAULT_RETRY_BASE`].
    pub retry_base: Duration,
    /// The longest such delay. Default [`DEFAULT_RETRY_MAX`].
    pub retry_max: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            one_shot: false,
            builder_wait: DEFAULT_BUILDER_WAIT,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }
}

impl Patience {
    /// The command line's: stop when no builder can work.
    pub fn one_shot() -> Self {
        Self {
            one_shot: true,
            ..Self::default()
        }
    }

    /// The delay after failed attempt `attempts` (1-based) before the build runs again on a builder it
    /// failed on: `retry_base · 2^(attempts-1)`, at most `retry_max`.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        self.retry_base.saturating_mul(1 << doublings).min(self.retry_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let p = Patience::default();
        assert_eq!(p.retry_delay(1), Duration::from_secs(30));
        assert_eq!(p.retry_delay(2), Duration::from_secs(60));
        assert_eq!(p.retry_delay(4), Duration::from_secs(240));
        assert_eq!(p.retry_delay(5), Duration::from_secs(300));
        assert_eq!(p.retry_delay(u32::MAX), Duration::from_secs(300));
    }
}
