//! Bringing the builder's ports tree to the master's revision.
//!
//! Builders may have no network (walled gardens are normal), and git over the builder's own SSH
//! connection back to the master is not available, so there are two ways, chosen per builder:
//! - [`PortsTreeSync::Fetch`]: the builder has network; `git fetch` from its `origin` and check out the
//!   revision (what HaikuPorter does).
//! - [`PortsTreeSync::Bundle`]: the master writes a `git bundle` of the revision — incremental from the
//!   builder's current commit when the master has it, whole otherwise — sends it over SFTP, and the
//!   builder fetches from (or clones) the bundle file. Only git is needed on the builder, no network.
//!
//! Either way the checkout is forced and detached at the exact commit, so local edits on the builder
//! cannot leak into a build.
//!
//! A shallow master (a `--depth=1` clone) works too. Its bundle holds the boundary commits without
//! their parents, and git on the builder refuses such a pack ("did not send all necessary objects")
//! unless it knows those commits are shallow there as well; so the master's shallow boundary
//! (`$GIT_DIR/shallow`, one commit id per line) is merged into the builder's before it fetches — what
//! `git fetch --depth` itself records. Commit ids stay the master's, so the checkout is exact.

use std::path::{Path, PathBuf};

use super::error::BuilderError;
use super::exec::ExecLimits;
use super::host::{run_capture, run_checked, BuilderHost};
use super::sftp::Expected;

/// Largest `shallow` file we read from a builder: one 41-byte line per boundary commit; a ports tree
/// has a handful (one per shallow fetch).
const SHALLOW_FILE_LIMIT: u64 = 1024 * 1024;
use buildmaster_storage::Sha256Digest;

/// How to bring the ports tree up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortsTreeSync {
    /// Leave the builder's tree as it is.
    Skip,
    /// `git fetch` from the builder's `origin`, then check out `revision`.
    Fetch {
        /// Commit to check out.
        revision: String,
    },
    /// Send a bundle made from the master's checkout `repo`, then check out `revision`.
    Bundle {
        /// The master's ports tree checkout.
        repo: PathBuf,
        /// Commit to check out.
        revision: String,
    },
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Runs git on the master; returns its trimmed standard output.
async fn local_git(repo: &Path, args: &[&str]) -> Result<String, BuilderError> {
    let out = local_git_bytes(repo, args).await?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Runs git on the master; returns its raw standard output.
async fn local_git_bytes(repo: &Path, args: &[&str]) -> Result<Vec<u8>, BuilderError> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .await
        .map_err(|e| BuilderError::Local {
            op: "run git in",
            path: repo.into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(BuilderError::Local {
            op: "git",
            path: repo.into(),
            source: std::io::Error::other(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        });
    }
    Ok(out.stdout)
}

/// Brings `ports_tree` on the builder to the requested revision.
pub async fn sync(
    host: &dyn BuilderHost,
    ports_tree: &str,
    how: &PortsTreeSync,
    limits: &ExecLimits,
) -> Result<(), BuilderError> {
    match how {
        PortsTreeSync::Skip => Ok(()),
        PortsTreeSync::Fetch { revision } => {
            run_checked(
                host,
                &argv(&["git", "-C", ports_tree, "fetch", "--quiet", "origin"]),
                None,
                limits,
            )
            .await?;
            checkout(host, ports_tree, revision, limits).await
        }
        PortsTreeSync::Bundle { repo, revision } => {
            sync_bundle(host, ports_tree, repo, revision, limits).await
        }
    }
}

async fn checkout(
    host: &dyn BuilderHost,
    tree: &str,
    revision: &str,
    limits: &ExecLimits,
) -> Result<(), BuilderError> {
    let args = argv(&[
        "git", "-C", tree, "checkout", "--quiet", "--force", "--detach", revision,
    ]);
    run_checked(host, &args, None, limits).await?;
    Ok(())
}

async fn sync_bundle(
    host: &dyn BuilderHost,
    tree: &str,
    repo: &Path,
    revision: &str,
    limits: &ExecLimits,
) -> Result<(), BuilderError> {
    let wanted = local_git(
        repo,
        &["rev-parse", "--verify", &format!("{revision}^{{commit}}")],
    )
    .await?;
    let head = ["git", "-C", tree, "rev-parse", "--verify", "HEAD^{commit}"];
    let current = run_capture(host, &argv(&head), None, limits).await?;
    let current = (current.status == 0).then(|| String::from_utf8_lossy(&current.stdout).trim().to_string());
    if current.as_deref() == Some(wanted.as_str()) {
        return checkout(host, tree, &wanted, limits).await;
    }
    // A bundle needs a ref for its tip; one ref per builder so that concurrent syncs do not race.
    let sync_ref = format!(
        "refs/buildmaster/sync-{}",
        host.builder().replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    local_git(repo, &["update-ref", &sync_ref, &wanted]).await?;
    let base = match &current {
        Some(c)
            if local_git(repo, &["merge-base", "--is-ancestor", c, &wanted])
                .await
                .is_ok() =>
        {
            Some(c.clone())
        }
        _ => None,
    };
    let range = match &base {
        Some(b) => format!("{b}..{sync_ref}"),
        None => sync_ref.clone(),
    };
    // Written to stdout: a ports tree bundle is tens of MB at most, and no temporary file can be left.
    let bytes = local_git_bytes(repo, &["bundle", "create", "--quiet", "-", &range]).await?;
    let remote_bundle = format!("{}.bundle", tree.trim_end_matches('/'));
    let expected = Expected {
        size: bytes.len() as u64,
        sha256: Sha256Digest::of(&bytes),
    };
    host.upload(&mut bytes.as_slice(), &remote_bundle, expected)
        .await?;
    // No repository yet: `git init` rather than `git clone`, because the directory may already hold
    // the builder config the master wrote into it.
    let init = ["git", "init", "--quiet", tree];
    let fetch = ["git", "-C", tree, "fetch", "--quiet", &remote_bundle, &sync_ref];
    let shallow = master_shallow_commits(repo).await?;
    let fetched = async {
        if current.is_none() {
            run_checked(host, &argv(&init), None, limits).await?;
        }
        if !shallow.is_empty() {
            mark_shallow(host, tree, &shallow, limits).await?;
        }
        run_checked(host, &argv(&fetch), None, limits).await.map(|_| ())
    }
    .await;
    let _ = host.remove(&remote_bundle).await;
    fetched?;
    checkout(host, tree, &wanted, limits).await
}

/// The master's shallow boundary: the commits its `shallow` file lists (none for a full clone).
async fn master_shallow_commits(repo: &Path) -> Result<Vec<String>, BuilderError> {
    let git_dir = PathBuf::from(local_git(repo, &["rev-parse", "--absolute-git-dir"]).await?);
    let path = git_dir.join("shallow");
    match tokio::fs::read_to_string(&path).await {
        Ok(text) => Ok(shallow_lines(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(BuilderError::Local {
            op: "read",
            path,
            source: e,
        }),
    }
}

/// Commit ids in a `shallow` file's text, in order, without blanks.
fn shallow_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Adds `commits` to the builder repository's shallow boundary (keeping what it lists already),
/// written atomically (`.upload` then rename).
async fn mark_shallow(
    host: &dyn BuilderHost,
    tree: &str,
    commits: &[String],
    limits: &ExecLimits,
) -> Result<(), BuilderError> {
    let out = run_checked(
        host,
        &argv(&["git", "-C", tree, "rev-parse", "--absolute-git-dir"]),
        None,
        limits,
    )
    .await?;
    let git_dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let path = format!("{git_dir}/shallow");
    let existing = host
        .read_small(&path, SHALLOW_FILE_LIMIT)
        .await?
        .unwrap_or_default();
    let mut lines = shallow_lines(&String::from_utf8_lossy(&existing));
    for commit in commits {
        if !lines.contains(commit) {
            lines.push(commit.clone());
        }
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    host.write_small(&path, text.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_file_lines_ignore_blanks() {
        assert_eq!(shallow_lines("a\n\n b \n"), ["a", "b"]);
        assert!(shallow_lines("").is_empty());
    }
}
