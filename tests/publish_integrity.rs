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
