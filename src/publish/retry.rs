//! Riding out a storage outage: a publish that fails with a transient storage error (connection
//! refused, timeouts, 5xx — [`StorageError::is_retryable`](buildmaster_storage::StorageError)) is run
//! again from the start, with exponential backoff, until it succeeds or the retry window
//! ([`PublishSettings::retry_window`](super::PublishSettings::retry_window)) is spent.
//!
//! Running the whole publish again is safe because a publish converges: packages already stored and
//! verified are not uploaded again, stubs are only made after verification, the index goes last (see
//! `docs/publishing.md`, "Invariants"). The backend's own per-request retries (a few attempts within
//! seconds) stay below this: they cover a dropped request, this covers a server that is down.

use std::time::Duration;

use tokio::time::Instant;

use super::PublishError;

/// Default of [`PublishSettings::retry_window`](super::PublishSettings::retry_window): how long a
/// publish keeps retrying through a storage outage. A restart of an S3 server or a short network cut
/// fits; an outage longer than this fails the publish, and the next one (the daemon's next job, the
/// next cron run) picks the spool up again.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(10 * 60);
/// First delay between two publish attempts; doubled after each.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest delay between two publish attempts, so that storage coming back is noticed soon.
pub const RETRY_MAX: Duration = Duration::from_secs(15);

/// Whether running the publish again can help: only transient storage errors.
pub fn is_transient(err: &PublishError) -> bool {
    matches!(err, PublishError::Storage(e) if e.is_retryable())
}

/// The backoff schedule of one publish within its window.
#[derive(Debug)]
pub struct Backoff {
    /// When the window ends: no attempt starts after it. `None`: a window too long for the clock to
    /// represent (a configured `u64::MAX` seconds), which never ends.
    deadline: Option<Instant>,
    /// The next delay.
    next: Duration,
    /// Attempts failed so far.
    pub failures: u32,
}

impl Backoff {
    /// A schedule whose window starts now.
    pub fn new(window: Duration) -> Self {
        Self {
            deadline: Instant::now().checked_add(window),
            next: RETRY_BASE,
            failures: 0,
        }
    }

    /// After a failed attempt: the delay before the next one, or `None` when it would start after the
    /// window.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.failures += 1;
        let delay = self.next;
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() + delay > deadline)
        {
            return None;
        }
        self.next = (self.next * 2).min(RETRY_MAX);
        Some(delay)
    }
}

/// `err` as one sentence for status pages: a storage error without the transport's cause chain (the
/// backend appends it after `(<endpoint>): `; the log keeps the whole error).
pub fn one_sentence(err: &PublishError) -> String {
    match err {
        PublishError::Storage(e) => {
            let advice = e
                .message
                .split_once("): ")
                .map_or(e.message.as_str(), |(advice, _)| advice);
            let close = if advice.len() < e.message.len() { ")" } else { "" };
            let target = e.key.as_ref().map(|k| format!(" of {k}")).unwrap_or_default();
            let then = if e.is_retryable() {
                "; publishing is tried again with the next job"
            } else {
                ""
            };
            format!("storage {}{target} failed: {advice}{close}{then}", e.op)
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stop_at_the_window() {
        let mut b = Backoff::new(Duration::from_secs(3600));
        let delays: Vec<u64> = (0..6).map(|_| b.next_delay().unwrap().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 15, 15]);
        let mut none = Backoff::new(Duration::ZERO);
        assert_eq!(none.next_delay(), None);
        assert_eq!(none.failures, 1);
        // A window the clock cannot represent (the config allows any number of seconds) never ends.
        let mut forever = Backoff::new(Duration::from_secs(u64::MAX));
        assert!(forever.next_delay().is_some());
    }

    #[test]
    fn a_storage_error_becomes_one_sentence_without_the_cause_chain() {
        use buildmaster_storage::{ErrorKind, ObjectKey, Operation, StorageError};
        let key = ObjectKey::new("packages/a-1-1-x86_64.hpkg").unwrap();
        let err = PublishError::Storage(StorageError::new(
            Operation::Put,
            Some(&key),
            ErrorKind::Transient,
            "could not reach the S3 endpoint (connection refused, reset or timed out) (http://127.0.0.1:1, \
             bucket b): dispatch failure: io error: error trying to connect: tcp connect error",
        ));
        let sentence = one_sentence(&err);
        assert!(sentence.contains("packages/a-1-1-x86_64.hpkg"), "{sentence}");
        assert!(sentence.contains("could not reach the S3 endpoint"), "{sentence}");
        assert!(sentence.contains("tried again"), "{sentence}");
        assert!(!sentence.contains("dispatch failure"), "{sentence}");
        assert!(!sentence.contains('\n'), "{sentence}");
    }
}
