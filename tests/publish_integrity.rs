//! What `publish` refuses before anything is uploaded, so the published repository is never emptied
//! or shrunk by accident and never serves bytes the build did not verify: a `repo.info` that no longer
//! fits the published packages, an index that loses many packages, a spool file swapped after its
//! build. These are logic tests of the publisher, on the filesystem backend (`<state>/storage`); the
//! storage invariants against a real S3 server are in `publish_garage.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::test_package::make_test_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

const REPO_INFO: &str = "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\n\
    priority 1\nbaseurl https://example.org/haikuports\n\
    identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n";

/// A state directory publishing into `<state>/storage`.
struct Instance {
    work: tempfile::TempDir,
}

impl Instance {
    fn new() -> Self {
        let instance = Self {
            work: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(instance.packages()).unwrap();
        instance.write_repo_info(REPO_INFO);
        instance
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn packages(&self) -> PathBuf {
        self.state().join("packages")
    }

    fn repo_info(&self) -> PathBuf {
        self.state().join("repository/repo.info")
    }

    fn write_repo_info(&self, text: &str) {
        std::fs::create_dir_all(self.state().join("repository")).unwrap();
        std::fs::write(self.repo_info(), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env_remove("STORAGE_BACKEND_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .output()
            .unwrap()
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

    /// Builds `name-version-x86_64.hpkg` into the spool with `payload` random bytes of content.
    fn add_package(&self, name: &str, version: &str, payload: usize) -> String {
        let file_name = format!("{name}-{version}-x86_64.hpkg");
        let output = self.packages().join(&file_name);
        make_test_package(
            self.work.path(),
            name,
            version,
            "Haiku Project",
            &[],
            payload,
            &output,
        );
        file_name
    }

    /// The object's bytes, as a client downloads them.
    fn object(&self, key: &str) -> Vec<u8> {
        let out = self.run(&["storage", "get", key, "-"]);
        assert!(out.status.success(), "get {key}: {}", text(&out.stderr));
        out.stdout
    }

    fn keys(&self) -> String {
        self.ok(&["storage", "ls"])
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Publishes eight packages and returns the instance with the published `repo`.
fn published_eight() -> (Instance, Vec<u8>) {
    let instance = Instance::new();
    for i in 0..8 {
        instance.add_package(&format!("pkg{i}"), "1.0-1", 1000);
    }
    let out = instance.ok(&["publish"]);
    assert!(out.contains("index of 8 packages"), "{out}");
    let repo = instance.object("repo");
    (instance, repo)
}

#[test]
fn a_repo_info_that_no_longer_fits_the_packages_is_refused_before_any_upload() {
    for (key, typo) in [
        ("vendor", REPO_INFO.replace("Haiku Project", "Haiku Projcet")),
        (
            "architecture",
            REPO_INFO.replace("architecture x86_64", "architecture x86_gcc2"),
        ),
    ] {
        let (instance, repo) = published_eight();
        instance.write_repo_info(&typo);
        // A new package, which must not be uploaded either.
        let new = instance.add_package("fresh", "1.0-1", 1000);
        let out = instance.run(&["publish"]);
        let err = text(&out.stderr);
        assert!(
            !out.status.success(),
            "{key}: publish succeeded:\n{}",
            text(&out.stdout)
        );
        let named = format!("`{key}` line of {}", instance.repo_info().display());
        assert!(
            err.contains(&named),
            "{key}: the error does not name {named}:\n{err}"
        );
        assert!(err.contains("Nothing was uploaded"), "{err}");
        assert_eq!(
            instance.object("repo"),
            repo,
            "{key}: the published index changed"
        );
        assert!(!instance.keys().contains(&new), "{key}: {new} was uploaded");
        assert!(std::fs::metadata(instance.packages().join(&new)).unwrap().len() > 0);

        // Fixed, the next publish completes.
        instance.write_repo_info(REPO_INFO);
        let out = instance.ok(&["publish"]);
        assert!(out.contains("index of 9 packages"), "{out}");
    }
}

#[test]
fn a_package_built_for_another_vendor_is_rejected_and_never_uploaded() {
    let (instance, repo) = published_eight();
    let stranger = "stranger-1.0-1-x86_64.hpkg";
    let path = instance.packages().join(stranger);
    make_test_package(
        instance.work.path(),
        "stranger",
        "1.0-1",
        "Someone Else",
        &[],
        1000,
        &path,
    );
    let out = instance.run(&["publish"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(stranger) && err.contains("\"Someone Else\"") && err.contains("repo.info"),
        "{err}"
    );
    assert!(
        text(&out.stdout).contains("index of 8 packages"),
        "{}",
        text(&out.stdout)
    );
    assert!(!instance.keys().contains(stranger), "{stranger} was uploaded");
    assert_eq!(instance.object("repo"), repo);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 0,
        "a rejected file is left untouched"
    );
}

#[test]
fn an_index_losing_many_packages_is_refused_unless_allowed() {
    let (instance, repo) = published_eight();
    // One withdrawal is fine; several at once look like an accident (lost records, deleted stubs).
    std::fs::remove_file(instance.packages().join("pkg0-1.0-1-x86_64.hpkg")).unwrap();
    let out = instance.ok(&["publish"]);
    assert!(out.contains("index of 7 packages"), "{out}");
    let repo7 = instance.object("repo");
    assert_ne!(repo7, repo);

    // Records lost from the database: their packages would silently leave the index.
    let mut db = buildmaster::state::Database::open(&instance.state().join("buildmaster.sqlite")).unwrap();
    let lost: Vec<String> = (1..4).map(|i| format!("pkg{i}-1.0-1-x86_64.hpkg")).collect();
    db.remove(&lost).unwrap();
    drop(db);
    let out = instance.run(&["publish"]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        err.contains("3 package(s) would disappear (pkg1, pkg2, pkg3)")
            && err.contains("--allow-shrink")
            && err.contains("buildmaster recover"),
        "{err}"
    );
    assert_eq!(instance.object("repo"), repo7, "the published index changed");

    let out = instance.ok(&["publish", "--allow-shrink"]);
    assert!(out.contains("index of 4 packages"), "{out}");
}

/// Records `file` as the verified result of a completed build, as the executor does when a build
/// completes.
fn record_build_result(instance: &Instance, buildrun: i64, file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    let sha256 = buildmaster::haiku::package_scan::sha256_hex(&bytes);
    let db = instance.state().join("buildmaster.sqlite");
    drop(buildmaster::buildrun::store::BuildrunStore::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO buildrun_results (buildrun, idx, file_name, size, sha256) VALUES (?1, 0, ?2, ?3, ?4)",
        rusqlite::params![
            buildrun,
            file.file_name().unwrap().to_str().unwrap(),
            bytes.len() as i64,
            sha256
        ],
    )
    .unwrap();
}

#[test]
fn a_spool_file_swapped_after_its_build_is_refused_and_nothing_is_uploaded() {
    let instance = Instance::new();
    let built = instance.add_package("swapped", "1.0-1", 5000);
    let path = instance.packages().join(&built);
    record_build_result(&instance, 7, &path);
    let verified_bytes = std::fs::read(&path).unwrap();
    // A valid package with the same name, version and architecture, but other bytes.
    make_test_package(
        instance.work.path(),
        "swapped",
        "1.0-1",
        "Haiku Project",
        &[],
        5000,
        &path,
    );
    let swapped_bytes = std::fs::read(&path).unwrap();
    assert_ne!(swapped_bytes, verified_bytes);

    let out = instance.run(&["publish"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&built)
            && err.contains("buildrun 7 verified")
            && err.contains("replaced after the build"),
        "{err}"
    );
    assert!(!instance.keys().contains(&built), "the swapped file was uploaded");
    // Refused before the index was built: the published index does not name it.
    assert!(
        text(&out.stdout).contains("index of 0 packages"),
        "{}",
        text(&out.stdout)
    );
    assert!(!text(&instance.object("package.list")).contains(&built));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        swapped_bytes,
        "a rejected file is left untouched"
    );

    // The bytes the build verified are published.
    std::fs::write(&path, &verified_bytes).unwrap();
    let out = instance.ok(&["publish"]);
    assert!(out.contains(&format!("uploaded {built}")), "{out}");
    assert_eq!(instance.object(&format!("packages/{built}")), verified_bytes);
}

#[test]
fn a_spool_file_of_another_size_than_its_build_verified_is_refused_at_ingest() {
    let instance = Instance::new();
    let built = instance.add_package("resized", "1.0-1", 5000);
    let path = instance.packages().join(&built);
    record_build_result(&instance, 8, &path);
    make_test_package(
        instance.work.path(),
        "resized",
        "1.0-1",
        "Haiku Project",
        &[],
        9000,
        &path,
    );
    let out = instance.run(&["publish"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&built)
            && err.contains("buildrun 8 verified")
            && err.contains("replaced after the build"),
        "{err}"
    );
    assert!(
        !instance.keys().contains(&built),
        "the replaced file was uploaded"
    );
}

#[test]
fn a_spool_file_with_other_bytes_of_the_verified_size_is_refused_by_the_upload() {
    let instance = Instance::new();
    let built = instance.add_package("flipped", "1.0-1", 400_000);
    let path = instance.packages().join(&built);
    record_build_result(&instance, 9, &path);
    // One byte of the payload changed: the size, the header and the sections (all ingest reads of a
    // built file) are the build's, so it is storage, hashing the upload as it streams, that refuses it.
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let out = instance.run(&["publish"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&path.display().to_string())
            && err.contains("buildrun 9 verified")
            && err.contains("replaced after the build")
            && err.contains("nothing was stored"),
        "{err}"
    );
    assert!(!instance.keys().contains(&built), "the changed file was stored");
    assert!(
        text(&out.stdout).contains("index of 0 packages"),
        "{}",
        text(&out.stdout)
    );
    assert!(!text(&instance.object("package.list")).contains(&built));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a rejected file is left untouched"
    );

    // Refused again, by name, on the next run (the record of the refused file was not kept).
    let out = instance.run(&["publish"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("buildrun 9 verified"),
        "{}",
        text(&out.stderr)
    );

    // The build's bytes are published.
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = instance.ok(&["publish"]);
    assert!(out.contains(&format!("uploaded {built}")), "{out}");
    assert_eq!(instance.object(&format!("packages/{built}")), bytes);
}

/// Bytes the process `child` read (`rchar` of `/proc/<pid>/io`: every `read` and `pread`, page cache
/// or not), read once it has exited but before it is reaped, then its output.
fn read_bytes_and_output(child: std::process::Child) -> (u64, Output) {
    let pid = child.id();
    // SAFETY: `siginfo_t` is plain data; `waitid` only writes into it. WNOWAIT leaves the child a
    // zombie, whose `/proc/<pid>/io` still holds its totals (all its threads'), until `wait` below.
    let waited = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
    };
    assert_eq!(waited, 0, "waitid: {}", std::io::Error::last_os_error());
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let rchar = io
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rchar in /proc/{pid}/io:\n{io}"));
    (rchar, child.wait_with_output().unwrap())
}

impl Instance {
    /// `buildmaster publish`, succeeding; the bytes the process read, and its standard output.
    fn publish_counting_reads(&self) -> (u64, String) {
        let child = Command::new(BIN)
            .env_remove("STORAGE_BACKEND_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .env_remove("BUILDMASTER_CONFIG")
            .arg("--state-dir")
            .arg(self.state())
            .arg("publish")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (rchar, out) = read_bytes_and_output(child);
        assert!(out.status.success(), "publish failed:\n{}", text(&out.stderr));
        (rchar, text(&out.stdout))
    }
}

/// A package a build produced is read once by `publish` — the upload, which storage verifies against
/// the build's digest as it streams — while a package delivered by hand is read twice (hashed at
/// ingest, then uploaded). Figures in docs/performance.md, "Publishing".
#[test]
fn publish_reads_a_built_package_once() {
    const PAYLOAD: usize = 16 << 20;
    let instance = Instance::new();
    let built = instance.add_package("built", "1.0-1", PAYLOAD);
    let built_size = std::fs::metadata(instance.packages().join(&built)).unwrap().len();
    record_build_result(&instance, 1, &instance.packages().join(&built));
    let (built_read, out) = instance.publish_counting_reads();
    assert!(out.contains(&format!("uploaded {built}")), "{out}");

    let by_hand = instance.add_package("byhand", "1.0-1", PAYLOAD);
    let by_hand_size = std::fs::metadata(instance.packages().join(&by_hand))
        .unwrap()
        .len();
    let (by_hand_read, out) = instance.publish_counting_reads();
    assert!(out.contains(&format!("uploaded {by_hand}")), "{out}");

    println!(
        "publish of one built package of {built_size} bytes read {built_read} bytes ({:.3}x its size); \
         one delivered by hand of {by_hand_size} bytes, {by_hand_read} bytes ({:.3}x)",
        built_read as f64 / built_size as f64,
        by_hand_read as f64 / by_hand_size as f64
    );
    // The rest of a publish (database, repo.info, the package's header and sections, the binary's
    // libraries) reads well under 2 MiB.
    let slack = 2 << 20;
    assert!(
        built_read >= built_size && built_read < built_size + slack,
        "a built package of {built_size} bytes: publish read {built_read} bytes"
    );
    assert!(
        by_hand_read >= 2 * by_hand_size,
        "the measure does not see the hash at ingest: {by_hand_read} bytes for {by_hand_size}"
    );
}
