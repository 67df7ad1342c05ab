//! Crash points: named places in the publishing pipeline where the crash-consistency tests kill the
//! process, to prove that a rerun converges to the invariants from any of them.
//!
//! `BUILDMASTER_CRASH_AT=<name>` (or `<name>#<n>` for the n-th time the point is reached) makes the
//! process SIGKILL itself there — the same as an operator's `kill -9` or an OOM kill: no destructors,
//! no flushing. Unset (always, in production), a crash point costs one relaxed atomic load.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Environment variable naming the crash point.
pub const CRASH_AT_ENV: &str = "BUILDMASTER_CRASH_AT";

fn target() -> &'static Option<(String, u32)> {
    static TARGET: OnceLock<Option<(String, u32)>> = OnceLock::new();
    TARGET.get_or_init(|| {
        let raw = std::env::var(CRASH_AT_ENV).ok()?;
        match raw.split_once('#') {
            Some((name, n)) => Some((name.to_owned(), n.parse().unwrap_or(1))),
            None => Some((raw, 1)),
        }
    })
}

/// Marks a crash point; kills the process if it is the configured one.
pub fn crash_point(name: &str) {
    let Some((wanted, nth)) = target() else { return };
    if wanted != name {
        return;
    }
    static HITS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    let mut hits = HITS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let count = hits.entry(name.to_owned()).or_insert(0);
    *count += 1;
    if *count == *nth {
        eprintln!("buildmaster: crash point {name}#{nth} reached, killing the process");
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
