//! Where a publish spends its time: wall-clock durations of its phases, in order, reported with the
//! publish so that `bench/publish` can show them and a debug log can name a slow phase.

use std::time::{Duration, Instant};

/// One phase of a publish and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTime {
    /// What the phase did ("ingest", "uploads", …).
    pub phase: &'static str,
    /// Wall-clock time from the end of the previous phase.
    pub elapsed: Duration,
}

/// Measures consecutive phases: each [`PhaseClock::mark`] ends one.
#[derive(Debug)]
pub struct PhaseClock {
    /// When the current phase began.
    since: Instant,
    /// The phases ended so far.
    phases: Vec<PhaseTime>,
}

impl PhaseClock {
    /// Starts the first phase now.
    pub fn start() -> Self {
        Self {
            since: Instant::now(),
            phases: Vec::new(),
        }
    }

    /// Ends the current phase, calling it `phase`, and starts the next.
    pub fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        let elapsed = now - self.since;
        tracing::debug!(
            phase,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "publish phase done"
        );
        self.phases.push(PhaseTime { phase, elapsed });
        self.since = now;
    }

    /// The phases ended so far, in order.
    pub fn into_phases(self) -> Vec<PhaseTime> {
        self.phases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_kept_in_order_and_add_up() {
        let started = Instant::now();
        let mut clock = PhaseClock::start();
        std::thread::sleep(Duration::from_millis(2));
        clock.mark("first");
        clock.mark("second");
        let phases = clock.into_phases();
        assert_eq!(
            phases.iter().map(|p| p.phase).collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert!(phases[0].elapsed >= Duration::from_millis(2));
        assert!(phases.iter().map(|p| p.elapsed).sum::<Duration>() <= started.elapsed());
    }
}
