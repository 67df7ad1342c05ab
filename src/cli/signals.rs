//! SIGTERM and SIGINT as a cancellation: the long-running commands (`buildrun`, `serve`) stop cleanly
//! on either, leaving the buildrun resumable.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

/// Cancels `cancel` on the first SIGTERM or SIGINT, after calling `announce` with the signal's name.
pub fn cancel_on_stop_signals(
    cancel: CancellationToken,
    announce: impl FnOnce(&'static str) + Send + 'static,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    crate::builders::task::spawn_named("signals", "-", async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        announce(which);
        cancel.cancel();
    });
    Ok(())
}
