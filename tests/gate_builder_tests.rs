//! Tests on a builder (issue 15, "tests … run on a builder with the staged package installed"),
//! Debian's convention, end to end: a gated instance (garage: a served bucket, a private staging
//! bucket) whose policy runs `[repositories.policy.test] on = "builder"` on a real sshd builder on
//! 127.0.0.1, in the mmdebstrap bookworm build root of scripts/install-test-tools.sh.
//! - `greetlib` and `greeter` (Depends: greetlib) are pushed together; greeter's
//!   `debian/tests/control` (from the tests tree, keyed by source package) has a file test that
//!   runs the installed program and probes the network, a `Test-Command`, and a test with
//!   `needs-internet`, which is skipped by name. Both are promoted. From the builder side: the
//!   tests' cache holds the pushed bytes (SHA-256), the test root's dpkg database has greeter and
//!   greetlib installed, the probe found 127.0.0.1 unreachable and the test-owned listener got no
//!   connection; the check's log has the test's own output.
//! - `badgreeter`, whose test fails, stays staged (exit 4, 404 on the web endpoint); its pipeline
//!   names the failed test and its log shows the test's own output.
//! - `hello-greet` (Depends: greeter), pushed alone once greeter and greetlib are served: its test
//!   gets them from the repository — streamed from the served bucket into the builder's cache, which
//!   then holds their promoted SHA-256 — runs greeter's program and passes. With greetlib's pool
//!   file withheld (removed from the bucket and the cache), the next hello-greet's test cannot get
//!   it and fails naming it.
//!
//! Needs root (chroot, unshare), sshd and the tarball.

#[path = "support/apt_root.rs"]
#[allow(dead_code)]
mod apt_root;
#[path = "support/builder_test_instance.rs"]
mod builder_test_instance;
#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
mod support;

use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use apt_root::root_tarball;
use builder_test_instance::{BuilderTestInstance, BuilderTestPaths};
use debian_tools::output_text;
use sha2::{Digest, Sha256};
use support::garage::Garage;
use support::sshd::Sshd;

/// Exit status of a push whose packages stay staged.
const STAGED: i32 = 4;

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A `.deb` built by `dpkg-deb` from `control` and `files` (path in the package, contents, mode).
fn deb(dir: &Path, control: &str, files: &[(&str, &str, u32)]) -> PathBuf {
    let name = control.lines().find_map(|l| l.strip_prefix("Package: ")).unwrap();
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    for (path, contents, mode) in files {
        let file = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, contents).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let out = dir.join(format!("{name}.deb"));
    let built = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&root)
        .arg(&out)
        .output()
        .unwrap();
    assert!(built.status.success(), "dpkg-deb: {}", output_text(&built));
    out
}

fn control(name: &str, depends: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\n{depends}\
         Section: misc\nPriority: optional\nDescription: a builder-test package\n For buildmaster's gate.\n"
    )
}

/// Writes `<tree>/<source>/debian/tests/control` and the test files.
fn tests_for(tree: &Path, source: &str, control: &str, files: &[(&str, &str)]) {
    let dir = tree.join(source).join("debian/tests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("control"), control).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// The gated instance with `debian/bookworm` (signed), its tests on builder `debian-1`.
struct Instance {
    inst: BuilderTestInstance,
    /// Holds the signing key.
    _keys: tempfile::TempDir,
}

impl Instance {
    /// A gated instance with `debian/bookworm`, its tests on builder `debian-1` (`sshd`).
    fn new(garage: &Garage, sshd: &Sshd, tests: &Path, work_dir: &Path) -> Self {
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("signing.asc");
        let armored =
            buildmaster::formats::signing::generate_ed25519_armored("t <t@example.invalid>").unwrap();
        std::fs::write(&key, armored).unwrap();
        let repository = format!(
            "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\nsigning_key = \"{key}\"\n\
             [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"all\"]\n",
            key = key.display(),
        );
        let paths = BuilderTestPaths {
            tests,
            root_tarball: &root_tarball(),
            work_dir,
        };
        let inst = BuilderTestInstance::new(garage, sshd, "debian-1", &repository, &paths);
        Self { inst, _keys: keys }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.inst.run(args)
    }

    fn push(&self, debs: &[&Path]) -> Output {
        self.inst.push(debs, "debian/bookworm")
    }

    /// Whether the served bucket's web endpoint serves `deb` at its pool URL
    /// (`pool/<2 hex>/<sha256>/<file>`).
    fn served(&self, garage: &Garage, deb: &Path, file: &str) -> bool {
        let sha256 = sha256_file(deb);
        let path = format!("/{}/apt/pool/{}/{sha256}/{file}", self.inst.prefix, &sha256[..2]);
        garage.web_get("localhost", &path).0 == 200
    }
}

/// A line of the test root's dpkg status for `package`: its `Status`.
fn installed_status(root: &Path, package: &str) -> Option<String> {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    status
        .split("\n\n")
        .find(|stanza| stanza.lines().any(|l| l == format!("Package: {package}")))
        .and_then(|stanza| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix("Status: "))
                .map(str::to_owned)
        })
}

#[test]
fn a_package_whose_tests_pass_on_the_builder_is_promoted_and_one_whose_test_fails_stays_staged() {
    let tarball = root_tarball();
    assert!(tarball.is_file());
    let garage = Garage::start();
    let sshd = Sshd::start();
    let temp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    // The packages: greeter's program reads greetlib's file.
    let debs = temp.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let greetlib = deb(
        &debs,
        &control("greetlib", ""),
        &[("/usr/share/greetlib/greeting", "Hello from greetlib\n", 0o644)],
    );
    let greeter = deb(
        &debs,
        &control("greeter", "Depends: greetlib (>= 1.0)\n"),
        &[(
            "/usr/bin/greeter",
            "#!/bin/sh\ncat /usr/share/greetlib/greeting\n",
            0o755,
        )],
    );
    let badgreeter = deb(
        &debs,
        &control("badgreeter", ""),
        &[("/usr/bin/badgreeter", "#!/bin/sh\nexit 0\n", 0o755)],
    );

    // The tests tree, keyed by source package (here each package is its own source).
    let tests = temp.path().join("tests");
    let probe = format!(
        "#!/bin/bash\necho \"greeter says: $(greeter)\"\n\
         if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo 'network: reachable'; \
         else echo 'network: unreachable'; fi\n\
         test \"$(greeter)\" = 'Hello from greetlib'\n"
    );
    tests_for(
        &tests,
        "greeter",
        "Tests: greets\nDepends: @, greetlib\n\n\
         Test-Command: greeter | grep -q greetlib\nRestrictions: superficial\n\n\
         Test-Command: apt-get update\nRestrictions: needs-internet\n",
        &[("greets", &probe)],
    );
    tests_for(
        &tests,
        "badgreeter",
        "Tests: fails\n",
        &[(
            "fails",
            "#!/bin/sh\necho 'badgreeter test output: expected a greeting, got none'\nexit 3\n",
        )],
    );

    let work_dir = sshd.work.join("gate-tests");
    let inst = Instance::new(&garage, &sshd, &tests, &work_dir);

    // Pushed together: greeter's tests install greetlib from the same push, and pass.
    let started = std::time::Instant::now();
    let pushed = inst.push(&[&greetlib, &greeter]);
    eprintln!(
        "push with greeter's tests on the builder: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let text = output_text(&pushed);
    assert_eq!(pushed.status.code(), Some(0), "{text}");
    assert!(
        inst.served(&garage, &greeter, "greeter_1.0_all.deb"),
        "greeter is not served: {text}"
    );
    assert!(
        inst.served(&garage, &greetlib, "greetlib_1.0_all.deb"),
        "greetlib is not served: {text}"
    );
    let shown = output_text(&inst.run(&["gate", "pipelines", "1"]));
    assert!(
        shown.contains("greeter says: Hello from greetlib"),
        "the test's own output: {shown}"
    );
    assert!(
        shown.contains("greets PASS") && shown.contains("command1 PASS"),
        "{shown}"
    );
    assert!(
        shown.contains("command2 SKIP restriction needs-internet"),
        "a test needing the network is skipped by name: {shown}"
    );
    assert!(shown.contains("no tests: source greetlib has no"), "{shown}");

    // From the builder side: the streamed bytes are the pushed ones, and the test root had them
    // installed with dpkg.
    for file in [&greeter, &greetlib] {
        let name = format!("{}_1.0_all.deb", file.file_stem().unwrap().to_str().unwrap());
        let cached = work_dir.join("cache").join(&name);
        assert_eq!(
            sha256_file(&cached),
            sha256_file(file),
            "{name} in the builder's tests cache"
        );
        let in_root = work_dir.join("run/root/test-debs").join(&name);
        assert_eq!(sha256_file(&in_root), sha256_file(file), "{name} as installed");
    }
    let root = work_dir.join("run/root");
    for package in ["greeter", "greetlib"] {
        assert_eq!(
            installed_status(&root, package).as_deref(),
            Some("install ok installed")
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
    let started = std::time::Instant::now();
    let pushed = inst.push(&[&badgreeter]);
    eprintln!(
        "push with badgreeter's tests on the builder: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let text = output_text(&pushed);
    assert_eq!(pushed.status.code(), Some(STAGED), "{text}");
    assert!(
        !inst.served(&garage, &badgreeter, "badgreeter_1.0_all.deb"),
        "a red package is served: {text}"
    );
    let shown = output_text(&inst.run(&["gate", "pipelines", "2"]));
    assert!(shown.contains("fails FAIL non-zero exit status 3"), "{shown}");
    assert!(
        shown.contains("badgreeter test output: expected a greeting, got none"),
        "{shown}"
    );
    assert_eq!(
        installed_status(&root, "badgreeter").as_deref(),
        Some("install ok installed")
    );

    // hello-greet, pushed alone, needs greeter (and through it greetlib), both already served: they
    // come from the repository, streamed from the served bucket into the tests' cache (badgreeter's
    // run left only badgreeter there), and its test runs greeter's program.
    let hello = deb(
        &debs,
        &control("hello-greet", "Depends: greeter\n"),
        &[(
            "/usr/bin/hello-greet",
            "#!/bin/sh\necho \"hello-greet: $(greeter)\"\n",
            0o755,
        )],
    );
    tests_for(
        &tests,
        "hello-greet",
        "Tests: says-hello\n",
        &[(
            "says-hello",
            "#!/bin/sh\nhello-greet\ntest \"$(hello-greet)\" = 'hello-greet: Hello from greetlib'\n",
        )],
    );
    let pushed = inst.push(&[&hello]);
    let text = output_text(&pushed);
    assert_eq!(pushed.status.code(), Some(0), "{text}");
    assert!(
        inst.served(&garage, &hello, "hello-greet_1.0_all.deb"),
        "hello-greet is not served: {text}"
    );
    let shown = output_text(&inst.run(&["gate", "pipelines", "3"]));
    assert!(
        shown.contains("already served, from the repository: greeter_1.0_all.deb, greetlib_1.0_all.deb"),
        "{shown}"
    );
    assert!(
        shown.contains("hello-greet: Hello from greetlib") && shown.contains("says-hello PASS"),
        "{shown}"
    );
    for (file, name) in [
        (&greeter, "greeter_1.0_all.deb"),
        (&greetlib, "greetlib_1.0_all.deb"),
    ] {
        assert!(inst.served(&garage, file, name), "{name} is served");
        assert_eq!(
            sha256_file(&work_dir.join("cache").join(name)),
            sha256_file(file),
            "{name} in the builder's tests cache is the promoted bytes"
        );
    }
    assert_eq!(
        installed_status(&root, "greetlib").as_deref(),
        Some("install ok installed")
    );

    // Withheld: greetlib's pool file gone from the served bucket and from the builder's cache, the
    // next hello-greet's test cannot get it and fails naming it; the package stays staged.
    let greetlib_sha = sha256_file(&greetlib);
    let key = format!(
        "apt/pool/{}/{greetlib_sha}/greetlib_1.0_all.deb",
        &greetlib_sha[..2]
    );
    let removed = inst.run(&["storage", "rm", &key]);
    assert!(removed.status.success(), "{}", output_text(&removed));
    assert!(!inst.served(&garage, &greetlib, "greetlib_1.0_all.deb"));
    std::fs::remove_file(work_dir.join("cache/greetlib_1.0_all.deb")).unwrap();
    let debs_next = temp.path().join("debs-next");
    std::fs::create_dir_all(&debs_next).unwrap();
    let hello_next = deb(
        &debs_next,
        &control("hello-greet", "Depends: greeter\n").replace("Version: 1.0", "Version: 1.1"),
        &[("/usr/bin/hello-greet", "#!/bin/sh\necho hello\n", 0o755)],
    );
    let pushed = inst.push(&[&hello_next]);
    let text = output_text(&pushed);
    assert_eq!(pushed.status.code(), Some(STAGED), "{text}");
    let shown = output_text(&inst.run(&["gate", "pipelines", "4"]));
    assert!(
        shown.contains("streaming the packages to builder debian-1")
            && shown.contains("greetlib_1.0_all.deb"),
        "{shown}"
    );
    assert!(!shown.contains("says-hello PASS"), "{shown}");

    let purge = Command::new("rm")
        .args(["-rf", "--one-file-system"])
        .arg(&work_dir)
        .status()
        .unwrap();
    assert!(purge.success());
}
