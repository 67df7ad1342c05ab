//! `buildmaster recover --from bucket` after the state directory is lost: the package records, the
//! stubs and `repo.info` come back from the bucket, so the next publish works with nothing re-created
//! by hand; a local `repo.info` that differs from the published one is never overwritten. Storage is a
//! filesystem bucket outside the state directory, so deleting the state directory keeps it.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::test_package::make_test_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

const REPO_INFO: &str = "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\n\
    priority 1\nbaseurl https://example.org/haikuports\n\
    identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n";

/// A state directory publishing into a filesystem bucket beside it.
struct Instance {
    work: tempfile::TempDir,
}

impl Instance {
    fn new() -> Self {
        let instance = Self {
            work: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(instance.packages()).unwrap();
        std::fs::create_dir_all(instance.state().join("repository")).unwrap();
        std::fs::write(instance.repo_info(), REPO_INFO).unwrap();
        let bucket = instance.work.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        std::fs::write(
            instance.storage_config(),
            format!(r#"{{"backend_type": "fs", "path": "{}"}}"#, bucket.display()),
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

    fn repo_info(&self) -> PathBuf {
        self.state().join("repository/repo.info")
    }

    fn storage_config(&self) -> PathBuf {
        self.work.path().join("storage.json")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env("STORAGE_BACKEND_CONFIG", self.storage_config())
            .env_remove("BUILDMASTER_CRASH_AT")
            .env_remove("BUILDMASTER_CONFIG")
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

    fn add_package(&self, name: &str) -> String {
        let file_name = format!("{name}-1.0-1-x86_64.hpkg");
        let output = self.packages().join(&file_name);
        make_test_package(
            self.work.path(),
            name,
            "1.0-1",
            "Haiku Project",
            &[],
            1000,
            &output,
        );
        file_name
    }

    /// Publishes three packages, then loses the state directory.
    fn published_then_lost() -> Self {
        let instance = Self::new();
        for name in ["alpha", "beta", "gamma"] {
            instance.add_package(name);
        }
        let out = instance.ok(&["publish"]);
        assert!(out.contains("index of 3 packages"), "{out}");
        std::fs::remove_dir_all(instance.state()).unwrap();
        instance
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn recover_from_the_bucket_restores_repo_info_and_the_next_publish_works() {
    let instance = Instance::published_then_lost();

    let out = instance.ok(&["recover", "--from", "bucket"]);
    assert!(out.contains("recovered 3 packages"), "{out}");
    assert!(out.contains("restored") && out.contains("repo.info"), "{out}");
    assert_eq!(
        std::fs::read(instance.repo_info()).unwrap(),
        REPO_INFO.as_bytes(),
        "repo.info is not the published one byte for byte"
    );

    // The recovered state publishes the same index, then a new package, without any hand work.
    let out = instance.ok(&["publish"]);
    assert!(
        out.contains("index of 3 packages") && out.contains("unchanged"),
        "{out}"
    );
    let delta = instance.add_package("delta");
    let out = instance.ok(&["publish"]);
    assert!(out.contains(&format!("uploaded {delta}")), "{out}");
    assert!(out.contains("index of 4 packages"), "{out}");
}

#[test]
fn a_local_repo_info_that_differs_from_the_bucket_is_not_overwritten() {
    let instance = Instance::published_then_lost();
    let edited = REPO_INFO.replace("https://example.org/haikuports", "https://mirror.example.org/hp");
    std::fs::create_dir_all(instance.state().join("repository")).unwrap();
    std::fs::write(instance.repo_info(), &edited).unwrap();

    let out = instance.run(&["recover", "--from", "bucket"]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        err.contains(&instance.repo_info().display().to_string())
            && err.contains("'repo.info' published in")
            && err.contains("Nothing was changed"),
        "the refusal does not name both files:\n{err}"
    );
    assert_eq!(std::fs::read_to_string(instance.repo_info()).unwrap(), edited);
    assert!(
        std::fs::read_dir(instance.packages()).unwrap().next().is_none(),
        "stubs were created by a refused recover"
    );

    // The same text as the bucket's is kept, and recover goes through.
    std::fs::write(instance.repo_info(), REPO_INFO).unwrap();
    let out = instance.ok(&["recover", "--from", "bucket"]);
    assert!(
        out.contains("kept") && out.contains("recovered 3 packages"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(instance.repo_info()).unwrap(), REPO_INFO);
}
