//! A git source as HaikuPorter's `SourceFetcherForGit` makes it: a bare clone, sanitised so that
//! no `.gitattributes` in the repository can change the export (`* -export-subst -export-ignore`
//! in `info/attributes`), then `git -c core.abbrev=no archive --format tar <revision>` with the
//! user's and system's git configuration ignored. That tar stream is what HaikuPorter's
//! `CHECKSUM_SHA256` of a git source is the digest of, so it is also what the cache stores.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::http::DownloadError;
use super::spool::SpoolFile;

/// How long a clone may take (large repositories over slow links take minutes).
pub const CLONE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Read size for the archive stream.
const CHUNK: usize = 256 * 1024;

/// Archives `revision` (`None`: the remote's `HEAD`) of `repository` into `spool`, working in a
/// private directory under `work_dir` that is removed afterwards.
pub async fn archive(
    repository: &str,
    revision: Option<&str>,
    work_dir: &Path,
    spool: &mut SpoolFile,
) -> Result<(), DownloadError> {
    let revision = revision.unwrap_or("HEAD");
    if revision.starts_with('-') || repository.starts_with('-') {
        return Err(DownloadError::Permanent(format!(
            "{repository}#{revision}: a repository or revision starting with '-' is not accepted"
        )));
    }
    let scratch = Scratch::create(work_dir).map_err(|e| {
        DownloadError::Permanent(format!("creating a directory in {}: {e}", work_dir.display()))
    })?;
    let bare = scratch.0.join("repo.git");
    let mut clone = git();
    clone
        .args(["clone", "--bare", "--quiet", "--"])
        .arg(repository)
        .arg(&bare);
    let output = tokio::time::timeout(CLONE_TIMEOUT, clone.output())
        .await
        .map_err(|_| {
            DownloadError::Transient(format!("git clone took more than {} s", CLONE_TIMEOUT.as_secs()))
        })?
        .map_err(|e| DownloadError::Permanent(format!("cannot run git (is it installed?): {e}")))?;
    if !output.status.success() {
        return Err(DownloadError::Transient(format!(
            "git clone failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let info = bare.join("info");
    std::fs::create_dir_all(&info)
        .and_then(|()| std::fs::write(info.join("attributes"), "* -export-subst -export-ignore\n"))
        .map_err(|e| DownloadError::Permanent(format!("sanitising the clone: {e}")))?;
    let mut child = git()
        .current_dir(&bare)
        .args(["-c", "core.abbrev=no", "archive", "--format", "tar", revision])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DownloadError::Permanent(format!("cannot run git archive: {e}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = stdout
            .read(&mut buffer)
            .await
            .map_err(|e| DownloadError::Transient(format!("reading git archive: {e}")))?;
        if n == 0 {
            break;
        }
        spool.write(&buffer[..n]).await?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| DownloadError::Transient(format!("waiting for git archive: {e}")))?;
    if !output.status.success() {
        return Err(DownloadError::Permanent(format!(
            "git archive {revision} failed (is the commit in the repository?): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// `git` with the user's and system's configuration ignored (as HaikuPorter's checksum does) and
/// no prompts for credentials.
fn git() -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    command
}

/// A private working directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn create(parent: &Path) -> std::io::Result<Scratch> {
        std::fs::create_dir_all(parent)?;
        let path = parent.join(format!(
            "git-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir(&path)?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
