//! Tests on a builder (issue 15), RPM's convention — tmt plans in an fmf tree — end to end: a
//! gated instance (garage: a served bucket, a private staging bucket) whose RPM repository's policy
//! runs `[repositories.policy.test] on = "builder"` on a real sshd builder on 127.0.0.1; the RPMs
//! are built here with real `rpmbuild`, installed there with real `rpm --root` into a fresh root
//! unpacked from the build root tarball of scripts/install-test-tools.sh.
//! - `greetlib` and `greeter` (Requires: greetlib >= 1.0) are pushed together; greeter's tree
//!   (`<tests>/greeter/`: `.fmf/version`, `plans/smoke.fmf`, `tests/main.fmf`) has a test that runs
//!   the installed program and probes the network, and a beakerlib test, skipped by name. Both are
//!   promoted. From the builder side: the tests' cache and the root hold the pushed bytes
//!   (SHA-256), the root's rpmdb has greeter and greetlib installed with the pushed files' header
//!   digests, the probe found 127.0.0.1 unreachable while the same probe from here connects.
//! - `badgreeter`, whose test exits 1, stays staged (exit 4, 404 on the web endpoint); its pipeline
//!   names the failed test and its log shows the test's own output.
//!
//! Needs root (chroot, unshare, rpm --root), sshd, rpmbuild and the tarball.

#[path = "support/apt_root.rs"]
#[allow(dead_code)]
mod apt_root;
#[path = "support/builder_test_instance.rs"]
mod builder_test_instance;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
mod support;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use apt_root::root_tarball;
use builder_test_instance::{BuilderTestInstance, BuilderTestPaths};
use rpm_tools::{build_spec, require_tool, run};
use sha2::{Digest, Sha256};
use support::garage::Garage;
use support::sshd::Sshd;

/// Exit status of a push whose packages stay staged.
const STAGED: i32 = 4;
/// The RPM repository.
const REPOSITORY: &str = "el/9/x86_64";

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A noarch RPM built by `rpmbuild` under `top`: `name` 1.0-1 with `files` (path, contents, mode)
/// and the extra preamble `requires`. No automatic requirements: what it needs is what it says.
fn rpm(top: &Path, name: &str, requires: &str, files: &[(&str, &str, &str)]) -> PathBuf {
    let mut install = String::new();
    let mut listed = String::new();
    for (path, contents, mode) in files {
        install.push_str(&format!(
            "mkdir -p %{{buildroot}}$(dirname {path})\nprintf '%%s' '{contents}' > %{{buildroot}}{path}\n\
             chmod {mode} %{{buildroot}}{path}\n"
        ));
        listed.push_str(&format!("{path}\n"));
    }
    let spec = format!(
        "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: {name}, a builder-test package\nLicense: MIT\n\
         BuildArch: noarch\nAutoReqProv: no\n{requires}\n%description\nFor buildmaster's gate.\n\
         %install\n{install}\n%files\n{listed}"
    );
    std::fs::create_dir_all(top).unwrap();
    build_spec(top, name, &spec);
    top.join(format!("RPMS/noarch/{name}-1.0-1.noarch.rpm"))
}

/// Writes the files of an fmf tree for source `source` under `tests` (`.fmf/version` included).
fn tree(tests: &Path, source: &str, files: &[(&str, &str)]) {
    let root = tests.join(source);
    for (path, contents) in [(".fmf/version", "1\n")].iter().chain(files) {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }
}

/// The gated instance with the RPM repository, its tests on builder `rpm-1`.
struct Instance(BuilderTestInstance);

impl Instance {
    /// A gated instance with the RPM repository, its tests on builder `rpm-1` (`sshd`).
    fn new(garage: &Garage, sshd: &Sshd, tests: &Path, work_dir: &Path) -> Self {
        let repository = format!(
            "[[repositories]]\nid = \"{REPOSITORY}\"\nroot = \"rpm/{REPOSITORY}\"\n\
             [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n"
        );
        let paths = BuilderTestPaths {
            tests,
            root_tarball: &root_tarball(),
            work_dir,
        };
        Self(BuilderTestInstance::new(
            garage,
            sshd,
            "rpm-1",
            &repository,
            &paths,
        ))
    }

    fn run(&self, args: &[&str]) -> Output {
        self.0.run(args)
    }

    fn push(&self, rpms: &[&Path]) -> Output {
        self.0.push(rpms, REPOSITORY)
    }

    /// Whether the served bucket's web endpoint serves `rpm` at its pool URL
    /// (`rpm-pool/<2 hex>/<sha256>/<file>`).
    fn served(&self, garage: &Garage, rpm: &Path) -> bool {
        let sha256 = sha256_file(rpm);
        let file = rpm.file_name().unwrap().to_str().unwrap();
        let path = format!("/{}/rpm-pool/{}/{sha256}/{file}", self.0.prefix, &sha256[..2]);
        garage.web_get("localhost", &path).0 == 200
    }
}

/// `rpm` run against the test root's rpmdb; its stdout, or `None` when rpm fails.
fn root_rpm(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"])
        .args(args)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The SHA-256 of `file`'s RPM header, as rpm reads it.
fn header_digest(file: &Path) -> String {
    let out = run(
        Command::new("rpm")
            .args(["-qp", "--qf", "%{SHA256HEADER}"])
            .arg(file),
        true,
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_rpm_whose_tmt_tests_pass_on_the_builder_is_promoted_and_one_whose_test_fails_stays_staged() {
    require_tool("rpmbuild");
    let tarball = root_tarball();
    assert!(tarball.is_file());
    let garage = Garage::start();
    let sshd = Sshd::start();
    let temp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    // The packages: greeter's program reads greetlib's file.
    let top = temp.path().join("rpmbuild");
    let greetlib = rpm(
        &top,
        "greetlib",
        "",
        &[("/usr/share/greetlib/greeting", "Hello from greetlib", "0644")],
    );
    let greeter = rpm(
        &top,
        "greeter",
        "Requires: greetlib >= 1.0\n",
        &[(
            "/usr/bin/greeter",
            "#!/bin/sh\ncat /usr/share/greetlib/greeting\n",
            "0755",
        )],
    );
    let badgreeter = rpm(
        &top,
        "badgreeter",
        "",
        &[("/usr/bin/badgreeter", "#!/bin/sh\nexit 0\n", "0755")],
    );

    // The tests trees, keyed by source RPM name (each package is its own source here).
    let tests = temp.path().join("tests");
    let probe = format!(
        "#!/bin/bash\necho \"greeter says: $(greeter)\"\n\
         if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo 'network: reachable'; \
         else echo 'network: unreachable'; fi\n\
         echo \"greeting mode: $GREETING_MODE, data in $TMT_TEST_DATA\"\n\
         test \"$(greeter)\" = 'Hello from greetlib'\n"
    );
    tree(
        &tests,
        "greeter",
        &[
            (
                "plans/smoke.fmf",
                "summary: smoke\ndiscover:\n  how: fmf\n  test: ^/tests/\nexecute:\n  how: tmt\n\
                 environment:\n  GREETING_MODE: plain\n",
            ),
            (
                "tests/main.fmf",
                "duration: 2m\n/greets:\n  summary: greeter greets\n  test: bash ./greets.sh\n  \
                 require: [greetlib]\n/beaker:\n  test: ./runtest.sh\n  framework: beakerlib\n",
            ),
            ("tests/greets.sh", &probe),
            ("README", "not a test\n"),
        ],
    );
    tree(
        &tests,
        "badgreeter",
        &[(
            "fails.fmf",
            "test: \"echo 'badgreeter test output: expected a greeting, got none'; exit 1\"\n",
        )],
    );

    let work_dir = sshd.work.join("gate-tests");
    let inst = Instance::new(&garage, &sshd, &tests, &work_dir);

    // Pushed together: greeter's test finds greetlib installed from the same push, and passes.
    let started = std::time::Instant::now();
    let pushed = inst.push(&[&greetlib, &greeter]);
    eprintln!(
        "push with greeter's tmt tests on the builder: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let out = text(&pushed);
    assert_eq!(pushed.status.code(), Some(0), "{out}");
    assert!(inst.served(&garage, &greeter), "greeter is not served: {out}");
    assert!(inst.served(&garage, &greetlib), "greetlib is not served: {out}");
    let shown = text(&inst.run(&["gate", "pipelines", "1"]));
    eprintln!("{shown}");
    assert!(
        shown.contains("greeter says: Hello from greetlib"),
        "the test's own output: {shown}"
    );
    assert!(
        shown.contains("greeting mode: plain"),
        "the plan's environment: {shown}"
    );
    assert!(shown.contains("/tests/greets PASS"), "{shown}");
    assert!(
        shown.contains("/tests/beaker SKIP framework"),
        "a beakerlib test is skipped by name: {shown}"
    );
    assert!(shown.contains("no tests: source greetlib has no"), "{shown}");

    // From the builder side: the streamed bytes are the pushed ones, and the root's rpmdb has them
    // installed (the header digests are the pushed files').
    let root = work_dir.join("run/root");
    for file in [&greeter, &greetlib] {
        let name = file.file_name().unwrap().to_str().unwrap();
        let cached = work_dir.join("cache").join(name);
        assert_eq!(
            sha256_file(&cached),
            sha256_file(file),
            "{name} in the builder's tests cache"
        );
        let in_root = root.join("test-rpms").join(name);
        assert_eq!(sha256_file(&in_root), sha256_file(file), "{name} as installed");
        let package = name.split("-1.0").next().unwrap();
        let installed = root_rpm(&root, &["-q", "--qf", "%{SHA256HEADER}", package]);
        assert_eq!(
            installed.as_deref(),
            Some(header_digest(file).as_str()),
            "{package} in the root's rpmdb"
        );
    }
    // No network: the probe inside the test found 127.0.0.1 unreachable, nothing connected; the
    // same probe from here connects, so the probe works.
    assert!(shown.contains("network: unreachable"), "{shown}");
    assert!(listener.accept().is_err(), "a test connected to 127.0.0.1:{port}");
    let outside = Command::new("bash")
        .args([
            "-c",
            "exec 3<>\"/dev/tcp/127.0.0.1/$1\"",
            "probe",
            &port.to_string(),
        ])
        .status()
        .unwrap();
    assert!(outside.success(), "the probe cannot connect even outside a test");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (mut conn, _) = listener.accept().expect("the outside probe's connection");
    let _ = conn.read(&mut [0u8; 1]);

    // A failing test keeps its package staged, with the test's own output in the log.
    let pushed = inst.push(&[&badgreeter]);
    let out = text(&pushed);
    assert_eq!(pushed.status.code(), Some(STAGED), "{out}");
    assert!(
        !inst.served(&garage, &badgreeter),
        "a red package is served: {out}"
    );
    let shown = text(&inst.run(&["gate", "pipelines", "2"]));
    assert!(shown.contains("/fails FAIL exit status 1"), "{shown}");
    assert!(
        shown.contains("badgreeter test output: expected a greeting, got none"),
        "{shown}"
    );
    assert!(
        root_rpm(&root, &["-q", "badgreeter"]).is_some(),
        "badgreeter was installed"
    );
    assert!(
        root_rpm(&root, &["-q", "greeter"]).is_none(),
        "each package gets a fresh root"
    );

    let purge = Command::new("rm")
        .args(["-rf", "--one-file-system"])
        .arg(&work_dir)
        .status()
        .unwrap();
    assert!(purge.success());
}
