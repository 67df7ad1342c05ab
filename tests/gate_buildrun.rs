//! Stage → gate → promote for the HaikuPorts repository (`[gate]` + `[publish.policy]`), against real
//! garage (a served bucket with website access, a private staging bucket), with real `.hpkg` packages
//! (`buildmaster hpkg create`) delivered to the spool as builds deliver them:
//! - a package whose requirement is not built yet is staged, not served (404 by its URL on the web
//!   endpoint, not in `package.list`), its pipeline red naming the unresolved requirement, its spool file
//!   kept real; the test command ran on it;
//! - once the requirement is built, a publish promotes both by server-side copy (`CopyObject`, no
//!   `PutObject` of a package body into the served bucket), byte-identical (SHA-256) to the staged
//!   objects, and the index names both; publishes killed at the gate's crash points in between leave
//!   the served index unchanged and converge;
//! - an installability waiver lets a package through at the next publish, and the audit log names the
//!   stage, the promotions and the waiver;
//! - a real buildrun (the example tree, the local builder running the HaikuPorter stand-in) opens a
//!   pipeline per package (a port's `_devel` subpackage shares its package's): the package whose test
//!   fails (`hello`) stays staged, so does `wave`, which requires it, and everything else is promoted;
//!   a waiver in the HaikuPorts repository and a publish promote the two as staged.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use support::garage::Garage;
use support::test_package::make_test_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
/// Exit status of a publish that leaves packages staged behind a red pipeline.
const STAGED: i32 = 4;
/// Index files a changed index uploads: package.list, repo.info, repo, repo.sha256.
const INDEX_FILES: u64 = 4;

struct Instance {
    work: tempfile::TempDir,
    prefix: String,
    staging_bucket: String,
}

impl Instance {
    fn new(garage: &Garage) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("gate-built-{:08x}", fastrand::u32(..));
        std::fs::write(work.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        let staging_bucket = format!("staging-{:08x}", fastrand::u32(..));
        garage.create_private_bucket(&staging_bucket);
        let staging_json = garage.storage_json_in(&staging_bucket, &prefix);
        assert!(staging_json.contains(&staging_bucket), "{staging_json}");
        std::fs::write(work.path().join("staging.json"), staging_json).unwrap();
        let inst = Self {
            work,
            prefix,
            staging_bucket,
        };
        let system = inst.state().join("system-packages");
        std::fs::create_dir_all(&system).unwrap();
        std::fs::create_dir_all(inst.state().join("packages")).unwrap();
        std::fs::create_dir_all(inst.state().join("repository")).unwrap();
        make_test_package(
            inst.work.path(),
            "haiku",
            "1.0-1",
            "Haiku Project",
            &[],
            100,
            &system.join("haiku-1.0-1-x86_64.hpkg"),
        );
        std::fs::write(
            inst.state().join("repository/repo.info"),
            "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The HaikuPorts repository\"\npriority 1\n\
             baseurl https://example.org/haikuports\n\
             identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n",
        )
        .unwrap();
        // The test command is sha256sum: its log shows which bytes it was given.
        std::fs::write(
            inst.state().join("buildmaster.toml"),
            format!(
                "[gate]\nstaging = \"{}\"\n\n[ports]\nsystem_packages = \"{}\"\n\n[publish.policy]\n\
                 installability = \"block\"\n[publish.policy.test]\ncommand = [\"sha256sum\", \"{{file}}\"]\n",
                inst.work.path().join("staging.json").display(),
                system.display()
            ),
        )
        .unwrap();
        inst
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--state-dir")
            .arg(self.state())
            .arg("--storage-backend-config")
            .arg(self.work.path().join("storage.json"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .env_remove("STORAGE_BACKEND_CONFIG")
            .env("USER", "tester");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `publish` killed at crash point `at`.
    fn publish_killed_at(&self, at: &str) -> Output {
        let out = self
            .command(&["publish"])
            .env("BUILDMASTER_CRASH_AT", at)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(out.status.signal(), Some(9), "not killed at {at}: {}", text(&out));
        out
    }

    /// Builds `name` 1.0-1 requiring `requires` into the spool, as a build delivers it; its SHA-256.
    fn build(&self, name: &str, requires: &[&str]) -> String {
        let file = self.spool_file(name);
        make_test_package(
            self.work.path(),
            name,
            "1.0-1",
            "Haiku Project",
            requires,
            5000,
            &file,
        );
        sha256(&std::fs::read(&file).unwrap())
    }

    fn spool_file(&self, name: &str) -> PathBuf {
        self.state().join(format!("packages/{name}-1.0-1-x86_64.hpkg"))
    }

    /// `GET` of `name` under the served prefix on garage's web endpoint, as pkgman fetches it.
    fn served(&self, garage: &Garage, name: &str) -> (u16, Vec<u8>) {
        garage.web_get("localhost", &format!("/{}/{name}", self.prefix))
    }

    fn served_list(&self, garage: &Garage) -> String {
        let (status, body) = self.served(garage, "package.list");
        assert_eq!(status, 200, "package.list is not served");
        String::from_utf8(body).unwrap()
    }

    /// The SHA-256 of each staged object (key under the prefix), as the staging bucket holds it.
    fn staged(&self, garage: &Garage) -> Vec<(String, String)> {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let client = garage.sdk_client();
            let listed = client
                .list_objects_v2()
                .bucket(&self.staging_bucket)
                .send()
                .await
                .unwrap();
            let mut out = Vec::new();
            for object in listed.contents() {
                let key = object.key().unwrap().to_string();
                let body = client
                    .get_object()
                    .bucket(&self.staging_bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                out.push((key, sha256(&body)));
            }
            out.sort();
            out
        })
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_built_package_waits_for_its_requirement_and_both_are_promoted_as_staged() {
    let garage = Garage::start();
    let inst = Instance::new(&garage);
    let a_file = "pkga-1.0-1-x86_64.hpkg";
    let b_file = "pkgb-1.0-1-x86_64.hpkg";

    // pkga requires pkgb, which is not built yet: staged, red, the requirement named.
    let a_sha = inst.build("pkga", &["pkgb >= 1.0", "haiku"]);
    let out = inst.run(&["publish"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(STAGED), "{shown}");
    assert!(shown.contains(&format!("staged {a_file}")), "{shown}");
    assert!(shown.contains("pipeline 1: red"), "{shown}");
    assert!(shown.contains("unresolved requirement \"pkgb>=1.0\""), "{shown}");
    // Not served: not by its URL, not in the index; the spool keeps the real file.
    assert_eq!(inst.served(&garage, &format!("packages/{a_file}")).0, 404);
    assert!(!inst.served_list(&garage).contains("pkga"));
    assert!(file_len(&inst.spool_file("pkga")) > 0);
    let (status, _) = garage.web_get(
        &inst.staging_bucket,
        &format!("/{}/packages/{a_file}", inst.prefix),
    );
    assert_ne!(status, 200, "the staging bucket is served");
    assert_eq!(
        inst.staged(&garage),
        vec![(format!("{}/packages/{a_file}", inst.prefix), a_sha.clone())]
    );
    let pipeline = text(&inst.run(&["gate", "pipelines", "1"]));
    assert!(
        pipeline.contains(&format!(
            "{a_file} installability: FAILED: unresolved requirement \"pkgb>=1.0\""
        )),
        "{pipeline}"
    );
    // The test command ran on the staged bytes.
    assert!(pipeline.contains(&format!("{a_file} test: passed")), "{pipeline}");
    assert!(pipeline.contains(&a_sha), "{pipeline}");

    // A second publish with nothing new stages nothing and keeps it red.
    let out = inst.run(&["publish"]);
    assert_eq!(out.status.code(), Some(STAGED), "{}", text(&out));
    assert!(!text(&out).contains("staged "), "{}", text(&out));

    // pkgb is built. A publish killed after staging it (no pipeline yet), then one killed after the
    // first served copy: the served index does not change, nothing unindexed is named.
    let b_sha = inst.build("pkgb", &["haiku"]);
    let index_before = inst.served(&garage, "repo.sha256").1;
    inst.publish_killed_at("gate-staged");
    assert_eq!(inst.served(&garage, "repo.sha256").1, index_before);
    assert_eq!(inst.served(&garage, &format!("packages/{b_file}")).0, 404);
    let copies = garage.s3_requests("CopyObject");
    inst.publish_killed_at("gate-promote-copied#1");
    assert_eq!(garage.s3_requests("CopyObject") - copies, 1);
    assert_eq!(inst.served(&garage, "repo.sha256").1, index_before);
    assert!(!inst.served_list(&garage).contains("pkg"));
    // Both are staged: these are the bytes promotion must serve.
    let staged = inst.staged(&garage);
    assert_eq!(
        staged,
        vec![
            (format!("{}/packages/{a_file}", inst.prefix), a_sha.clone()),
            (format!("{}/packages/{b_file}", inst.prefix), b_sha.clone()),
        ]
    );

    // The publish that finishes: both promoted, the one copy left is made, no package body is put.
    let puts = garage.s3_requests("PutObject");
    let out = inst.run(&["publish"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("pipeline 1: promoted"), "{shown}");
    assert!(shown.contains("pipeline 2: promoted"), "{shown}");
    assert_eq!(
        garage.s3_requests("CopyObject") - copies,
        2,
        "one server-side copy per promoted package, in all"
    );
    assert_eq!(
        garage.s3_requests("PutObject") - puts,
        INDEX_FILES + 1,
        "PutObject requests: {INDEX_FILES} index files + the lock, no package:\n{shown}"
    );
    let list = inst.served_list(&garage);
    assert!(list.contains(a_file) && list.contains(b_file), "{list}");
    for (file, sha) in [(a_file, &a_sha), (b_file, &b_sha)] {
        let (status, body) = inst.served(&garage, &format!("packages/{file}"));
        assert_eq!(status, 200, "{file} is not served");
        assert_eq!(&sha256(&body), sha, "{file} served is not the staged object");
    }
    // Stubbed in the spool, gone from staging.
    assert_eq!(file_len(&inst.spool_file("pkga")), 0);
    assert_eq!(file_len(&inst.spool_file("pkgb")), 0);
    assert!(inst.staged(&garage).is_empty());

    // A package requiring what nothing provides stays red until a waiver lets it through.
    inst.build("pkgc", &["ghost"]);
    let out = inst.run(&["publish"]);
    assert_eq!(out.status.code(), Some(STAGED), "{}", text(&out));
    assert!(text(&out).contains("pipeline 3: red"), "{}", text(&out));
    // A waiver names a configured repository: one of another name is refused.
    let waive_pkgc = |repository: &str, reason: &str| {
        inst.run(&[
            "gate",
            "waive",
            "--repository",
            repository,
            "--package",
            "pkgc",
            "--check",
            "installability",
            "--reason",
            reason,
            "--hours",
            "1",
        ])
    };
    let out = waive_pkgc("debian/stable", "wrong repository");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("debian/stable"), "{}", text(&out));
    let out = waive_pkgc("haikuports", "ghost comes with the next Haiku");
    assert!(out.status.success(), "{}", text(&out));
    let out = inst.run(&["publish"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pipeline 3: promoted"), "{}", text(&out));
    assert!(inst.served_list(&garage).contains("pkgc-1.0-1-x86_64.hpkg"));
    let pipeline = text(&inst.run(&["gate", "pipelines", "3"]));
    assert!(pipeline.contains("installability: waived"), "{pipeline}");

    let audit = text(&inst.run(&["gate", "audit"]));
    for words in [
        "cli:tester\tstage\tpipeline 1",
        "gate\tpromote\tpipeline 1",
        "gate\tpromote\tpipeline 2",
        "cli:tester\twaive\tpkgc",
        "gate\tpromote\tpipeline 3",
    ] {
        assert!(audit.contains(words), "{words:?} not in the audit log:\n{audit}");
    }
}

/// Limit for a buildrun of the example tree on the local builder (eight one-second builds).
const BUILDRUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Every `.hpkg` under `dir` with its SHA-256, by file name.
fn packages_in(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "hpkg"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, sha256(&std::fs::read(&p).unwrap()))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

// A real buildrun: the example tree (examples/buildmaster.toml: the default local builder running the
// HaikuPorter stand-in, filesystem storage in the state directory) with a gate whose test fails for
// `hello`. The buildrun's publish stages its eight packages in six pipelines (libgreet and
// libfarewell each with their `_devel`): hello's is red naming the failed test, wave's (wave requires
// cmd:hello) red naming the unresolved requirement, the other four are promoted and served. A waiver
// for hello's test in the HaikuPorts repository, then `publish`, promotes the two as staged.
#[test]
fn a_real_buildruns_packages_are_staged_until_their_pipeline_is_green() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(state.join("repository")).unwrap();
    std::fs::copy(
        checkout.join("examples/repo.info"),
        state.join("repository/repo.info"),
    )
    .unwrap();
    let staging = work.path().join("staging");
    std::fs::write(
        work.path().join("staging.json"),
        format!(r#"{{"backend_type": "fs", "path": "{}"}}"#, staging.display()),
    )
    .unwrap();
    let script = work.path().join("package-tests");
    std::fs::write(
        &script,
        "#!/bin/sh\nsha256sum \"$1\"\n\
         if [ \"$BUILDMASTER_PACKAGE_NAME\" = hello ]; then echo 'hello: greeting test FAILED'; exit 1; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = work.path().join("buildmaster.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[gate]\nstaging = \"{}\"\n\n[publish.policy.test]\ncommand = [\"{}\", \"{{file}}\"]\n",
            std::fs::read_to_string(checkout.join("examples/buildmaster.toml")).unwrap(),
            work.path().join("staging.json").display(),
            script.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(checkout)
            .env_remove("STORAGE_BACKEND_CONFIG")
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .env("BUILDMASTER", BIN)
            .env("HAIKUPORTER_DIR", support::farm::haikuporter_dir())
            .env("USER", "tester")
            .arg("--state-dir")
            .arg(&state)
            .args(args);
        support::farm::run_with_timeout(&mut cmd, BUILDRUN_TIMEOUT)
    };
    let config_arg = config.to_str().unwrap();

    let out = run(&["buildrun", "--config", config_arg, "--everything"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("test of hello-2.1-1-x86_64.hpkg failed"),
        "{shown}"
    );
    assert!(shown.contains("unresolved requirement \"cmd:hello\""), "{shown}");
    // What each package's test ran on (its log starts with `sha256sum {file}`): the staged bytes,
    // which promotion must serve. The spool's files of promoted packages are stubs by now.
    let mut built = Vec::new();
    for id in 1..=6 {
        let shown = text(&run(&[
            "gate",
            "--config",
            config_arg,
            "pipelines",
            &id.to_string(),
        ]));
        for line in shown.lines() {
            if let Some((sha, path)) = line.split_once("  ") {
                if sha.len() == 64 && path.ends_with(".hpkg") {
                    let name = Path::new(path)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    built.push((name, sha.to_string()));
                }
            }
        }
    }
    built.sort();
    assert_eq!(built.len(), 8, "{built:?}\n{shown}");
    let held = ["hello-2.1-1-x86_64.hpkg", "wave-1.0-1-x86_64.hpkg"];
    assert_eq!(
        packages_in(&state.join("packages"))
            .into_iter()
            .filter(|(name, _)| held.contains(&name.as_str()))
            .collect::<Vec<_>>(),
        built
            .iter()
            .filter(|(name, _)| held.contains(&name.as_str()))
            .cloned()
            .collect::<Vec<_>>(),
        "the held packages stay real in the spool"
    );
    let (staged_built, green_built): (Vec<_>, Vec<_>) = built
        .iter()
        .cloned()
        .partition(|(name, _)| held.contains(&name.as_str()));
    assert_eq!(staged_built.len(), 2, "{built:?}");
    assert_eq!(
        packages_in(&staging.join("packages")),
        staged_built,
        "staged as built"
    );
    assert_eq!(
        packages_in(&state.join("storage/packages")),
        green_built,
        "the green packages are served as built, the red ones are not"
    );
    let index = std::fs::read(state.join("storage/repo")).expect("an index");
    let index = buildmaster::haiku::hpkr_reader::read_repository_bytes(&index).unwrap();
    let mut names: Vec<String> = index.packages.iter().map(|p| p.canonical_file_name()).collect();
    names.sort();
    let green_names: Vec<String> = green_built.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(names, green_names);
    // One pipeline per package, the `_devel` subpackages with their packages: six.
    let listed = text(&run(&["gate", "--config", config_arg, "pipelines"]));
    let pipelines: Vec<&str> = listed.lines().filter(|l| l.starts_with("pipeline ")).collect();
    assert_eq!(pipelines.len(), 6, "{listed}");
    assert_eq!(
        pipelines.iter().filter(|l| l.contains(": promoted")).count(),
        4,
        "{listed}"
    );
    let libgreet = pipelines
        .iter()
        .find(|l| l.contains("libgreet-1.2.0-1-x86_64.hpkg"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        libgreet.contains("libgreet_devel-1.2.0-1-x86_64.hpkg"),
        "{listed}"
    );

    let out = run(&[
        "gate",
        "--config",
        config_arg,
        "waive",
        "--repository",
        "haikuports",
        "--package",
        "hello",
        "--check",
        "test",
        "--reason",
        "the greeting test needs a terminal",
        "--hours",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["publish", "--config", config_arg]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(
        shown.matches(": promoted").count(),
        2,
        "hello's and wave's: {shown}"
    );
    assert_eq!(
        packages_in(&state.join("storage/packages")),
        built,
        "served as staged"
    );
    assert!(packages_in(&staging.join("packages")).is_empty());
    let index = std::fs::read(state.join("storage/repo")).unwrap();
    let index = buildmaster::haiku::hpkr_reader::read_repository_bytes(&index).unwrap();
    let names: Vec<String> = index.packages.iter().map(|p| p.canonical_file_name()).collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(names.contains(&"wave-1.0-1-x86_64.hpkg".to_string()), "{names:?}");
    let audit = text(&run(&["gate", "--config", config_arg, "audit"]));
    for words in [
        "cli:tester\tstage\tpipeline 1",
        "cli:tester\tstage\tpipeline 6",
        "cli:tester\twaive\thello\ttest until",
        "in haikuports (waiver 1)",
    ] {
        assert!(audit.contains(words), "{words:?} not in the audit log:\n{audit}");
    }
    assert_eq!(audit.matches("gate\tpromote\tpipeline ").count(), 6, "{audit}");
}

// `[gate] manual_promotion = ["haikuports"]`: a built package whose checks pass is `green`, staged and
// not served, until `gate promote` asks; the next publish then promotes it as staged.
#[test]
fn a_green_built_package_waits_for_a_promote_request_when_promoted_by_hand() {
    let garage = Garage::start();
    let inst = Instance::new(&garage);
    let config = inst.state().join("buildmaster.toml");
    let text_before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_before.replacen("[gate]\n", "[gate]\nmanual_promotion = [\"haikuports\"]\n", 1),
    )
    .unwrap();
    let file = "pkgd-1.0-1-x86_64.hpkg";
    let sha = inst.build("pkgd", &["haiku"]);

    let out = inst.run(&["publish"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(STAGED), "{shown}");
    assert!(
        shown.contains("pipeline 1: green — waiting for a promote request"),
        "{shown}"
    );
    assert_eq!(inst.served(&garage, &format!("packages/{file}")).0, 404);
    // Publishing again does not promote it.
    let out = inst.run(&["publish"]);
    assert_eq!(out.status.code(), Some(STAGED), "{}", text(&out));
    assert_eq!(inst.served(&garage, &format!("packages/{file}")).0, 404);

    let out = inst.run(&["gate", "promote", "1"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("pipeline 1: promotion requested by cli:tester"),
        "{shown}"
    );
    let out = inst.run(&["publish"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("pipeline 1: promoted"), "{shown}");
    let (status, body) = inst.served(&garage, &format!("packages/{file}"));
    assert_eq!(status, 200);
    assert_eq!(sha256(&body), sha, "served is not the staged object");
    // Promoted: a second request is refused.
    let out = inst.run(&["gate", "promote", "1"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("promoted, not green"), "{}", text(&out));
    let audit = text(&inst.run(&["gate", "audit"]));
    assert!(
        audit.contains("cli:tester\tpromote-request\tpipeline 1"),
        "{audit}"
    );
    assert!(audit.contains("gate\tpromote\tpipeline 1"), "{audit}");
}
