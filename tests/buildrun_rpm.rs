//! An RPM dist-git tree through `buildmaster plan` and `buildmaster buildrun` — the same planner
//! entry, executor, scheduler and builder flow as HaikuPorts (issue 16): the tree of
//! tests/rpm_build.rs (`greet-data`, and `greet`, whose BuildRequires is greet-data), a git checkout
//! bundled to the builders; two real OpenSSH sshd builders on 127.0.0.1 with `toolchain = "rpm"`
//! and `network = "none"`; garage as storage; the results pushed into the instance's RPM repository
//! (`[ports] repository`) and installed by real `dnf` from garage's web endpoint.
//!
//! As in tests/buildrun_debian.rs: buildrun 1 builds greet-data on builder 1 and publishes it;
//! buildrun 2, on builder 2 alone with an empty cache and no copy of greet-data on the master, plans
//! greet alone, its BuildRequires satisfied by the repository's pool file, streamed from the bucket.
//! Needs root (`unshare --net`), rpm's tools and dnf (scripts/install-test-tools.sh).

#[path = "support/foreign_instance.rs"]
#[allow(dead_code)]
mod foreign_instance;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use foreign_instance::{text, BuilderEntry, ForeignInstance};
use rpm_tools::{dnf_install, require_tool, Trust};
use sha2::{Digest, Sha256};
use support::farm::wait_for;
use support::garage::Garage;
use support::sshd::Sshd;

/// What greet prints: greet-data's file, copied into greet's script at build time.
const GREETING: &str = "Hello from greet-data\n";

/// The repository both buildruns push into.
const SETTINGS: &str = "kind = \"rpm\"\nrepository = \"el/9/x86_64\"\n\
    [[repositories]]\nid = \"el/9/x86_64\"\nroot = \"rpm/el/9/x86_64\"\n\
    [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n";

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn rpm_builder(work: &Path) -> String {
    format!(
        "toolchain = \"rpm\"\n[builders.rpm]\nwork_base = \"{}/work\"\n",
        work.display()
    )
}

/// The instance of these tests: the tree of tests/rpm_build.rs without its network probe, in `dir`.
fn rpm_instance(garage: &Garage, dir: &Path) -> ForeignInstance {
    for tool in ["rpmspec", "rpmbuild", "rpm", "dnf", "unshare"] {
        require_tool(tool);
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm-tree");
    ForeignInstance::new(garage, dir, &fixture, &["greet-data", "greet"])
}

/// Real `dnf install greet` into a fresh root under `dir`, from `inst`'s repository on garage's web
/// endpoint, installs greet and greet-data, and greet prints the greeting; `context` is shown on
/// failure.
fn dnf_installs_greet(garage: &Garage, inst: &ForeignInstance, dir: &Path, context: &str) {
    let baseurl = format!("{}/{}/rpm/el/9/x86_64", garage.web_endpoint(), inst.prefix);
    let trust = Trust {
        gpgcheck: false,
        repo_gpgcheck: false,
        key: None,
    };
    let out = dnf_install(dir, &baseurl, &trust, "greet");
    assert!(
        out.status.success(),
        "dnf install greet: {}\n{context}",
        text(&out)
    );
    let printed = Command::new("sh")
        .arg(dir.join("root/usr/bin/greet"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&printed.stdout), GREETING);
}

#[test]
fn an_rpm_tree_builds_through_buildrun_and_dnf_installs_it() {
    let garage = Garage::start();
    let temp = tempfile::tempdir().unwrap();
    let inst = rpm_instance(&garage, temp.path());
    let (b1, b2) = (Sshd::start(), Sshd::start());
    let on = |name, sshd| BuilderEntry {
        name,
        sshd,
        toolchain: &rpm_builder,
    };
    let data_rpm = "greet-data-1.0-1.noarch.rpm";

    inst.configure(SETTINGS, &[on("rpm1", &b1)]);
    let plan = inst.ok(&["plan", "--everything"]);
    assert!(
        plan.contains("1. greet-data-1.0-1\n2. greet-2.0-1  (needs: greet-data-1.0-1)"),
        "{plan}"
    );
    let first = inst.ok(&["buildrun", "greet-data"]);
    assert!(first.contains("built: greet-data-1.0-1"), "{first}");
    assert!(
        first.contains(&format!("linked: {data_rpm} -> el/9/x86_64")),
        "{first}"
    );
    let built_sha = sha256(&b1.work.join("cache").join(data_rpm));

    // Buildrun 2 on builder 2 only; the master keeps no copy of greet-data.
    std::fs::remove_file(inst.state().join("packages").join(data_rpm)).unwrap();
    inst.configure(SETTINGS, &[on("rpm2", &b2)]);
    let plan = inst.ok(&["plan", "--everything"]);
    assert!(
        plan.starts_with("1. greet-2.0-1\n") && !plan.contains("\n2. "),
        "{plan}"
    );
    let reads_before = garage.s3_requests("GetObject");
    let second = inst.ok(&["buildrun", "--everything"]);
    assert!(second.contains("built: greet-2.0-1"), "{second}");
    assert!(!second.contains("built: greet-data"), "{second}");

    // Builder-side: greet-data arrived in builder 2's cache with builder 1's bytes, from the bucket,
    // and was never built there.
    assert_eq!(sha256(&b2.work.join("cache").join(data_rpm)), built_sha);
    assert!(b1.work.join("work/results/greet-data").is_dir());
    assert!(!b2.work.join("work/results/greet-data").exists());
    assert!(garage.s3_requests("GetObject") > reads_before);
    assert!(inst
        .build_logs()
        .contains("job manifest recorded: 0 sources, 1 dependencies"));

    // `--update` after a release bump of greet: greet alone again (the `--everything` run recorded
    // the processed revision), greet-data still from the repository.
    let spec = inst.tree.join("greet/greet.spec");
    let text_of_spec = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text_of_spec.replace("Release:        1", "Release:        2"),
    )
    .unwrap();
    let commit = Command::new("git")
        .arg("-C")
        .arg(&inst.tree)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
        .args(["commit", "-q", "-am", "greet 2.0-2"])
        .status()
        .unwrap();
    assert!(commit.success());
    let third = inst.ok(&["buildrun", "--update", "--no-publish"]);
    assert!(third.contains("built: greet-2.0-2"), "{third}");
    assert!(!third.contains("built: greet-data"), "{third}");
    assert!(third.contains("processed revision"), "{third}");
    assert!(!third.contains("linked:"), "{third}");
    // Nothing changed since: nothing to build (exit 3), and the package left in the spool is pushed.
    let fourth = inst.buildmaster(&["buildrun", "--update"]);
    let printed = text(&fourth);
    assert_eq!(fourth.status.code(), Some(3), "{printed}");
    assert!(printed.contains("nothing to do"), "{printed}");
    assert!(
        printed.contains("linked: greet-2.0-2.noarch.rpm -> el/9/x86_64"),
        "{printed}"
    );

    // Real dnf installs both from garage's web endpoint.
    dnf_installs_greet(&garage, &inst, &temp.path().join("dnf"), "");
}

/// A running `buildmaster serve`, stopped (SIGTERM, then waited for) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_daemon_builds_an_rpm_tree_and_pushes_it_into_the_repository() {
    let garage = Garage::start();
    let temp = tempfile::tempdir().unwrap();
    let inst = rpm_instance(&garage, temp.path());
    let sshd = Sshd::start();
    let builder = BuilderEntry {
        name: "rpm1",
        sshd: &sshd,
        toolchain: &rpm_builder,
    };
    inst.configure(SETTINGS, &[builder]);
    // The daemon's first job on a fresh instance is `--everything`, then its publish step.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let log = temp.path().join("serve.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_buildmaster"))
            .arg("--state-dir")
            .arg(inst.state())
            .arg("--storage-backend-config")
            .arg(temp.path().join("storage.json"))
            .args(["serve", "--listen", &address])
            .env_remove("BUILDMASTER_CONFIG")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap(),
    );
    let repomd = format!("/{}/rpm/el/9/x86_64/repodata/repomd.xml", inst.prefix);
    wait_for(
        "the daemon's push to publish the repository",
        Duration::from_secs(300),
        || (garage.web_get("localhost", &repomd).0 == 200).then_some(()),
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    drop(daemon);
    let served_log = std::fs::read_to_string(&log).unwrap_or_default();
    dnf_installs_greet(&garage, &inst, &temp.path().join("dnf"), &served_log);
}
