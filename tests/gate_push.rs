//! Stage → gate → promote against real garage (a served bucket with website access, a private staging
//! bucket), real `apt-get` and real `lintian`:
//! - a package whose dependency is missing stays staged (apt cannot install it, its pool URL is 404 on
//!   the web endpoint, the staging bucket is not served), its pipeline red naming the dependency;
//!   pushing the dependency promotes both by server-side copy (garage's CopyObject counter; no second
//!   upload), byte-identical (SHA-256 of what apt downloads), and apt installs it;
//! - a failing test keeps a package staged; a waiver with an expiry promotes it (audit log); after the
//!   expiry a new version is gated again;
//! - lint findings (lintian) are recorded and shown without blocking; a policy that makes lint
//!   blocking blocks.

#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use debian_tools::{build_deb, host_architecture, output_text, require_tool, Apt};
use sha2::{Digest, Sha256};
use support::garage::Garage;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
/// Exit status of a push whose packages stay staged.
const STAGED: i32 = 4;

struct Instance {
    work: tempfile::TempDir,
    prefix: String,
    public_key: PathBuf,
}

impl Instance {
    /// A gated instance with Debian suites `gated` (policy as given) in one apt root.
    fn new(garage: &Garage, suites: &[(&str, &str)]) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("gate-{:08x}", fastrand::u32(..));
        std::fs::write(work.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        let staging_bucket = format!("staging-{:08x}", fastrand::u32(..));
        garage.create_private_bucket(&staging_bucket);
        let staging_json = garage.storage_json(&prefix).replace(
            "\"bucket_name\": \"packages\"",
            &format!("\"bucket_name\": \"{staging_bucket}\""),
        );
        assert!(staging_json.contains(&staging_bucket), "{staging_json}");
        std::fs::write(work.path().join("staging.json"), staging_json).unwrap();
        let key = work.path().join("signing.asc");
        std::fs::write(
            &key,
            buildmaster::formats::signing::generate_ed25519_armored("gate test <gate@example.invalid>")
                .unwrap(),
        )
        .unwrap();
        let public_key = work.path().join("signing.gpg");
        let signer = buildmaster::formats::signing::OpenPgpSigner::from_file(&key).unwrap();
        std::fs::write(&public_key, signer.public_key_binary().unwrap()).unwrap();
        let arch = host_architecture();
        let mut config = format!(
            "[gate]\nstaging = \"{}\"\n\n",
            work.path().join("staging.json").display()
        );
        for (suite, policy) in suites {
            config += &format!(
                "[[repositories]]\nid = \"debian/{suite}\"\nroot = \"apt\"\nsigning_key = \"{}\"\n\
                 [repositories.debian]\ncodename = \"{suite}\"\narchitectures = [\"{arch}\"]\n{policy}\n",
                key.display()
            );
        }
        let state = work.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("buildmaster.toml"), config).unwrap();
        Self {
            work,
            prefix,
            public_key,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--state-dir")
            .arg(self.work.path().join("state"))
            .arg("--storage-backend-config")
            .arg(self.work.path().join("storage.json"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .env("USER", "tester")
            .output()
            .unwrap()
    }

    fn push(&self, deb: &Path, to: &str) -> Output {
        self.run(&["push", deb.to_str().unwrap(), "--to", to])
    }

    /// A `.deb` of `name` `version` depending on `depends`, in a directory of its own.
    fn deb(&self, name: &str, version: &str, depends: &str) -> PathBuf {
        let dir = self.work.path().join(format!("debs/{name}-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        let depends = if depends.is_empty() {
            String::new()
        } else {
            format!("Depends: {depends}\n")
        };
        build_deb(
            &dir,
            &format!(
                "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
                 {depends}Section: misc\nPriority: optional\nDescription: a gate test package\n For buildmaster's gate.\n"
            ),
            "gzip",
        )
    }

    fn apt(&self, garage: &Garage, suite: &str, name: &str) -> Apt {
        let url = format!("{}/{}/apt", garage.web_endpoint(), self.prefix);
        Apt::new(
            &self.work.path().join(format!("apt-{name}")),
            &url,
            suite,
            &self.public_key,
        )
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

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The pool path of a file with `sha256` named `name` under the apt root.
fn pool_path(prefix: &str, sha256: &str, name: &str) -> String {
    format!("/{prefix}/apt/pool/{}/{sha256}/{name}", &sha256[..2])
}

#[test]
fn a_package_waits_for_its_dependency_and_both_are_promoted_as_pushed() {
    for tool in ["apt-get", "dpkg-deb", "gpgv"] {
        require_tool(tool);
    }
    let garage = Garage::start();
    let inst = Instance::new(&garage, &[("stable", "")]);
    // A first package, promoted at once: the suite exists for apt.
    let base = inst.deb("bm-base", "1.0-1", "");
    let out = inst.push(&base, "debian/stable");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pipeline 1: promoted"), "{}", text(&out));

    // bm-hello needs bm-libgreet, which is not there: staged, red, the dependency named.
    let hello = inst.deb("bm-hello", "1.0-1", "bm-libgreet (>= 1.0)");
    let out = inst.push(&hello, "debian/stable");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(STAGED), "{shown}");
    assert!(shown.contains("pipeline 2: red"), "{shown}");
    assert!(
        shown.contains("unresolvable dependency \"bm-libgreet (>= 1.0)\""),
        "{shown}"
    );

    // No client can read it: apt does not know it, its pool URL is not served, nor is the staging bucket.
    let apt = inst.apt(&garage, "stable", "client");
    let update = apt.run(&["update"]);
    assert!(update.status.success(), "{}", output_text(&update));
    let install = apt.run(&["install", "-s", "bm-hello"]);
    assert!(!install.status.success(), "{}", output_text(&install));
    assert!(
        output_text(&install).contains("Unable to locate package bm-hello"),
        "{}",
        output_text(&install)
    );
    let hello_sha = sha256_file(&hello);
    let guessed = pool_path(&inst.prefix, &hello_sha, "bm-hello_1.0-1_all.deb");
    let (status, _) = garage.web_get("localhost", &guessed);
    assert_eq!(status, 404, "GET {guessed} on the web endpoint");
    let staging_host = std::fs::read_to_string(inst.work.path().join("staging.json"))
        .unwrap()
        .split("\"bucket_name\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let (status, body) = garage.web_get(&staging_host, &guessed);
    assert_ne!(
        status,
        200,
        "the staging bucket is served: {}",
        String::from_utf8_lossy(&body)
    );

    // The dependency arrives: both pipelines turn green, both packages are copied server-side.
    let libgreet = inst.deb("bm-libgreet", "1.1-1", "");
    let (puts, copies) = (garage.s3_requests("PutObject"), garage.s3_requests("CopyObject"));
    let out = inst.push(&libgreet, "debian/stable");
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("pipeline 3: promoted"), "{shown}");
    assert!(
        shown.contains("pipeline 2: promoted (unblocked by this push)"),
        "{shown}"
    );
    let index_files: u64 = shown
        .lines()
        .filter_map(|l| l.strip_prefix("published debian/stable: "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert!(index_files > 0, "{shown}");
    assert_eq!(
        garage.s3_requests("CopyObject") - copies,
        2,
        "one server-side copy per promoted package"
    );
    // The one upload of this push is bm-libgreet into staging; the rest are index files and the lock.
    assert_eq!(
        garage.s3_requests("PutObject") - puts,
        1 + index_files + 1,
        "PutObject requests: 1 staged upload + {index_files} index files + the lock"
    );

    // apt installs bm-hello with bm-libgreet; what it downloads is byte-identical to what was pushed.
    let update = apt.run(&["update"]);
    assert!(update.status.success(), "{}", output_text(&update));
    let install = apt.run(&["install", "-s", "bm-hello"]);
    assert!(
        install.status.success(),
        "{}\nafter update:\n{}",
        output_text(&install),
        output_text(&update)
    );
    assert!(
        output_text(&install).contains("Inst bm-libgreet (1.1-1"),
        "{}",
        output_text(&install)
    );
    let download = apt.run(&["download", "bm-hello", "bm-libgreet"]);
    assert!(download.status.success(), "{}", output_text(&download));
    assert_eq!(
        sha256_file(&apt.download_dir().join("bm-hello_1.0-1_all.deb")),
        hello_sha
    );
    assert_eq!(
        sha256_file(&apt.download_dir().join("bm-libgreet_1.1-1_all.deb")),
        sha256_file(&libgreet)
    );
    // Promoted packages leave the staging bucket.
    let staged = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = garage.sdk_client();
        client
            .list_objects_v2()
            .bucket(&staging_host)
            .send()
            .await
            .unwrap()
            .contents()
            .len()
    });
    assert_eq!(staged, 0, "promoted packages left in the staging bucket");

    let audit = text(&inst.run(&["gate", "audit"]));
    for words in [
        "cli:tester\tpush\tpipeline 2",
        "gate\tpromote\tpipeline 2",
        "gate\tpromote\tpipeline 3",
    ] {
        assert!(audit.contains(words), "{words:?} not in the audit log:\n{audit}");
    }
}

/// A test command that fails for packages named `bm-flaky`, passes for the others.
fn test_policy(work: &Path) -> String {
    let script = work.join("package-tests");
    std::fs::write(
        &script,
        "#!/bin/sh\nset -eu\ndpkg-deb --info \"$1\" >/dev/null\n\
         if [ \"$BUILDMASTER_PACKAGE_NAME\" = bm-flaky ]; then echo 'test_greeting: FAILED (expected hello)'; exit 1; fi\n\
         echo 'all tests passed'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!(
        "[repositories.policy.test]\ncommand = [\"{}\", \"{{file}}\"]\n",
        script.display()
    )
}

#[test]
fn a_failing_test_keeps_a_package_staged_until_waived_and_the_waiver_expires() {
    for tool in ["apt-get", "dpkg-deb"] {
        require_tool(tool);
    }
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let inst = Instance::new(&garage, &[("stable", &test_policy(dir.path()))]);

    let good = inst.deb("bm-good", "1.0-1", "");
    let out = inst.push(&good, "debian/stable");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("bm-good_1.0-1_all.deb test: passed"),
        "{}",
        text(&out)
    );

    let flaky = inst.deb("bm-flaky", "1.0-1", "");
    let out = inst.push(&flaky, "debian/stable");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(STAGED), "{shown}");
    assert!(shown.contains("pipeline 2: red"), "{shown}");
    assert!(shown.contains("test: FAILED"), "{shown}");
    assert!(
        shown.contains("test_greeting: FAILED (expected hello)"),
        "{shown}"
    );
    let (status, _) = garage.web_get(
        "localhost",
        &pool_path(&inst.prefix, &sha256_file(&flaky), "bm-flaky_1.0-1_all.deb"),
    );
    assert_eq!(status, 404);

    // A waiver for a few seconds promotes it, and is in the audit log.
    let out = inst.run(&[
        "gate",
        "waive",
        "--repository",
        "debian/stable",
        "--package",
        "bm-flaky",
        "--check",
        "test",
        "--reason",
        "upstream bug 123, fixed in 1.2",
        "--hours",
        "0.002",
    ]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("pipeline 2: promoted"), "{shown}");
    let (status, _) = garage.web_get(
        "localhost",
        &pool_path(&inst.prefix, &sha256_file(&flaky), "bm-flaky_1.0-1_all.deb"),
    );
    assert_eq!(status, 200, "the waived package is served");
    let audit = text(&inst.run(&["gate", "audit"]));
    assert!(
        audit.contains("cli:tester\twaive\tbm-flaky\ttest until"),
        "{audit}"
    );
    assert!(audit.contains("upstream bug 123"), "{audit}");
    assert!(audit.contains("gate\tpromote\tpipeline 2"), "{audit}");
    let shown = text(&inst.run(&["gate", "pipelines", "2"]));
    assert!(shown.contains("test: waived"), "{shown}");

    // After the expiry, the next version is gated again.
    std::thread::sleep(std::time::Duration::from_millis(7_500));
    let flaky2 = inst.deb("bm-flaky", "1.1-1", "");
    let out = inst.push(&flaky2, "debian/stable");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(STAGED), "{shown}");
    assert!(shown.contains("pipeline 3: red"), "{shown}");
}

#[test]
fn lint_findings_are_recorded_without_blocking_unless_the_policy_says_so() {
    for tool in ["dpkg-deb", "lintian"] {
        require_tool(tool);
    }
    let garage = Garage::start();
    let lint = "[repositories.policy.lint]\ncommand = [\"lintian\", \"{file}\"]\n";
    let blocking = "[repositories.policy.lint]\ncommand = [\"lintian\", \"{file}\"]\nmode = \"block\"\n";
    let inst = Instance::new(&garage, &[("relaxed", lint), ("strict", blocking)]);
    // lintian finds errors in a package without a copyright file or changelog.
    let deb = inst.deb("bm-sloppy", "1.0-1", "");

    let out = inst.push(&deb, "debian/relaxed");
    let shown = text(&out);
    assert!(out.status.success(), "advisory lint blocked: {shown}");
    assert!(shown.contains("pipeline 1: promoted"), "{shown}");
    assert!(shown.contains("lint: failed (advisory)"), "{shown}");
    let details = text(&inst.run(&["gate", "pipelines", "1"]));
    assert!(
        details.contains("no-copyright-file"),
        "lintian's findings are kept: {details}"
    );

    let out = inst.push(&deb, "debian/strict");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(STAGED), "{shown}");
    assert!(shown.contains("pipeline 2: red"), "{shown}");
    assert!(
        shown.contains("lint of bm-sloppy_1.0-1_all.deb failed"),
        "{shown}"
    );
}
