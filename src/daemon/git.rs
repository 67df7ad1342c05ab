//! The daemon's view of the ports tree's git checkout: its HEAD, and bringing it up to date
//! (`git pull --ff-only`, as HaikuPorter's loop does). Commands run as argument vectors with no
//! prompts; errors carry git's own message and the tree's path.

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// A git command failed.
#[derive(Debug, thiserror::Error)]
#[error("git {action} in {tree}: {message}")]
pub struct GitError {
    /// What was attempted.
    pub action: &'static str,
    /// The ports tree.
    pub tree: PathBuf,
    /// git's stderr, or why git could not run.
    pub message: String,
}

async fn git(tree: &Path, action: &'static str, args: &[&str]) -> Result<String, GitError> {
    let fail = |message: String| GitError {
        action,
        tree: tree.to_path_buf(),
        message,
    };
    let out = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|err| fail(format!("cannot run git: {err}")))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether `tree` is the top directory of its git checkout.
async fn is_checkout_root(tree: &Path) -> Result<bool, GitError> {
    let top = git(
        tree,
        "rev-parse --show-toplevel",
        &["rev-parse", "--show-toplevel"],
    )
    .await?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    Ok(same(Path::new(&top), tree))
}

/// The checked-out commit.
pub async fn head(tree: &Path) -> Result<String, GitError> {
    git(tree, "rev-parse HEAD", &["rev-parse", "--verify", "HEAD"]).await
}

/// Fast-forwards the checkout from its upstream when it has one. Left as it is: a tree without a remote
/// (a tree an operator manages by hand), and a tree that is only a directory inside some other
/// repository (the example tree inside the buildmaster checkout) — pulling there would move that other
/// repository, not the ports tree.
pub async fn pull(tree: &Path) -> Result<(), GitError> {
    if !is_checkout_root(tree).await? {
        tracing::debug!(tree = %tree.display(), "not the root of a git checkout: not pulled");
        return Ok(());
    }
    let remotes = git(tree, "remote", &["remote"]).await?;
    if remotes.is_empty() {
        return Ok(());
    }
    git(tree, "pull --ff-only", &["pull", "--ff-only", "--quiet"])
        .await
        .map(|_| ())
}
