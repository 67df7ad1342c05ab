//! One buildrun at a time per state directory: an exclusive `flock` on `<state>/buildrun.lock`, held
//! while a buildrun is created, resumed or run. Two processes resuming the same buildrun would hand the
//! same builds to builders twice; the kernel releases the lock when its holder dies (even by SIGKILL),
//! so a crash never leaves it stuck.

use std::fs::File;
use std::io::Write as _;

use super::BuildrunError;
use crate::state::StateDir;

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock, or says who holds it.
    pub fn acquire(state: &StateDir) -> Result<Self, BuildrunError> {
        let path = state.root().join("buildrun.lock");
        let io = |e: std::io::Error| {
            BuildrunError::Output(std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(BuildrunError::Busy(format!(
                    "another buildmaster (pid {}) is running a buildrun on this state directory ({} is \
                     locked); wait for it, or stop it — its buildrun stays resumable",
                    holder.trim(),
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // The pid is only for the message above; the lock itself is the flock.
        file.set_len(0).map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let first = RunLock::acquire(&state).unwrap();
        let err = RunLock::acquire(&state).unwrap_err();
        assert!(err.to_string().contains(&std::process::id().to_string()), "{err}");
        drop(first);
        RunLock::acquire(&state).unwrap();
    }
}
