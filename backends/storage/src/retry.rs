//! Retries with exponential backoff and full jitter: the only place in buildmaster that retries a
//! storage operation, so that every caller gets the same bounded behaviour and no layer multiplies
//! another's attempts.

use std::future::Future;
use std::time::Duration;

use crate::error::StorageError;

/// How often and how patiently to retry transient failures.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total attempts including the first. Default 5 (boto3's standard mode uses 3, HaikuPorter's
    /// downloads 5).
    pub attempts: u32,
    /// Delay cap before the first retry. Default 200 ms.
    pub base_delay: Duration,
    /// Largest delay between attempts. Default 5 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based): a uniformly random duration up to
    /// `min(max_delay, base_delay * 2^(retry-1))` ("full jitter", so that many clients that failed
    /// together do not come back together).
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or attempts run out. The last
    /// error is returned as is.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(err) if err.is_retryable() && attempt < self.attempts => {
                    let delay = self.delay(attempt);
                    tracing::warn!(%err, attempt, ?delay, "transient storage error, retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Operation};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let result = fast()
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(StorageError::new(
                        Operation::Get,
                        None,
                        ErrorKind::Transient,
                        "flaky",
                    ))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors_and_stops_after_attempts() {
        let calls = AtomicU32::new(0);
        let err = fast()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(StorageError::new(
                    Operation::Get,
                    None,
                    ErrorKind::Permanent,
                    "denied",
                ))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        fast()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(StorageError::new(
                    Operation::Get,
                    None,
                    ErrorKind::Transient,
                    "down",
                ))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn delays_are_capped() {
        let policy = RetryPolicy::default();
        for retry in 1..40 {
            assert!(policy.delay(retry) <= policy.max_delay);
        }
    }
}
