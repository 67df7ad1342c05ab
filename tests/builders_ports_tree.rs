//! The ports-tree bundle sync from a shallow master (a `--depth=1` clone) to a real OpenSSH sshd
//! builder on 127.0.0.1: a new builder, an incremental update, and a master re-cloned at a newer
//! shallow commit whose parent it does not have.

mod support;

use std::path::Path;
use std::time::Duration;

use buildmaster::builders::config::Timeouts;
use buildmaster::builders::connection::Connection;
use buildmaster::builders::exec::ExecLimits;
use buildmaster::builders::ports_tree::{sync, PortsTreeSync};
use buildmaster::builders::sftp::Sftp;
use buildmaster::builders::ssh_host::SshHost;
use support::sshd::Sshd;
use tokio_util::sync::CancellationToken;

/// Runs git in `dir`; returns its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn commit_file(repo: &Path, name: &str) {
    std::fs::write(repo.join(name), name).unwrap();
    git(repo, &["add", name]);
    git(repo, &["commit", "-q", "-m", name]);
}

#[tokio::test]
async fn a_shallow_master_tree_reaches_new_and_existing_builders() {
    let sshd = Sshd::start();
    let target = sshd.target();
    let conn = Connection::open("b1", &target, &Timeouts::default())
        .await
        .unwrap();
    let sftp = Sftp::open(&conn, Duration::from_secs(30)).await.unwrap();
    let host = SshHost::new(conn, sftp);
    let limits = ExecLimits {
        idle_output: None,
        total: Some(Duration::from_secs(60)),
        cancel: CancellationToken::new(),
        is_build: false,
        probe: Duration::from_secs(5),
        pty: false,
    };

    // Upstream with history; the master's tree is a depth-1 clone of it.
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    std::fs::create_dir(&upstream).unwrap();
    git(&upstream, &["init", "-q"]);
    for name in ["one", "two", "three"] {
        commit_file(&upstream, name);
    }
    let master = dir.path().join("master");
    let url = format!("file://{}", upstream.display());
    git(dir.path(), &["clone", "-q", "--depth=1", &url, "master"]);
    assert_eq!(git(&master, &["rev-parse", "--is-shallow-repository"]), "true");

    let tree = sshd.work.join("haikuports");
    let tree_str = tree.to_str().unwrap();
    let head = |repo: &Path| git(repo, &["rev-parse", "HEAD"]);
    let sync_to = |revision: String| PortsTreeSync::Bundle {
        repo: master.clone(),
        revision,
    };

    // A new builder: a whole bundle of a commit whose parent nobody sends.
    sync(&host, tree_str, &sync_to(head(&master)), &limits)
        .await
        .unwrap();
    assert_eq!(head(&tree), head(&master));
    assert!(tree.join("three").is_file());

    // The master moves on by a commit of its own: an incremental bundle.
    commit_file(&master, "four");
    sync(&host, tree_str, &sync_to(head(&master)), &limits)
        .await
        .unwrap();
    assert_eq!(head(&tree), head(&master));

    // Upstream moves on and the master fetches at depth 1 again: the new boundary's parent is
    // unknown to the master, so the builder gets a whole bundle with a new shallow boundary.
    commit_file(&upstream, "five");
    commit_file(&upstream, "six");
    git(&master, &["fetch", "-q", "--depth=1", "origin"]);
    let newest = git(&master, &["rev-parse", "FETCH_HEAD"]);
    git(&master, &["checkout", "-q", "--detach", &newest]);
    sync(&host, tree_str, &sync_to(newest.clone()), &limits)
        .await
        .unwrap();
    assert_eq!(head(&tree), newest);
    assert!(tree.join("six").is_file() && !tree.join("four").exists());
}
