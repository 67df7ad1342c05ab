//! `buildmaster serve` as operators run it: the README's main job on the embedded defaults (the example
//! ports tree, the local builder, filesystem storage) builds, publishes and serves the UI; and on a farm of
//! two real sshd builders with garage, SIGTERM in the middle of a buildrun stops the daemon cleanly and
//! the restarted daemon resumes and completes the buildrun without building anything twice (the builders'
//! own ledger is the witness).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::farm::{Farm, BIN};

/// A free port on 127.0.0.1 for the daemon to listen on.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `GET path` on `address`; `None` while nothing answers.
fn get(address: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn get_json(address: &str, path: &str) -> Option<Value> {
    match get(address, path)? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Polls `probe` until it returns `Some`, or fails naming `what` and the daemon's log.
fn wait_for<T>(what: &str, timeout: Duration, log: &Path, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; daemon log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sigterm(child: &Child) {
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

/// Waits for the daemon to exit after SIGTERM; it must exit 0, promptly, saying it stopped cleanly.
fn assert_clean_stop(child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the daemon did not stop within 30 s of SIGTERM; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        status.success(),
        "exit status {status:?} after SIGTERM; log:\n{text}"
    );
    assert!(
        text.contains("stopped cleanly"),
        "no clean-stop line; log:\n{text}"
    );
}

fn daemon_idle_without_error(address: &str) -> Option<Value> {
    let daemon = get_json(address, "/api/daemon")?;
    (daemon["activity"]["state"] == "idle" && daemon["queue"].as_array()?.is_empty()).then_some(daemon)
}

#[test]
fn the_readme_main_job_builds_publishes_and_serves_the_example_tree() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("demo.log");
    let address = free_address();
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh"))
        .arg(&state)
        .env("BUILDMASTER_BIN", BIN)
        .env("LISTEN", &address)
        .env("NO_COLOR", "1")
        .env_remove("STORAGE_BACKEND_CONFIG")
        .env_remove("BUILDMASTER_CONFIG")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();

    // The first buildrun builds every example port, and the daemon publishes and goes idle.
    let buildrun = wait_for("buildrun 1 to complete", Duration::from_secs(120), &log, || {
        let run = get_json(&address, "/api/buildruns/1")?;
        run["buildStatus"]
            .as_str()?
            .starts_with("complete")
            .then_some(run)
    });
    assert_eq!(buildrun["buildStatus"], "complete", "{buildrun:#}");
    let complete = buildrun["builds"]["complete"].as_array().unwrap().len();
    assert!(
        complete >= 5,
        "the example tree has at least five ports: {buildrun:#}"
    );
    let daemon = wait_for(
        "the daemon to publish and go idle",
        Duration::from_secs(60),
        &log,
        || daemon_idle_without_error(&address),
    );
    assert!(daemon["last_error"].is_null(), "{daemon:#}");

    // What a client would read: the published index lists every built package, each uploaded.
    let repo = state.join("storage/repo");
    let listing = Command::new(BIN)
        .args(["repo", "list", "-f"])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let files: Vec<String> = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .skip_while(|l| *l != "packages:")
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect();
    let built: usize = buildrun["builds"]["complete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["resultingPackages"].as_array().unwrap().len())
        .sum();
    assert_eq!(files.len(), built, "index {files:?} vs built {buildrun:#}");
    for file in &files {
        let stored = state.join("storage/packages").join(file);
        assert!(
            std::fs::metadata(&stored).unwrap().len() > 0,
            "{file} not in storage"
        );
        let spool = state.join("packages").join(file);
        assert_eq!(
            std::fs::metadata(&spool).unwrap().len(),
            0,
            "{file} not stubbed after upload"
        );
    }

    // The metrics saw every build, the results fetched from the builder and the uploads to storage.
    let (_, metrics) = get(&address, "/metrics").unwrap();
    let count = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"))
    };
    assert_eq!(
        count("buildmaster_build_duration_seconds_count{result=\"success\"}") as usize,
        complete,
        "{metrics}"
    );
    assert!(count("buildmaster_transferred_bytes_total{direction=\"from_builder\"}") > 0.0);
    // Every published package went up through the daemon's storage handle (the index files too).
    let package_bytes: u64 = files
        .iter()
        .map(|f| {
            std::fs::metadata(state.join("storage/packages").join(f))
                .unwrap()
                .len()
        })
        .sum();
    assert!(
        count("buildmaster_transferred_bytes_total{direction=\"upload\"}") >= package_bytes as f64,
        "{package_bytes} bytes of packages published:\n{metrics}"
    );
    assert_eq!(
        count("buildmaster_publish_duration_seconds_count{result=\"success\"}"),
        1.0
    );

    // The UI and the API are served.
    let (status, page) = get(&address, "/").unwrap();
    assert_eq!(status, 200);
    assert!(page.to_lowercase().contains("<html"), "{page}");

    sigterm(&child);
    assert_clean_stop(&mut child, &log);
}

#[test]
fn sigterm_mid_buildrun_stops_cleanly_and_the_restarted_daemon_resumes_it() {
    let farm = Farm::start(2);
    let address = free_address();
    let log1 = farm.log_path("serve-1");
    let mut first = farm.spawn(&["serve", "--listen", &address], "serve-1");

    // Stop while builds are in flight on the builders.
    wait_for("a build to be active", Duration::from_secs(120), &log1, || {
        let run = get_json(&address, "/api/buildruns/current")?;
        let active = run["builds"]["active"].as_array()?.len();
        let complete = run["builds"]["complete"].as_array()?.len();
        (active > 0 && complete >= 1).then_some(())
    });
    sigterm(&first.0);
    assert_clean_stop(&mut first.0, &log1);
    let status: Value = serde_json::from_str(
        &std::fs::read_to_string(farm.state().join("output/buildruns/1/status.json")).unwrap(),
    )
    .unwrap();
    assert!(
        !status["buildStatus"].as_str().unwrap().starts_with("complete"),
        "the buildrun was still running when stopped: {status:#}"
    );
    // Builds complete at the stop must never run again; builds in flight may (their results were not
    // yet fetched and verified when the stop cancelled them).
    let complete_at_stop: Vec<String> = status["builds"]["complete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            format!(
                "{}-{}",
                b["port"]["name"].as_str().unwrap(),
                b["port"]["version"].as_str().unwrap()
            )
        })
        .collect();
    assert!(!complete_at_stop.is_empty(), "{status:#}");

    // The restarted daemon resumes buildrun 1 before anything else and completes it.
    let log2 = farm.log_path("serve-2");
    let mut second = farm.spawn(&["serve", "--listen", &address], "serve-2");
    let resumed = wait_for(
        "buildrun 1 to complete after the restart",
        Duration::from_secs(240),
        &log2,
        || {
            let run = get_json(&address, "/api/buildruns/1")?;
            run["buildStatus"]
                .as_str()?
                .starts_with("complete")
                .then_some(run)
        },
    );
    wait_for(
        "the daemon to publish and go idle",
        Duration::from_secs(120),
        &log2,
        || daemon_idle_without_error(&address),
    );
    sigterm(&second.0);
    assert_clean_stop(&mut second.0, &log2);

    // Nothing that succeeded was built twice, according to the builders themselves.
    let mut succeeded = std::collections::HashMap::<String, usize>::new();
    for build in farm.ledger_builds() {
        if matches!(build.end, Some((0, _))) {
            *succeeded.entry(build.port.clone()).or_default() += 1;
        }
    }
    for port in &complete_at_stop {
        assert_eq!(
            succeeded.get(port),
            Some(&1),
            "{port} was complete at the stop, so it must have been built exactly once\n{}",
            farm.diagnostics()
        );
    }
    let more_than_twice: Vec<_> = succeeded.iter().filter(|(_, n)| **n > 2).collect();
    assert!(
        more_than_twice.is_empty(),
        "{more_than_twice:?}\n{}",
        farm.diagnostics()
    );
    // Every port the buildrun lists as complete really was built, and its packages are published.
    let listing = Command::new(BIN)
        .args(["repo", "list", "-f"])
        .arg(farm.state().join("repository/repo"))
        .output()
        .unwrap();
    let published = String::from_utf8(listing.stdout).unwrap();
    for build in resumed["builds"]["complete"].as_array().unwrap() {
        let port = build["port"]["revisionedName"].as_str().unwrap_or_default();
        for package in build["resultingPackages"].as_array().unwrap() {
            let file = package.as_str().unwrap();
            assert!(
                published.contains(file),
                "{port}: {file} not published:\n{published}"
            );
        }
    }
}
