//! The scratch state directory `<state>/scratch/<N>/` and its record `scratch.json`.
//!
//! - `ports/`: a `git clone --shared` of the instance's ports tree, detached at the ref's commit (the
//!   instance's tree and its branches are left as they are);
//! - `state/`: a state directory for the buildrun code path: `buildmaster.sqlite` and
//!   `recipe-cache.sqlite` are snapshots (`VACUUM INTO`) of the instance's, `packages/` and
//!   `repository/` hold hard links of the instance's files — so planning sees the present packages
//!   the instance has and the builders get the same dependency set, while every write (buildrun
//!   rows, output tree, results) stays here;
//! - `scratch.json`: what [`ScratchRecord`] says (ref, commit, expiry, staged keys, verdict).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::ScratchError;
use crate::config::instance::InstanceConfig;
use crate::state::StateDir;

/// The file in a scratch directory that records it.
pub const RECORD_FILE: &str = "scratch.json";
/// The file under `<state>/scratch/` holding the next scratch build number.
const NEXT_ID_FILE: &str = "next-id";

/// What a scratch build is and what became of it (`scratch.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ScratchRecord {
    /// Its number (also the `pipeline` of the webhook's verdict).
    pub id: u64,
    /// The ref as asked for (`feature/foo`, a commit).
    pub reference: String,
    /// The commit the ref named when the build started.
    pub sha: String,
    /// Unix seconds of its start.
    pub created_at: i64,
    /// Unix seconds after which `prune` deletes it.
    pub expires_at: i64,
    /// Its pipeline in the gate's records (kind `scratch`), on a gated instance.
    #[serde(default)]
    pub pipeline: Option<i64>,
    /// Keys of its objects in the staging storage (`scratch/<N>/<file>`).
    #[serde(default)]
    pub staged: Vec<String>,
    /// `success`, `failure` or `error` once decided.
    #[serde(default)]
    pub verdict: Option<String>,
    /// One line on the verdict.
    #[serde(default)]
    pub description: String,
}

/// One scratch build's directory.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// `<state>/scratch/<N>`.
    pub root: PathBuf,
    /// Its record, as last saved.
    pub record: ScratchRecord,
}

/// `<state>/scratch`.
pub fn scratch_root(state: &StateDir) -> PathBuf {
    state.root().join("scratch")
}

fn fail(path: &Path, message: impl std::fmt::Display) -> ScratchError {
    ScratchError::Workspace {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Runs git with `args` in `dir`; its trimmed stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The commit `reference` names in `tree` (a branch, tag or commit of the same repository).
pub fn resolve_ref(tree: &Path, reference: &str) -> Result<String, ScratchError> {
    let bad = |message: String| ScratchError::Ref {
        reference: reference.to_string(),
        message,
    };
    // A ref starting with '-' would be read by git as an option.
    if reference.is_empty() || reference.starts_with('-') {
        return Err(bad("not a ref name".into()));
    }
    git(
        tree,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
    )
    .map_err(|e| {
        bad(if e.is_empty() {
            "no such commit in the ports tree".into()
        } else {
            e
        })
    })
}

impl Workspace {
    /// The clone of the ports tree.
    pub fn tree(&self) -> PathBuf {
        self.root.join("ports")
    }

    /// The state directory the buildrun code path runs in.
    pub fn state(&self) -> StateDir {
        StateDir::new(self.root.join("state"))
    }

    /// Loads the scratch build in `root`.
    pub fn load(root: &Path) -> Result<Workspace, ScratchError> {
        let path = root.join(RECORD_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| fail(&path, e))?;
        let record = serde_json::from_str(&text).map_err(|e| fail(&path, e))?;
        Ok(Workspace {
            root: root.to_path_buf(),
            record,
        })
    }

    /// Writes `scratch.json` (whole or not at all).
    pub fn save(&self) -> Result<(), ScratchError> {
        let path = self.root.join(RECORD_FILE);
        let temp = self.root.join(format!(".{RECORD_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(&self.record).map_err(|e| fail(&path, e))?;
        std::fs::write(&temp, text).map_err(|e| fail(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| fail(&path, e))
    }

    /// A new scratch directory for `reference` (already resolved to `sha`), prepared from the
    /// instance's state and tree.
    pub fn create(
        state: &StateDir,
        config: &InstanceConfig,
        reference: &str,
        sha: &str,
        now: i64,
        ttl_seconds: i64,
    ) -> Result<Workspace, ScratchError> {
        // The directory is created exclusively: two scratch builds starting at once that read the
        // same number from `next-id` do not share it (the loser takes the next).
        let (id, root) = loop {
            let id = next_id(&scratch_root(state))?;
            let root = scratch_root(state).join(id.to_string());
            match std::fs::create_dir(&root) {
                Ok(()) => break (id, root),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(fail(&root, e)),
            }
        };
        let ws = Workspace {
            root,
            record: ScratchRecord {
                id,
                reference: reference.to_string(),
                sha: sha.to_string(),
                created_at: now,
                expires_at: now.saturating_add(ttl_seconds),
                ..ScratchRecord::default()
            },
        };
        // Recorded first, so that prune finds (and can delete) a directory whose preparation failed.
        ws.save()?;
        ws.clone_tree(&config.ports_tree(state.root()), sha)?;
        ws.snapshot_state(state)?;
        Ok(ws)
    }

    fn clone_tree(&self, tree: &Path, sha: &str) -> Result<(), ScratchError> {
        let dest = self.tree();
        let dest_text = dest.to_string_lossy().into_owned();
        let tree_text = tree.to_string_lossy().into_owned();
        git(
            &self.root,
            &[
                "clone",
                "--quiet",
                "--shared",
                "--no-checkout",
                "--",
                &tree_text,
                &dest_text,
            ],
        )
        .map_err(|e| fail(&dest, format!("git clone: {e}")))?;
        git(&dest, &["checkout", "--quiet", "--detach", sha])
            .map_err(|e| fail(&dest, format!("git checkout: {e}")))?;
        // Builders that fetch (`ports_tree_sync = "fetch"`) fetch from the instance's origin.
        if let Ok(origin) = git(tree, &["remote", "get-url", "origin"]) {
            git(&dest, &["remote", "set-url", "origin", &origin])
                .map_err(|e| fail(&dest, format!("git remote set-url: {e}")))?;
        }
        Ok(())
    }

    fn snapshot_state(&self, real: &StateDir) -> Result<(), ScratchError> {
        let scratch = self.state();
        scratch.create().map_err(|e| fail(scratch.root(), e))?;
        snapshot_db(&real.database(), &scratch.database())?;
        // Keyed by recipe content: the unchanged recipes of the ref are not evaluated again.
        snapshot_db(&real.recipe_cache(), &scratch.recipe_cache())?;
        link_files(&real.packages(), &scratch.packages())?;
        link_files(&real.repository(), &scratch.repository())
    }
}

/// A consistent copy of the SQLite database `from` at `to` (`VACUUM INTO`, a read transaction: the
/// instance may write meanwhile); nothing when `from` does not exist yet.
fn snapshot_db(from: &Path, to: &Path) -> Result<(), ScratchError> {
    if !from.exists() {
        return Ok(());
    }
    let conn = rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail(from, e))?;
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy().as_ref()])
        .map_err(|e| fail(to, format!("snapshot of {}: {e}", from.display())))?;
    Ok(())
}

/// Hard-links every regular file of `from` into `to` (both are in the state directory, normally one
/// file system; symlinks across file systems). Results written to `to` later replace directory
/// entries, never the shared inodes.
fn link_files(from: &Path, to: &Path) -> Result<(), ScratchError> {
    std::fs::create_dir_all(to).map_err(|e| fail(to, e))?;
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| fail(from, e))?;
        if entry.file_type().map_err(|e| fail(&entry.path(), e))?.is_file() {
            let dest = to.join(entry.file_name());
            match std::fs::hard_link(entry.path(), &dest) {
                Ok(()) => {}
                // `packages/` may be a mount of its own: a symlink reads the same bytes (and a result
                // committed later replaces the link, not the instance's file).
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                    std::os::unix::fs::symlink(entry.path(), &dest).map_err(|e| fail(&dest, e))?
                }
                Err(e) => return Err(fail(&dest, e)),
            }
        }
    }
    Ok(())
}

/// Takes the next scratch build number (numbers are never reused, even after a prune).
fn next_id(dir: &Path) -> Result<u64, ScratchError> {
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let path = dir.join(NEXT_ID_FILE);
    let id = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(1);
    std::fs::write(&path, format!("{}\n", id + 1)).map_err(|e| fail(&path, e))?;
    Ok(id)
}

/// Every scratch build under `<state>/scratch/`, by number (directories without a readable record
/// are returned as errors for prune to report).
pub fn all(state: &StateDir) -> Vec<Result<Workspace, ScratchError>> {
    let mut out: Vec<(u64, Result<Workspace, ScratchError>)> = Vec::new();
    let Ok(entries) = std::fs::read_dir(scratch_root(state)) else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(n) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        out.push((n, Workspace::load(&entry.path())));
    }
    out.sort_by_key(|(n, _)| *n);
    out.into_iter().map(|(_, ws)| ws).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_never_reused_and_a_taken_directory_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("scratch");
        assert_eq!(next_id(&root).unwrap(), 1);
        assert_eq!(next_id(&root).unwrap(), 2);
        // A directory left by a build that raced for number 3: the next build takes 4.
        std::fs::create_dir_all(root.join("3")).unwrap();
        let state = StateDir::new(dir.path());
        let config: InstanceConfig = toml::from_str("").unwrap();
        // The ports tree does not exist: the clone fails, but only after the number was taken.
        let err = Workspace::create(&state, &config, "main", "0123", 0, 10).unwrap_err();
        assert!(err.to_string().contains("git clone"), "{err}");
        assert!(root.join("4").join(RECORD_FILE).is_file());
        let kept = all(&state);
        assert_eq!(kept.len(), 2, "3 has no record, 4 has");
        assert!(kept[0].is_err());
        assert_eq!(kept[1].as_ref().unwrap().record.expires_at, 10);
    }

    #[test]
    fn refs_that_git_would_read_as_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "--upload-pack=x", "-b"] {
            assert!(
                matches!(resolve_ref(dir.path(), bad), Err(ScratchError::Ref { .. })),
                "{bad:?}"
            );
        }
    }
}
