//! A Debian recipe tree through `buildmaster plan` and `buildmaster buildrun` — the same planner
//! entry, executor, scheduler and builder flow as HaikuPorts (issue 16): the tree of
//! tests/debian_build.rs (`libgreet`, and `hello-greet`, which build-depends on it), a git checkout
//! bundled to the builders; two real OpenSSH sshd builders on 127.0.0.1 configured in
//! `[[builders]]` with `toolchain = "dpkg"` and `network = "none"`; garage as storage; the results
//! pushed into the instance's Debian repository (`[ports] repository`) and installed by real
//! `apt-get` from garage's web endpoint.
//!
//! The first buildrun builds libgreet on builder 1 only and publishes it. The second runs on
//! builder 2 only: libgreet is now served, so the plan has hello-greet alone, its build dependency
//! satisfied by the repository's pool file — which the master no longer has a copy of — and
//! streamed from the bucket into builder 2's empty cache. Needs root and the build root tarball
//! from scripts/install-test-tools.sh.

#[path = "support/apt_root.rs"]
mod apt_root;
#[path = "support/foreign_instance.rs"]
#[allow(dead_code)]
mod foreign_instance;
mod support;

use std::path::Path;
use std::process::Command;

use apt_root::{root_tarball, AptRoot};
use foreign_instance::{BuilderEntry, ForeignInstance};
use sha2::{Digest, Sha256};
use support::garage::Garage;
use support::sshd::Sshd;

fn host_architecture() -> String {
    let out = Command::new("dpkg").arg("--print-architecture").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The tree of tests/debian_build.rs without its network probe, with a signed Debian repository
/// `debian/bookworm` (the signing key and its public half in `dir`).
fn debian_instance(garage: &Garage, dir: &Path, tarball: &Path) -> (ForeignInstance, String) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-tree");
    let inst = ForeignInstance::new(garage, dir, &fixture, &["libgreet", "hello-greet"]);
    let key = dir.join("signing.asc");
    let armored =
        buildmaster::formats::signing::generate_ed25519_armored("buildrun test <b@example.invalid>");
    std::fs::write(&key, armored.unwrap()).unwrap();
    let signer = buildmaster::formats::signing::OpenPgpSigner::from_file(&key).unwrap();
    std::fs::write(dir.join("signing.gpg"), signer.public_key_binary().unwrap()).unwrap();
    let host = host_architecture();
    let settings = format!(
        "kind = \"debian\"\nrepository = \"debian/bookworm\"\n\
         [ports.debian]\nbase_tarball = \"{tarball}\"\narchitecture = \"{host}\"\n\
         [[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\nsigning_key = \"{key}\"\n\
         [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"{host}\"]\n",
        tarball = tarball.display(),
        key = key.display(),
    );
    (inst, settings)
}

/// A Debian builder's toolchain lines, the root tarball at `tarball`.
fn dpkg(tarball: &Path) -> impl Fn(&Path) -> String + '_ {
    move |work: &Path| {
        format!(
            "toolchain = \"dpkg\"\n[builders.dpkg]\nroot_tarball = \"{}\"\nwork_base = \"{}/work\"\n",
            tarball.display(),
            work.display()
        )
    }
}

#[test]
fn a_debian_tree_builds_through_buildrun_and_apt_installs_it() {
    let tarball = root_tarball();
    let garage = Garage::start();
    let temp = tempfile::tempdir().unwrap();
    let (inst, settings) = debian_instance(&garage, temp.path(), &tarball);
    let (b1, b2) = (Sshd::start(), Sshd::start());
    let toolchain = dpkg(&tarball);
    let libgreet_deb = "libgreet_1.0-1_all.deb";
    let hello_deb = format!("hello-greet_2.1-1_{}.deb", host_architecture());

    // The plan: hello-greet after libgreet, whose package the tree builds.
    let on = |name, sshd| BuilderEntry {
        name,
        sshd,
        toolchain: &toolchain,
    };
    inst.configure(&settings, &[on("deb1", &b1)]);
    let plan = inst.ok(&["plan", "--everything"]);
    assert!(
        plan.contains("1. libgreet-1.0-1\n2. hello-greet-2.1-1  (needs: libgreet-1.0-1)"),
        "{plan}"
    );

    // Buildrun 1 on builder 1: libgreet, pushed into debian/bookworm.
    let first = inst.ok(&["buildrun", "libgreet"]);
    assert!(first.contains("built: libgreet-1.0-1"), "{first}");
    assert!(
        first.contains(&format!("linked: {libgreet_deb} -> debian/bookworm")),
        "{first}"
    );
    assert!(!first.contains("hello-greet"), "{first}");
    let libgreet_sha = sha256(&b1.work.join("cache").join(libgreet_deb));

    // Buildrun 2 on builder 2 only, whose cache is empty; the master keeps no copy of libgreet.
    std::fs::remove_file(inst.state().join("packages").join(libgreet_deb)).unwrap();
    inst.configure(&settings, &[on("deb2", &b2)]);
    let plan = inst.ok(&["plan", "--everything"]);
    assert!(
        plan.starts_with("1. hello-greet-2.1-1\n") && !plan.contains("\n2. "),
        "{plan}"
    );
    let reads_before = garage.s3_requests("GetObject");
    let second = inst.ok(&["buildrun", "--everything"]);
    assert!(second.contains("built: hello-greet-2.1-1"), "{second}");
    assert!(!second.contains("built: libgreet"), "{second}");
    assert!(
        second.contains(&format!("linked: {hello_deb} -> debian/bookworm")),
        "{second}"
    );

    // Builder-side evidence that libgreet reached builder 2 from the bucket and was not built there:
    // its cache holds libgreet with the bytes builder 1 built; builder 2 never had a libgreet build
    // (builder 1's results directory for it shows where one would be); the bucket was read.
    let streamed = b2.work.join("cache").join(libgreet_deb);
    assert_eq!(sha256(&streamed), libgreet_sha, "libgreet in builder 2's cache");
    assert!(b1.work.join("work/results/libgreet").is_dir());
    assert!(!b2.work.join("work/results/libgreet").exists());
    assert!(!b2.work.join("work/build/libgreet").exists());
    assert!(garage.s3_requests("GetObject") > reads_before);
    let logs = inst.build_logs();
    assert!(
        logs.contains("job manifest recorded: 0 sources, 1 dependencies"),
        "{logs}"
    );

    // A client installs both from garage's web endpoint with real apt-get.
    let url = format!("{}/{}/apt", garage.web_endpoint(), inst.prefix);
    let client = AptRoot::new(
        &tarball,
        &temp.path().join("install-root"),
        &url,
        "bookworm",
        &temp.path().join("signing.gpg"),
    );
    let install = client.install("hello-greet");
    assert!(install.contains("Setting up libgreet (1.0-1)"), "{install}");
    let greeting = client.run(&["/usr/bin/hello-greet"]);
    assert!(
        greeting.contains("Hello from libgreet, built without a network.\n"),
        "{greeting}"
    );
}

#[test]
fn a_builder_whose_toolchain_cannot_build_the_tree_is_refused_by_name() {
    let temp = tempfile::tempdir().unwrap();
    let tarball = Path::new("/nonexistent/root.tar");
    let (inst, settings) = debian_instance(Garage::shared(), temp.path(), tarball);
    let sshd = Sshd::start();
    let with = |toolchain: &dyn Fn(&Path) -> String| {
        inst.configure(
            &settings,
            &[BuilderEntry {
                name: "deb1",
                sshd: &sshd,
                toolchain,
            }],
        )
    };
    let everything = ["buildrun", "--everything"];
    // Another toolchain's table left in place: named, with the builder.
    with(&|work| dpkg(tarball)(work).replace("toolchain = \"dpkg\"", "toolchain = \"rpm\""));
    let expected = ["builder deb1", "[builders.dpkg] is set but toolchain = \"rpm\""];
    inst.refused(&everything, &expected);
    // No toolchain (HaikuPorter) for a Debian tree.
    with(&|_| String::new());
    let expected = [
        "builder deb1",
        "kind = \"debian\" needs [[builders]] with toolchain = \"dpkg\"",
    ];
    inst.refused(&everything, &expected);
    // An unknown toolchain.
    with(&|_| "toolchain = \"sbuild\"\n".into());
    let expected = ["builder deb1", "toolchain = \"sbuild\" is not a build tool"];
    inst.refused(&everything, &expected);
}
