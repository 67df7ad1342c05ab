//! Publishing against a real garage server, checked the way pkgman reads the bucket: over HTTP from
//! the web endpoint. Covers the publish → verify → stub pipeline, crash consistency at every crash
//! point with a concurrent pkgman-like poller, prune safety, and recovery of a lost state directory.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use support::garage::Garage;
use support::pkgman::{refresh_and_download, RefreshError};
use support::test_package::make_test_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// One buildmaster instance: a state directory, a storage config with its own prefix in the shared
/// bucket, and a work directory for building packages.
struct Instance {
    work: tempfile::TempDir,
    config: PathBuf,
    web_base: String,
}

impl Instance {
    fn new(garage: &Garage, name: &str) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("publish/{name}-{:08x}", fastrand::u32(..));
        let config = work.path().join("storage.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"backend_type": "s3", "endpoint_url": "{}", "region_name": "us-east-1",
                    "access_key_id": "{}", "secret_access_key": "{}", "bucket_name": "{}",
                    "prefix": "{prefix}", "max_attempts": 2}}"#,
                garage.s3_endpoint(),
                garage.access_key(),
                garage.secret_key(),
                garage.bucket()
            ),
        )
        .unwrap();
        let instance = Self {
            web_base: format!("{}/{prefix}", garage.web_endpoint()),
            work,
            config,
        };
        instance.write_repo_info();
        instance
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn packages(&self) -> PathBuf {
        self.state().join("packages")
    }

    fn write_repo_info(&self) {
        let dir = self.state().join("repository");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(self.packages()).unwrap();
        std::fs::write(
            dir.join("repo.info"),
            "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\npriority 1\n\
             baseurl https://example.org/haikuports\n\
             identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n",
        )
        .unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("STORAGE_BACKEND_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .arg("--state-dir")
            .arg(self.state())
            .arg("--storage-backend-config")
            .arg(&self.config)
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Builds `name-version-x86_64.hpkg` (with `payload` bytes of content) into the spool.
    fn add_package(&self, name: &str, version: &str, payload: usize) -> String {
        let file_name = format!("{name}-{version}-x86_64.hpkg");
        let output = self.packages().join(&file_name);
        let requires = ["haiku >= r1~beta4"];
        make_test_package(
            self.work.path(),
            name,
            version,
            "Haiku Project",
            &requires,
            payload,
            &output,
        );
        file_name
    }

    /// Lists the bucket under this instance's prefix: (key, size) pairs.
    fn bucket(&self) -> Vec<String> {
        text(&self.run(&["storage", "ls"]).stdout)
            .lines()
            .map(|l| l.split_whitespace().last().unwrap().to_owned())
            .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every spool file is a zero-byte stub.
fn assert_all_stubbed(instance: &Instance) {
    for entry in std::fs::read_dir(instance.packages()).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().len(),
            0,
            "{} is not stubbed",
            entry.path().display()
        );
    }
}

fn names(refreshed: &support::pkgman::Refreshed) -> Vec<String> {
    refreshed.packages.iter().map(|(n, _)| n.clone()).collect()
}

#[test]
fn published_repository_reads_like_pkgman_expects() {
    let garage = Garage::shared();
    let instance = Instance::new(garage, "basic");
    let a1 = instance.add_package("alpha", "1.0-1", 20_000);
    let b = instance.add_package("beta", "2.3.1-4", 300_000);
    let c = instance.add_package("gamma", "0.9~rc1-1", 1_000);
    instance.ok(&["publish"]);
    let first = refresh_and_download(&instance.web_base).expect("a valid repository");
    assert_eq!(names(&first), vec![a1.clone(), b.clone(), c.clone()]);
    assert_all_stubbed(&instance);

    // A newer alpha replaces the old one in the index; the old object stays for the grace period.
    let a2 = instance.add_package("alpha", "1.1-1", 20_000);
    let out = instance.ok(&["publish"]);
    assert!(
        out.contains(&format!("uploaded {a2}")) && !out.contains(&format!("uploaded {b}")),
        "{out}"
    );
    let second = refresh_and_download(&instance.web_base).expect("a valid repository");
    assert_eq!(names(&second), vec![a2, b, c]);
    assert!(instance.bucket().contains(&format!("packages/{a1}")));

    // Index files are served with no-cache; packages are immutable.
    let repo = support::pkgman::get(&instance.web_base, "repo").unwrap();
    assert_eq!(repo.header("cache-control"), Some("no-cache"));
    let pkg = support::pkgman::get(&instance.web_base, &format!("packages/{a1}")).unwrap();
    assert!(
        pkg.header("cache-control")
            .is_some_and(|v| v.contains("immutable")),
        "{:?}",
        pkg.headers
    );

    // Publishing again changes nothing.
    let out = instance.ok(&["publish"]);
    assert!(out.contains("unchanged") && !out.contains("uploaded"), "{out}");
}

#[test]
fn bad_packages_are_rejected_by_name_and_lose_nothing() {
    let garage = Garage::shared();
    let instance = Instance::new(garage, "bad");
    let good = instance.add_package("good", "1.0-1", 1000);
    let corrupt = instance.packages().join("corrupt-1.0-1-x86_64.hpkg");
    std::fs::write(&corrupt, b"hpkg but not really a package").unwrap();
    let misnamed = instance.add_package("named", "1.0-1", 1000);
    std::fs::rename(
        instance.packages().join(&misnamed),
        instance.packages().join("other-1.0-1-x86_64.hpkg"),
    )
    .unwrap();
    let out = instance.run(&["publish"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "publish reports rejected packages with exit code 3"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("corrupt-1.0-1-x86_64.hpkg") && err.contains("not a valid Haiku package"),
        "{err}"
    );
    assert!(
        err.contains("other-1.0-1-x86_64.hpkg") && err.contains("expected named-1.0-1-x86_64.hpkg"),
        "{err}"
    );
    assert!(
        std::fs::metadata(&corrupt).unwrap().len() > 0,
        "a rejected file is left untouched"
    );
    let refreshed = refresh_and_download(&instance.web_base).unwrap();
    assert_eq!(names(&refreshed), vec![good.clone()]);

    // Same canonical name, different bytes: refused, the published package stays.
    let published = refreshed.packages[0].1.clone();
    instance.add_package("good", "1.0-1", 2000);
    let out = instance.run(&["publish"]);
    assert!(text(&out.stderr).contains("immutable"), "{}", text(&out.stderr));
    let refreshed = refresh_and_download(&instance.web_base).unwrap();
    assert_eq!(refreshed.packages[0].1, published);
}

/// The crash points of one publish with two new packages, and of a prune; `#n` is the n-th time the
/// point is reached.
const CRASH_POINTS: &[&str] = &[
    "spool-recorded",
    "before-upload#1",
    "before-upload#2",
    "after-upload#1",
    "after-upload#2",
    "after-verify#1",
    "after-verify#2",
    "after-record-uploaded#1",
    "after-record-uploaded#2",
    "after-stub#1",
    "after-stub#2",
    "after-record-stubbed#1",
    "after-record-stubbed#2",
    "index-built",
    "after-write-local",
    "after-upload-package-list",
    "after-upload-repo-info",
    "after-upload-repo",
    "after-upload-repo-sha256",
    "after-record-publish",
];

#[test]
fn publish_killed_at_every_crash_point_converges() {
    let garage = Garage::shared();
    let instance = Instance::new(garage, "crash");
    instance.add_package("base", "1.0-1", 5_000);
    instance.ok(&["publish"]);

    // A pkgman-like poller reads the bucket for the whole test: it may see an index whose checksum file
    // is not updated yet (pkgman refuses those and keeps its old index), never a broken one.
    let stop = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(Mutex::new(Vec::new()));
    let polls = Arc::new(Mutex::new(0usize));
    let poller = {
        let (stop, broken, polls, base) = (
            stop.clone(),
            broken.clone(),
            polls.clone(),
            instance.web_base.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match refresh_and_download(&base) {
                    Ok(_) | Err(RefreshError::ChecksumMismatch) => {}
                    Err(RefreshError::Broken(why)) => broken.lock().unwrap().push(why),
                }
                *polls.lock().unwrap() += 1;
            }
        })
    };

    let mut expected = vec!["base-1.0-1-x86_64.hpkg".to_owned()];
    for (round, point) in CRASH_POINTS.iter().enumerate() {
        let p1 = instance.add_package(&format!("pkg{round:02}a"), "1.0-1", 30_000);
        let p2 = instance.add_package(&format!("pkg{round:02}b"), "1.0-1", 30_000);
        let out = instance
            .command(&["publish"])
            .env("BUILDMASTER_CRASH_AT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "publish was not killed at {point}: {}",
            text(&out.stderr)
        );
        instance.ok(&["publish"]);
        expected.extend([p1, p2]);
        expected.sort();
        let refreshed = refresh_and_download(&instance.web_base)
            .unwrap_or_else(|e| panic!("after a crash at {point} and a rerun: {e:?}"));
        assert_eq!(names(&refreshed), expected, "after a crash at {point}");
        assert_all_stubbed(&instance);
    }
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    let broken = broken.lock().unwrap();
    assert!(
        broken.is_empty(),
        "the poller saw a broken repository: {broken:?}"
    );
    assert!(*polls.lock().unwrap() > 10, "the poller ran");
}

#[test]
fn storage_outage_mid_publish_fails_clearly_and_the_next_publish_completes() {
    let garage = Garage::start();
    let instance = Instance::new(&garage, "outage");
    let files: Vec<String> = (0..6)
        .map(|i| instance.add_package(&format!("big{i}"), "1.0-1", 6 << 20))
        .collect();
    // No retry window: this is about failing clearly (tests/loops_publish_outage.rs rides one out).
    let child = instance
        .command(&["publish", "--retry-window", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the server as soon as the first package is in the bucket.
    let first_key = format!("packages/{}", files[0]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !instance.bucket().contains(&first_key) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first upload never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    garage.stop();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "publish must fail while storage is down");
    let err = text(&out.stderr);
    assert!(
        err.contains("storage") && err.contains("failed"),
        "a clear error: {err}"
    );
    // Every stub is a verified upload: with the server back, each stubbed package is in the bucket.
    garage.restart();
    let stored = instance.bucket();
    for entry in std::fs::read_dir(instance.packages()).unwrap() {
        let entry = entry.unwrap();
        if entry.metadata().unwrap().len() == 0 {
            let key = format!("packages/{}", entry.file_name().to_string_lossy());
            assert!(stored.contains(&key), "{key} was stubbed but is not in storage");
        }
    }
    instance.ok(&["publish"]);
    let refreshed = refresh_and_download(&instance.web_base).unwrap();
    assert_eq!(names(&refreshed), files);
    assert_all_stubbed(&instance);
}

#[test]
fn prune_respects_grace_cap_dry_run_and_survives_a_lost_state_dir() {
    let garage = Garage::shared();
    let instance = Instance::new(garage, "prune");
    let mut current: Vec<String> = (0..20)
        .map(|i| instance.add_package(&format!("p{i:02}"), "1.0-1", 2_000))
        .collect();
    instance.ok(&["publish"]);
    // Two packages get newer versions: their old objects leave the index.
    let old: Vec<String> = current[..2].to_vec();
    for (i, slot) in current.iter_mut().take(2).enumerate() {
        *slot = instance.add_package(&format!("p{i:02}"), "1.1-1", 2_000);
    }
    current.sort();
    instance.ok(&["publish"]);

    // Within the grace period nothing moves.
    let out = instance.ok(&["prune"]);
    assert!(
        out.contains("2 unreferenced kept within the grace period, 0 moved"),
        "{out}"
    );

    // Dry run: reports, changes nothing.
    let before = instance.bucket();
    let out = instance.ok(&["prune", "--dry-run", "--grace-hours", "0"]);
    assert!(out.contains(&format!("would move packages/{}", old[0])), "{out}");
    assert_eq!(instance.bucket(), before);

    // The share cap: 2 of 22 is above 5 %: refused with the reason, nothing moved.
    let out = instance.run(&["prune", "--grace-hours", "0", "--max-share", "0.05"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("more than the 5 % one run may move"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(instance.bucket(), before);

    // The state directory is lost: publish and prune refuse; recover; then both behave as before.
    let state = instance.state();
    let saved_info = std::fs::read(state.join("repository/repo.info")).unwrap();
    std::fs::remove_dir_all(&state).unwrap();
    let out = instance.run(&["prune", "--grace-hours", "0", "--force"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("recover"),
        "{}",
        text(&out.stderr)
    );
    std::fs::create_dir_all(state.join("repository")).unwrap();
    std::fs::write(state.join("repository/repo.info"), saved_info).unwrap();
    let out = instance.run(&["publish"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("recover"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(instance.bucket(), before, "refusals change nothing");
    let out = instance.ok(&["recover"]);
    assert!(out.contains("recovered 20 packages"), "{out}");
    let out = instance.ok(&["publish"]);
    assert!(out.contains("unchanged") && !out.contains("uploaded"), "{out}");

    // Object times have one-second resolution: make sure the old objects are strictly older than "now"
    // for the zero grace period below.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Now with the default cap (10 % of 22 = 2) and no grace: the two old objects move to .obsolete.
    // (The recovered database no longer knows the old objects; they are judged by their age, so
    // with zero grace they are orphans.)
    let out = instance.ok(&["prune", "--grace-hours", "0"]);
    assert!(out.contains("2 moved"), "{out}");
    let after = instance.bucket();
    for name in &old {
        assert!(
            !after.contains(&format!("packages/{name}"))
                && after.contains(&format!("packages/.obsolete/{name}"))
        );
    }
    // Nothing in the index was pruned.
    let refreshed = refresh_and_download(&instance.web_base).unwrap();
    assert_eq!(names(&refreshed), current);
    // Expiry after the retention period.
    let out = instance.ok(&["prune", "--grace-hours", "0", "--retention-days", "0"]);
    assert!(out.contains("2 deleted"), "{out}");
    assert!(!instance.bucket().iter().any(|k| k.contains(".obsolete")));
}

#[test]
fn taking_over_a_haikuporter_instance_uploads_nothing_twice() {
    let garage = Garage::shared();
    let instance = Instance::new(garage, "takeover");
    // The HaikuPorter side: packages uploaded (here by our own publish), an index, stubs.
    let old: Vec<String> = (0..3)
        .map(|i| instance.add_package(&format!("hp{i}"), "1.0-1", 4_000))
        .collect();
    instance.ok(&["publish"]);
    // Take the instance over with a fresh database: only `packages/` and `repository/` remain.
    std::fs::remove_file(instance.state().join("buildmaster.sqlite")).unwrap();
    let _ = std::fs::remove_file(instance.state().join("buildmaster.sqlite-wal"));
    let _ = std::fs::remove_file(instance.state().join("buildmaster.sqlite-shm"));
    let new = instance.add_package("fresh", "1.0-1", 4_000);
    let out = instance.ok(&["recover", "--from", "local"]);
    assert!(out.contains("recovered 3 packages"), "{out}");
    let out = instance.ok(&["publish"]);
    assert_eq!(
        out.matches("uploaded ").count(),
        1,
        "only the new package is uploaded: {out}"
    );
    assert!(out.contains(&format!("uploaded {new}")), "{out}");
    let refreshed = refresh_and_download(&instance.web_base).unwrap();
    let mut expected = old;
    expected.push(new);
    expected.sort();
    assert_eq!(names(&refreshed), expected);
}

#[test]
fn dry_run_changes_nothing_and_concurrent_publishes_are_refused() {
    let garage = Garage::shared();
    let instance = Instance::new(garage, "locks");
    let name = instance.add_package("solo", "1.0-1", 3_000);
    let out = instance.ok(&["publish", "--dry-run"]);
    assert!(
        out.contains(&format!("would upload {name}")) && out.contains("would publish index of 1"),
        "{out}"
    );
    assert!(instance.bucket().is_empty(), "a dry run uploads nothing");
    assert!(
        std::fs::metadata(instance.packages().join(&name)).unwrap().len() > 0,
        "and stubs nothing"
    );

    // Another process holds the state directory's lock.
    let lock = std::fs::File::create(instance.state().join("publish.lock")).unwrap();
    lock.lock().unwrap();
    let out = instance.run(&["publish"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("another publish or prune is running"),
        "{}",
        text(&out.stderr)
    );
    drop(lock);

    // Another instance holds the bucket's lock.
    let foreign = instance.work.path().join("lock.json");
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    std::fs::write(
        &foreign,
        format!(r#"{{"token": "t", "instance": "/elsewhere", "pid": 1, "acquired_at": 0, "expires_at": {expires}}}"#),
    )
    .unwrap();
    instance.ok(&["storage", "put", foreign.to_str().unwrap(), "buildmaster.lock"]);
    let out = instance.run(&["publish"]);
    assert!(
        !out.status.success()
            && text(&out.stderr).contains("locked by another buildmaster instance (/elsewhere"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !instance.bucket().iter().any(|k| k.starts_with("packages/")),
        "a refused publish uploads nothing"
    );
    instance.ok(&["storage", "rm", "buildmaster.lock"]);
    instance.ok(&["publish"]);
    assert_eq!(
        names(&refresh_and_download(&instance.web_base).unwrap()),
        vec![name]
    );
    assert!(
        !instance.bucket().contains(&"buildmaster.lock".to_owned()),
        "the lock is released"
    );
}
