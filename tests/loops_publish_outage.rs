//! A storage outage mid-publish is ridden out: garage (our own server) is killed after the first
//! package reached the bucket and started again 30 s later on the same data; `buildmaster publish`
//! retries with backoff within its window and completes — every package stored, verified, stubbed,
//! and the index published.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::garage::Garage;
use support::test_package::make_test_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
/// The outage: long enough that the backend's own per-request retries (seconds) are spent.
const OUTAGE: Duration = Duration::from_secs(30);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A state directory with `repo.info` and a storage config with its own prefix in garage's bucket.
struct Instance {
    work: tempfile::TempDir,
    config: PathBuf,
}

impl Instance {
    fn new(garage: &Garage) -> Self {
        let work = tempfile::tempdir().unwrap();
        let config = work.path().join("storage.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"backend_type": "s3", "endpoint_url": "{}", "region_name": "us-east-1",
                    "access_key_id": "{}", "secret_access_key": "{}", "bucket_name": "{}",
                    "prefix": "outage-{:08x}", "max_attempts": 2}}"#,
                garage.s3_endpoint(),
                garage.access_key(),
                garage.secret_key(),
                garage.bucket(),
                fastrand::u32(..)
            ),
        )
        .unwrap();
        let instance = Self { work, config };
        let repository = instance.state().join("repository");
        std::fs::create_dir_all(&repository).unwrap();
        std::fs::create_dir_all(instance.packages()).unwrap();
        std::fs::write(
            repository.join("repo.info"),
            "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\npriority 1\n\
             baseurl https://example.org/haikuports\n\
             identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n",
        )
        .unwrap();
        instance
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn packages(&self) -> PathBuf {
        self.state().join("packages")
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

    /// Builds `name-1.0-1-x86_64.hpkg` with `payload` random bytes into the spool.
    fn add_package(&self, name: &str, payload: usize) -> String {
        let file_name = format!("{name}-1.0-1-x86_64.hpkg");
        let output = self.packages().join(&file_name);
        let requires = ["haiku >= r1~beta4"];
        make_test_package(
            self.work.path(),
            name,
            "1.0-1",
            "Haiku Project",
            &requires,
            payload,
            &output,
        );
        file_name
    }

    /// The keys under this instance's prefix.
    fn bucket(&self) -> Vec<String> {
        text(&self.command(&["storage", "ls"]).output().unwrap().stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect()
    }
}

#[test]
fn a_thirty_second_storage_outage_mid_publish_is_ridden_out() {
    let garage = Garage::start();
    let instance = Instance::new(&garage);
    let files: Vec<String> = (0..6)
        .map(|i| instance.add_package(&format!("big{i}"), 6 << 20))
        .collect();
    let child = instance
        .command(&["publish", "--retry-window", "180"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first_key = format!("packages/{}", files[0]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !instance.bucket().contains(&first_key) {
        assert!(Instant::now() < deadline, "the first upload never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    garage.stop();
    // The outage itself: a duration, not a wait for an event.
    std::thread::sleep(OUTAGE);
    garage.restart();

    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "publish rides out the outage:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stored = instance.bucket();
    for file in &files {
        assert!(
            stored.contains(&format!("packages/{file}")),
            "{file} stored: {stored:?}"
        );
        let len = std::fs::metadata(instance.packages().join(file)).unwrap().len();
        assert_eq!(len, 0, "{file} stubbed after its verified upload");
    }
    assert!(
        stored.contains(&"repo.sha256".to_string()),
        "index published: {stored:?}"
    );
}
