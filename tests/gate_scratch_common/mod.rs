//! What the scratch-build tests share: a webhook receiver on 127.0.0.1, git branches of the farm's
//! tree, the staging bucket, and listings of a storage.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::farm::{Farm, BIN};

/// A webhook receiver on 127.0.0.1: answers 200 and hands each request body over.
pub fn webhook_receiver() -> (String, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/status", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if tx.send((request_line.trim().to_string(), value)).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn next_verdict(rx: &mpsc::Receiver<(String, Value)>) -> (String, Value) {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the webhook received a verdict")
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Commits `edit` of the recipe at `relative` on a new branch `name` of the farm's tree, back on main
/// after; the branch's commit.
pub fn branch_with_edit(tree: &Path, name: &str, relative: &str, edit: impl Fn(&str) -> String) -> String {
    let main = git(tree, &["rev-parse", "--abbrev-ref", "HEAD"]);
    git(tree, &["checkout", "-q", "-b", name]);
    let recipe = tree.join(relative);
    let old = std::fs::read_to_string(&recipe).unwrap();
    let new = edit(&old);
    assert_ne!(old, new, "the edit changes the recipe");
    std::fs::write(&recipe, new).unwrap();
    git(
        tree,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "-am",
            name,
        ],
    );
    let sha = git(tree, &["rev-parse", "HEAD"]);
    git(tree, &["checkout", "-q", &main]);
    sha
}

/// A private staging bucket for `farm` and its storage config (`<farm>/staging.json`): the served
/// one's with the other bucket.
pub fn staging_config(farm: &Farm, name: &str) -> PathBuf {
    let bucket = format!("{name}-{:08x}", fastrand::u32(..));
    farm.garage.create_private_bucket(&bucket);
    let served = std::fs::read_to_string(farm.storage_config()).unwrap();
    let staging = served.replace(
        &format!("\"bucket_name\": \"{}\"", farm.garage.bucket()),
        &format!("\"bucket_name\": \"{bucket}\""),
    );
    assert_ne!(served, staging, "the staging config names the staging bucket");
    let path = farm.dir.path().join("staging.json");
    std::fs::write(&path, staging).unwrap();
    path
}

/// `buildmaster storage ls` of a storage config: the listing lines (key, size, SHA-256).
pub fn listing(storage_config: &Path, prefix: &str) -> Vec<String> {
    let out = Command::new(BIN)
        .env_remove("STORAGE_BACKEND_CONFIG")
        .arg("--state-dir")
        .arg(std::env::temp_dir())
        .arg("--storage-backend-config")
        .arg(storage_config)
        .args(["storage", "ls", prefix])
        .output()
        .unwrap();
    assert!(out.status.success(), "storage ls: {}", text(&out.stderr));
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    lines
}
