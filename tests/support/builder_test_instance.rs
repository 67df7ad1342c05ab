//! A gated instance whose repository's test check runs on a builder (`[repositories.policy.test]
//! on = "builder"`): served storage in garage, a private staging bucket beside it, one `[[builders]]`
//! entry for a real sshd on 127.0.0.1, and the `buildmaster` binary run against it. Shared by the
//! Debian and RPM builder-test suites, which differ only in their `[[repositories]]` entry.
#![allow(dead_code)] // each test file uses a different part

use std::path::Path;
use std::process::{Command, Output};

use crate::support::garage::Garage;
use crate::support::sshd::{current_user, Sshd};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// Where the tests run on the builder, and what they need: the policy's `[repositories.policy.test]`
/// settings that are paths.
pub struct BuilderTestPaths<'a> {
    /// The tests tree on the master.
    pub tests: &'a Path,
    /// The root tarball on the builder.
    pub root_tarball: &'a Path,
    /// The work directory on the builder.
    pub work_dir: &'a Path,
}

/// The instance: its directory (`state/`, `storage.json`, `staging.json`) and its key prefix in garage.
pub struct BuilderTestInstance {
    pub dir: tempfile::TempDir,
    pub prefix: String,
}

impl BuilderTestInstance {
    /// An instance with builder `builder` (`sshd`) and `repository`: a `[[repositories]]` table and its
    /// format's table (no policy); the builder test policy is appended, naming `builder` and `paths`.
    pub fn new(
        garage: &Garage,
        sshd: &Sshd,
        builder: &str,
        repository: &str,
        paths: &BuilderTestPaths<'_>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("builder-tests-{:08x}", fastrand::u32(..));
        std::fs::write(dir.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        let staging_bucket = format!("staging-{:08x}", fastrand::u32(..));
        garage.create_private_bucket(&staging_bucket);
        let staging = garage.storage_json(&prefix).replace(
            "\"bucket_name\": \"packages\"",
            &format!("\"bucket_name\": \"{staging_bucket}\""),
        );
        std::fs::write(dir.path().join("staging.json"), staging).unwrap();
        let config = format!(
            "[gate]\nstaging = \"{staging}\"\n\n\
             [[builders]]\nname = \"{builder}\"\n[builders.ssh]\nhost = \"127.0.0.1\"\nport = {port}\n\
             user = \"{user}\"\nprivate_key_file = \"{client_key}\"\nhost_key = \"{host_key}\"\n\
             [builders.portstree]\npath = \"{builder_dir}/tree\"\n\n\
             {repository}\
             [repositories.policy.test]\non = \"builder\"\nbuilder = \"{builder}\"\ntests = \"{tests}\"\n\
             root_tarball = \"{tarball}\"\nwork_dir = \"{work_dir}\"\ntimeout_seconds = 600\n",
            staging = dir.path().join("staging.json").display(),
            port = sshd.port,
            user = current_user(),
            client_key = sshd.client_key.display(),
            host_key = sshd.host_key_line(),
            builder_dir = sshd.work.display(),
            tests = paths.tests.display(),
            tarball = paths.root_tarball.display(),
            work_dir = paths.work_dir.display(),
        );
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("state/buildmaster.toml"), config).unwrap();
        Self { dir, prefix }
    }

    /// `buildmaster ARGS…` against this instance.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg("--storage-backend-config")
            .arg(self.dir.path().join("storage.json"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .env("USER", "tester")
            .output()
            .unwrap()
    }

    /// `buildmaster push FILES… --to REPOSITORY`.
    pub fn push(&self, files: &[&Path], repository: &str) -> Output {
        let mut args: Vec<&str> = vec!["push"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        args.extend(["--to", repository]);
        self.run(&args)
    }
}
