//! The executor waiting: for a build's backoff to end before it runs again on a builder it failed on,
//! and — in a one-shot run — for a builder that can work at all, giving up (resumably, naming every
//! builder and its error) when every builder needs an operator or none was usable for
//! [`Patience::builder_wait`](super::patience::Patience::builder_wait).

use tokio::time::Instant;

use super::executor::Executor;

impl Executor<'_> {
    /// When the executor must look again without an event: the earliest end of a waiting build's
    /// backoff, or the end of a one-shot run's wait for builders.
    pub(super) fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let retry = self
            .ready
            .iter()
            .filter_map(|&i| self.retry_at[i])
            .filter(|&at| at > now)
            .min();
        let give_up = self
            .no_builder_since
            .filter(|_| self.p.patience.one_shot && !self.cancelling)
            .map(|since| since + self.p.patience.builder_wait);
        retry.into_iter().chain(give_up).min()
    }

    /// Whether a build still waits for its backoff (for the status text).
    pub(super) fn backing_off(&self, now: Instant) -> bool {
        !self.ready.is_empty()
            && self
                .ready
                .iter()
                .all(|&i| self.retry_at[i].is_some_and(|at| at > now))
    }

    /// Notes when no builder can work while builds wait, and stops a one-shot run that cannot go on.
    pub(super) fn check_builders(&mut self, now: Instant) {
        let usable = self.active_count() > 0 || self.idle.iter().any(|&i| i);
        if usable || self.ready.is_empty() || self.cancelling {
            self.no_builder_since = None;
            return;
        }
        let since = *self.no_builder_since.get_or_insert(now);
        if !self.p.patience.one_shot {
            return;
        }
        let all_need_operator = self
            .unavailable
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.needs_operator));
        let waited = now.saturating_duration_since(since);
        let why = if all_need_operator {
            "no builder can work until an operator fixes it".to_string()
        } else if waited >= self.p.patience.builder_wait {
            format!("no builder could work for {} s", waited.as_secs())
        } else {
            return;
        };
        self.give_up(why);
    }

    /// Stops the run, resumable, with every builder's last error in the reason.
    fn give_up(&mut self, why: String) {
        let builders: Vec<String> = (0..self.p.builders.len())
            .map(|b| {
                let name = self.p.builders[b].name();
                let error = self.unavailable[b]
                    .as_ref()
                    .and_then(|s| s.last_error.clone())
                    .unwrap_or_else(|| "not connected yet".into());
                format!("builder {name}: {error}")
            })
            .collect();
        let reason = format!("{why}; {}", builders.join("; "));
        self.output.master(&format!(
            "stopping: {reason}; the buildrun stays resumable: fix the builders and run `buildmaster \
             buildrun` again"
        ));
        self.stalled = Some(reason);
        self.cancelling = true;
    }
}
