//! Closing an instance's private files to other users when an older version (or a umask) left them
//! open. New files are created owner-only; files that already existed kept their modes, so an
//! instance that predates that kept a world-readable database and build logs. At the start of `serve`
//! and `buildrun`, the database and the output tree lose every permission bit for *others*; group bits
//! are left alone, because docs/security.md tells operators who serve the output tree through another
//! web server to grant that server's group read access deliberately.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::StateDir;

/// Removes others' permissions from the state database (and its `-wal`, `-shm`) and from everything
/// in the output tree; returns how many files and directories were changed, and logs a warning when
/// there were any.
/// Symbolic links are not followed. Errors are skipped: a file that cannot be changed is no worse
/// than before, and the run must not stop for it.
pub fn close_to_others(state: &StateDir) -> usize {
    let database = state.database();
    let mut changed = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.clone().into_os_string();
        name.push(suffix);
        changed += usize::from(close_one(Path::new(&name)));
    }
    let mut pending = vec![state.output()];
    while let Some(dir) = pending.pop() {
        changed += usize::from(close_one(&dir));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => changed += usize::from(close_one(&entry.path())),
                _ => {}
            }
        }
    }
    if changed > 0 {
        tracing::warn!(
            changed,
            state = %state.root().display(),
            "closed state files to other users (left readable by an older version or a umask; see docs/security.md)"
        );
    }
    changed
}

/// Clears others' bits of `path` (not following a symbolic link); whether it changed anything.
fn close_one(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() || mode & 0o007 == 0 {
        return false;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o007)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn others_lose_access_and_group_access_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let log = state.output().join("buildruns/1/builds/1.log");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(&log, "output").unwrap();
        std::fs::write(state.database(), "").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(state.database(), std::fs::Permissions::from_mode(0o664)).unwrap();
        std::fs::set_permissions(log.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();

        assert!(close_to_others(&state) >= 3);
        assert_eq!(mode(&log), 0o640);
        assert_eq!(mode(&state.database()), 0o660);
        assert_eq!(mode(log.parent().unwrap()), 0o750);
        assert_eq!(close_to_others(&state), 0, "a second pass changes nothing");
    }
}
