//! Tests of the ports tree's pull against real git repositories in a temporary directory: a checkout
//! of its own is fast-forwarded; a tree that is a directory inside another repository (the example tree
//! inside the buildmaster checkout) never moves that repository.

use std::path::Path;
use std::process::Command;

use super::git::{head, pull};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@localhost",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?} in {}", dir.display());
}

/// An upstream repository with a `ports/` directory, a clone of it, and one more upstream commit the
/// clone has not seen yet.
fn clone_behind_upstream(root: &Path) -> std::path::PathBuf {
    let upstream = root.join("upstream");
    std::fs::create_dir_all(upstream.join("ports")).unwrap();
    git(&upstream, &["init", "-q"]);
    std::fs::write(upstream.join("ports/a.recipe"), "one").unwrap();
    git(&upstream, &["add", "."]);
    git(&upstream, &["commit", "-qm", "one"]);
    git(root, &["clone", "-q", "upstream", "clone"]);
    std::fs::write(upstream.join("ports/a.recipe"), "two").unwrap();
    git(&upstream, &["commit", "-qam", "two"]);
    root.join("clone")
}

#[tokio::test]
async fn a_checkout_of_its_own_is_fast_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let clone = clone_behind_upstream(dir.path());
    let before = head(&clone).await.unwrap();
    pull(&clone).await.unwrap();
    assert_ne!(head(&clone).await.unwrap(), before);
}

#[tokio::test]
async fn a_tree_inside_another_repository_never_moves_it() {
    let dir = tempfile::tempdir().unwrap();
    let clone = clone_behind_upstream(dir.path());
    let before = head(&clone).await.unwrap();
    pull(&clone.join("ports")).await.unwrap();
    assert_eq!(head(&clone).await.unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(clone.join("ports/a.recipe")).unwrap(),
        "one"
    );
}
