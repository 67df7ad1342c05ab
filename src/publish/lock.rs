//! The publish lock: one publish or prune at a time, per state directory and per bucket.
//!
//! Locally an exclusive `flock` on `<state>/publish.lock` (released by the kernel when the process
//! dies, so a crash never leaves it stuck). In the bucket an object `buildmaster.lock` naming the holder,
//! so that two masters pointed at the same bucket (a migration, a mistake) do not publish over each
//! other. S3 offers no portable compare-and-swap, so the bucket lock is advisory: it is written, read
//! back to confirm the holder, honoured until it expires (`lock_ttl`), and removed on release. A lock
//! left by a killed process is taken over after its expiry or immediately by the same host's state dir.
//!
//! Release reads the lock back before deleting it only once half its time to live has passed: before
//! that, nobody else can have taken it over — another instance waits for its expiry, and the same
//! state directory's instance would need the `flock` this holder keeps — so the read-back would only
//! cost a round trip on every push and publish. (An instance whose clock runs more than half the time
//! to live ahead of ours could take it early; the lock is advisory, and such a clock breaks its expiry
//! in any case.)

use std::fs::File;

use buildmaster_storage::{ErrorKind, PutOptions, StorageBackend};
use serde::{Deserialize, Serialize};

use super::{keys, now, PublishError};
use crate::state::StateDir;

/// Who holds the bucket lock.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockOwner {
    /// A random token identifying this holder.
    pub token: String,
    /// The state directory of the holder (identifies the instance).
    pub instance: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Unix seconds when taken.
    pub acquired_at: i64,
    /// Unix seconds after which the lock is considered abandoned.
    pub expires_at: i64,
}

/// A held publish lock; release it with [`PublishLock::release`].
pub struct PublishLock {
    _file: File,
    owner: LockOwner,
    /// Until when (half the time to live after it was confirmed, on the monotonic clock) nobody else
    /// can have taken the bucket lock over: release deletes it without reading it back.
    surely_ours_until: std::time::Instant,
}

impl PublishLock {
    /// Takes the local and the bucket lock, or explains who holds them.
    pub async fn acquire(
        state: &StateDir,
        storage: &dyn StorageBackend,
        ttl: std::time::Duration,
    ) -> Result<Self, PublishError> {
        let path = state.publish_lock();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| PublishError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(PublishError::Locked(format!(
                "another publish or prune is running on this state directory ({} is locked); wait for it to \
                     finish",
                path.display()
            )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(PublishError::io(&path, e)),
        }
        let instance = std::fs::canonicalize(state.root())
            .unwrap_or_else(|_| state.root().into())
            .display()
            .to_string();
        let key = keys::top(keys::LOCK);
        if let Some(existing) = read_owner(storage).await? {
            let ours = existing.instance == instance;
            if !ours && existing.expires_at > now() {
                return Err(PublishError::Locked(format!(
                    "the bucket is locked by another buildmaster instance ({}, pid {}) until {} (Unix time); \
                     if that instance is gone, remove the '{}' object with `buildmaster storage rm {}`",
                    existing.instance,
                    existing.pid,
                    existing.expires_at,
                    keys::LOCK,
                    keys::LOCK
                )));
            }
        }
        let owner = LockOwner {
            token: format!("{:032x}", fastrand::u128(..)),
            instance,
            pid: std::process::id(),
            acquired_at: now(),
            expires_at: now() + ttl.as_secs() as i64,
        };
        let body = serde_json::to_vec(&owner).map_err(|e| PublishError::Index(e.to_string()))?;
        storage
            .put_bytes(&key, &body, &PutOptions::index("application/json"))
            .await?;
        if read_owner(storage).await?.as_ref() != Some(&owner) {
            return Err(PublishError::Locked(
                "another buildmaster instance took the bucket lock at the same moment; try again".into(),
            ));
        }
        Ok(Self {
            _file: file,
            owner,
            surely_ours_until: std::time::Instant::now() + ttl / 2,
        })
    }

    /// Removes the bucket lock (if still ours) and drops the local one. Read back first only when it
    /// may have been taken over (see the module's documentation).
    pub async fn release(self, storage: &dyn StorageBackend) -> Result<(), PublishError> {
        if std::time::Instant::now() < self.surely_ours_until
            || read_owner(storage)
                .await?
                .is_some_and(|o| o.token == self.owner.token)
        {
            storage.delete(&keys::top(keys::LOCK)).await?;
        }
        Ok(())
    }
}

async fn read_owner(storage: &dyn StorageBackend) -> Result<Option<LockOwner>, PublishError> {
    match storage.get_bytes(&keys::top(keys::LOCK), 64 * 1024).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use buildmaster_storage_fs::FsBackend;

    use super::*;

    /// A state directory and a bucket, each in its own temporary directory.
    fn instance() -> (tempfile::TempDir, StateDir, FsBackend) {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.create().unwrap();
        let storage = FsBackend::new(dir.path().join("bucket")).unwrap();
        (dir, state, storage)
    }

    /// Replaces the bucket lock with one another instance wrote.
    async fn taken_over(storage: &FsBackend) {
        let foreign = LockOwner {
            token: "f".repeat(32),
            instance: "/elsewhere".into(),
            pid: 1,
            acquired_at: now(),
            expires_at: now() + 3600,
        };
        let body = serde_json::to_vec(&foreign).unwrap();
        storage
            .put_bytes(
                &keys::top(keys::LOCK),
                &body,
                &PutOptions::index("application/json"),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn release_removes_the_bucket_lock() {
        let (_dir, state, storage) = instance();
        let lock = PublishLock::acquire(&state, &storage, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(read_owner(&storage).await.unwrap().is_some());
        lock.release(&storage).await.unwrap();
        assert_eq!(read_owner(&storage).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_lock_past_half_its_time_is_read_back_and_another_holder_kept() {
        let (_dir, state, storage) = instance();
        // A time to live of zero: half of it has passed at once, as for a publish that ran long.
        let lock = PublishLock::acquire(&state, &storage, Duration::ZERO)
            .await
            .unwrap();
        taken_over(&storage).await;
        lock.release(&storage).await.unwrap();
        let kept = read_owner(&storage)
            .await
            .unwrap()
            .expect("the other holder's lock");
        assert_eq!(kept.instance, "/elsewhere");
    }

    #[tokio::test]
    async fn a_fresh_lock_is_released_without_reading_it_back() {
        let (_dir, state, storage) = instance();
        let lock = PublishLock::acquire(&state, &storage, Duration::from_secs(3600))
            .await
            .unwrap();
        // Not something another instance can do within the time to live (it waits for the expiry):
        // the object is deleted unread, which is what saves the round trip.
        taken_over(&storage).await;
        lock.release(&storage).await.unwrap();
        assert_eq!(read_owner(&storage).await.unwrap(), None);
    }
}
