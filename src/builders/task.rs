//! The one way `builders` starts background tasks: named, inside a tracing span, so that a stuck or
//! failing task can be told apart in logs and in `tokio-console`.

use std::future::Future;

use tracing::Instrument as _;

/// Spawns `future` as a task called `name`, with `builder` recorded on its span.
pub fn spawn_named<F>(name: &'static str, builder: &str, future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.instrument(tracing::info_span!("task", name, builder)))
}
