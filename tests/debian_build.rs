//! Debian builds with real `dpkg-buildpackage`, driven on this machine (issue 16, acceptance 2, the
//! local half): the fixture tree (tests/fixtures/debian-tree) is read and planned, then every source
//! is built in plan order by the build argument vector a builder runs — the root unpacked from the
//! `mmdebstrap --variant=buildd` tarball, the dependency `.deb`s of earlier builds installed, the
//! build in `unshare --net` + `chroot`. Shows: `hello-greet` builds only with `libgreet`'s package
//! installed (its program prints libgreet's greeting; without the dependency the build stops at
//! `dpkg-checkbuilddeps`); the build cannot open a TCP connection to 127.0.0.1 while the same probe
//! outside the build can; a rebuild in another directory gives byte-identical `.deb`s. Then the
//! publish half: libgreet pushed with `buildmaster push` into a Debian repository in a real garage
//! bucket, fetched back from garage's web endpoint by real `apt-get download` as hello-greet's
//! dependency, hello-greet built and pushed, and installed by real `apt-get install` (into a fresh
//! root unpacked from the same tarball), where it prints the greeting. And through the builder flow
//! on a real sshd builder on 127.0.0.1 with `network = "none"`: libgreet built on one builder and
//! put in a garage bucket, hello-greet built on a second whose cache is empty, libgreet streamed
//! to it from the bucket over SFTP. Needs root and the tarball from scripts/install-test-tools.sh.

#[path = "support/apt_root.rs"]
mod apt_root;
#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
#[path = "support/script_builder.rs"]
mod script_builder;
mod support;

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use apt_root::{root_tarball, AptRoot};
use buildmaster::builders::package::WantedPackage;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::formats::debian::DebianFormat;
use buildmaster::formats::RepositoryFormat;
use buildmaster::toolchains::debian::plan::{installed_from_dpkg_status, plan_tree, Satisfier};
use buildmaster::toolchains::debian::procedure::DebianBuilderPaths;
use buildmaster::toolchains::debian::toolchain::DpkgBuildpackage;
use buildmaster::toolchains::debian::tree::{read_tree, SourcePackage};
use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use buildmaster_storage_s3::S3Backend;
use debian_tools::{output_text, Apt};
use script_builder::LocalBuild;
use sha2::{Digest, Sha256};
use support::garage::Garage;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

fn fixture_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian-tree")
}

fn host_architecture() -> String {
    let out = Command::new("dpkg").arg("--print-architecture").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The packages of the build root, from its dpkg status file (the plan's base).
fn base_packages(tarball: &Path) -> Vec<buildmaster::toolchains::debian::plan::AvailableBinary> {
    let out = Command::new("tar")
        .args(["-x", "-O", "-f"])
        .arg(tarball)
        .arg("./var/lib/dpkg/status")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    installed_from_dpkg_status(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// `paths`' build of `source_dir` run on this machine.
fn build(paths: &DebianBuilderPaths, source_dir: &str) -> LocalBuild {
    let results = paths.dirs().results_dir(source_dir).unwrap();
    script_builder::run_locally(&paths.build_argv(source_dir).unwrap(), &results)
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A file from a `.deb`'s data, unpacked with dpkg-deb under `scratch`; returns its path.
fn file_in_deb(deb: &Path, inside: &str, scratch: &Path) -> PathBuf {
    let dir = scratch.join(deb.file_name().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-deb -x {}: {}",
        deb.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(inside.trim_start_matches('/'))
}

/// A builder's directories under `base`, with `deps` as the job's dependency directory.
fn builder_paths(base: &Path, tree: &Path, tarball: &Path, deps: &Path) -> DebianBuilderPaths {
    DebianBuilderPaths {
        root_tarball: tarball.to_str().unwrap().into(),
        recipe_tree: tree.to_str().unwrap().into(),
        work_base: base.join("work").to_str().unwrap().into(),
        dependencies: deps.to_str().unwrap().into(),
    }
}

#[test]
fn a_tree_builds_in_plan_order_without_network_and_reproducibly() {
    let tarball = root_tarball();
    let host = host_architecture();
    let temp = tempfile::tempdir().unwrap();
    // The tree as a builder holds it, plus the port the network probe will try.
    let tree = temp.path().join("tree");
    let status = Command::new("cp")
        .arg("-a")
        .arg(fixture_tree())
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    std::fs::write(tree.join("netprobe/port"), &port).unwrap();

    let sources = read_tree(&tree).unwrap();
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hello-greet", "libgreet", "netprobe"]);
    let plan = plan_tree(&sources, &host, &base_packages(&tarball), &[]).unwrap();
    let order: Vec<&str> = plan
        .order
        .iter()
        .map(|p| sources[p.source].name.as_str())
        .collect();
    let position = |name| order.iter().position(|n| *n == name).unwrap();
    assert!(position("libgreet") < position("hello-greet"), "{order:?}");
    // hello-greet: libgreet from the tree, gcc from the base (the first alternative), dpkg-dev too.
    let hello_plan = plan
        .order
        .iter()
        .find(|p| sources[p.source].name == "hello-greet")
        .unwrap();
    assert!(matches!(&hello_plan.satisfiers[0], Satisfier::Tree { binary, .. } if binary == "libgreet"));
    assert_eq!(hello_plan.satisfiers[1], Satisfier::Base("gcc".into()));

    // Build in plan order; each build's dependency directory holds exactly its tree dependencies.
    let mut built: HashMap<String, PathBuf> = HashMap::new();
    let mut timings = Vec::new();
    for planned in &plan.order {
        let source = &sources[planned.source];
        let deps = temp.path().join("deps").join(&source.name);
        std::fs::create_dir_all(&deps).unwrap();
        for satisfier in &planned.satisfiers {
            if let Satisfier::Tree { source: from, binary } = satisfier {
                let file = sources[*from].deb_name(binary, &host).unwrap();
                std::fs::copy(&built[&file], deps.join(&file)).unwrap();
            }
        }
        let paths = builder_paths(temp.path(), &tree, &tarball, &deps);
        let result = build(&paths, &source.name);
        assert!(result.ok, "{} failed:\n{}", source.name, result.log);
        timings.push(format!("{} {:.1} s", source.name, result.elapsed.as_secs_f64()));
        for expected in source.expected_debs(&host) {
            let file = result.results.join(&expected);
            // The package's own metadata names it as the tree said it would.
            let inspected = DebianFormat::default().inspect(&file).unwrap();
            assert_eq!(inspected.file_name, expected);
            built.insert(expected, file);
        }
    }
    eprintln!(
        "build times (unpack root, install deps, dpkg-buildpackage): {}",
        timings.join(", ")
    );

    // hello-greet's program prints the greeting it could only have read from libgreet's package.
    let scratch = temp.path().join("extracted");
    let hello = &built[&format!("hello-greet_2.1-1_{host}.deb")];
    let program = file_in_deb(hello, "/usr/bin/hello-greet", &scratch);
    let out = Command::new(&program).output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Hello from libgreet, built without a network.\n"
    );

    // The probe inside the build found 127.0.0.1 unreachable, and nothing connected; the same probe
    // from this process's namespace connects, so the probe itself works.
    let probe = file_in_deb(
        &built["netprobe_1.0-1_all.deb"],
        "/usr/share/netprobe/result",
        &scratch,
    );
    assert_eq!(std::fs::read_to_string(probe).unwrap(), "unreachable\n");
    assert!(
        listener.accept().is_err(),
        "something in a build connected to 127.0.0.1:{port}"
    );
    let outside = Command::new("bash")
        .args(["-c", "exec 3<>\"/dev/tcp/127.0.0.1/$1\"", "probe", &port])
        .status()
        .unwrap();
    assert!(outside.success(), "the probe cannot connect even outside a build");
    std::thread::sleep(Duration::from_millis(200));
    let (mut conn, _) = listener.accept().expect("the outside probe's connection");
    let _ = conn.read(&mut [0u8; 1]);

    // Rebuilt in another work directory: the same bytes (dpkg-buildpackage sets SOURCE_DATE_EPOCH
    // from the changelog; the build path inside the root is the same).
    let libgreet = sources.iter().find(|s| s.name == "libgreet").unwrap();
    let hello_source = sources.iter().find(|s| s.name == "hello-greet").unwrap();
    let deps = temp.path().join("deps/hello-greet");
    let again = builder_paths(&temp.path().join("again"), &tree, &tarball, &deps);
    for source in [libgreet, hello_source] {
        let result = build(&again, &source.name);
        assert!(result.ok, "rebuild of {} failed:\n{}", source.name, result.log);
        for file in source.expected_debs(&host) {
            assert_eq!(
                sha256(&result.results.join(&file)),
                sha256(&built[&file]),
                "{file} differs on rebuild"
            );
        }
    }
    purge_builds(
        &[&again, &builder_paths(temp.path(), &tree, &tarball, &deps)],
        &sources,
    );
}

#[test]
fn without_its_build_dependency_the_build_stops_before_building() {
    let tarball = root_tarball();
    let temp = tempfile::tempdir().unwrap();
    let empty = temp.path().join("no-deps");
    std::fs::create_dir(&empty).unwrap();
    let paths = builder_paths(temp.path(), &fixture_tree(), &tarball, &empty);
    let result = build(&paths, "hello-greet");
    assert!(!result.ok, "hello-greet built without libgreet:\n{}", result.log);
    assert!(
        result.log.contains("Unmet build dependencies: libgreet (>= 1.0)"),
        "{}",
        result.log
    );
    assert!(!result
        .results
        .join(format!("hello-greet_2.1-1_{}.deb", host_architecture()))
        .exists());
    let sources = read_tree(&fixture_tree()).unwrap();
    purge_builds(&[&paths], &sources);
}

/// Runs the purge argument vector of every source's build; the work directories are gone after.
fn purge_builds(builders: &[&DebianBuilderPaths], sources: &[SourcePackage]) {
    for paths in builders {
        for source in sources {
            let argv = paths.dirs().purge_argv(&source.name).unwrap();
            let status = Command::new(&argv[0]).args(&argv[1..]).status().unwrap();
            assert!(status.success());
            assert!(!Path::new(&paths.dirs().work_dir(&source.name).unwrap()).exists());
        }
    }
}

/// A buildmaster state directory with one signed Debian repository, `debian/bookworm`, storing into
/// a prefix of its own in garage's bucket.
struct Instance {
    /// Holds `state/`, `storage.json`, the signing key and its public half.
    dir: PathBuf,
    /// The bucket prefix.
    prefix: String,
}

impl Instance {
    fn new(garage: &Garage, dir: &Path, host: &str) -> Self {
        let prefix = format!("debian-build-{:08x}", fastrand::u32(..));
        let key = dir.join("signing.asc");
        let armored =
            buildmaster::formats::signing::generate_ed25519_armored("build test <b@example.invalid>");
        std::fs::write(&key, armored.unwrap()).unwrap();
        let signer = buildmaster::formats::signing::OpenPgpSigner::from_file(&key).unwrap();
        std::fs::write(dir.join("signing.gpg"), signer.public_key_binary().unwrap()).unwrap();
        std::fs::write(dir.join("storage.json"), garage.storage_json(&prefix)).unwrap();
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let config = format!(
            "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\nsigning_key = \"{}\"\n\
             [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"{host}\"]\n",
            key.display()
        );
        std::fs::write(dir.join("state/buildmaster.toml"), config).unwrap();
        Self {
            dir: dir.to_owned(),
            prefix,
        }
    }

    /// `buildmaster push FILES --to debian/bookworm`.
    fn push(&self, files: &[&Path]) {
        let out = Command::new(BIN)
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .arg("--storage-backend-config")
            .arg(self.dir.join("storage.json"))
            .arg("push")
            .args(files)
            .args(["--to", "debian/bookworm"])
            .env_remove("BUILDMASTER_CONFIG")
            .output()
            .unwrap();
        assert!(out.status.success(), "push: {}", output_text(&out));
    }

    fn url(&self, garage: &Garage) -> String {
        format!("{}/{}/apt", garage.web_endpoint(), self.prefix)
    }
}

/// In a fresh root unpacked from the build root tarball, with `inst`'s repository on garage's web
/// endpoint as its only apt source, real `apt-get install hello-greet` installs it and libgreet, and
/// the program prints the greeting. The root is removed afterwards.
fn install_hello_greet_from(inst: &Instance, garage: &Garage, tarball: &Path, root: &Path) {
    let client = AptRoot::new(
        tarball,
        root,
        &inst.url(garage),
        "bookworm",
        &inst.dir.join("signing.gpg"),
    );
    let install = client.install("hello-greet");
    assert!(
        install.contains("Setting up libgreet (1.0-1)"),
        "apt-get install: {install}"
    );
    let greeting = client.run(&["/usr/bin/hello-greet"]);
    assert!(
        greeting.contains("Hello from libgreet, built without a network.\n"),
        "{greeting}"
    );
}

#[test]
fn built_packages_are_published_and_installed_by_apt_from_garage() {
    let tarball = root_tarball();
    let host = host_architecture();
    let garage = Garage::start();
    let temp = tempfile::tempdir().unwrap();
    let inst = Instance::new(&garage, temp.path(), &host);
    let tree = fixture_tree();
    let empty = temp.path().join("deps/libgreet");
    std::fs::create_dir_all(&empty).unwrap();
    let libgreet = build(&builder_paths(temp.path(), &tree, &tarball, &empty), "libgreet");
    assert!(libgreet.ok, "{}", libgreet.log);
    inst.push(&[&libgreet.results.join("libgreet_1.0-1_all.deb")]);

    // hello-greet's dependency comes from the bucket: real apt-get downloads it from garage's web
    // endpoint into the build's dependency directory.
    let apt = Apt::new(
        &temp.path().join("apt"),
        &inst.url(&garage),
        "bookworm",
        &inst.dir.join("signing.gpg"),
    );
    for args in [&["update"][..], &["download", "libgreet"][..]] {
        let out = apt.run(args);
        assert!(out.status.success(), "apt-get {args:?}: {}", output_text(&out));
    }
    let deps = temp.path().join("deps/hello-greet");
    std::fs::create_dir_all(&deps).unwrap();
    let fetched = apt.download_dir().join("libgreet_1.0-1_all.deb");
    std::fs::copy(&fetched, deps.join("libgreet_1.0-1_all.deb")).unwrap();
    assert_eq!(
        sha256(&fetched),
        sha256(&libgreet.results.join("libgreet_1.0-1_all.deb"))
    );
    let hello = build(&builder_paths(temp.path(), &tree, &tarball, &deps), "hello-greet");
    assert!(hello.ok, "{}", hello.log);
    inst.push(&[&hello.results.join(format!("hello-greet_2.1-1_{host}.deb"))]);

    install_hello_greet_from(&inst, &garage, &tarball, &temp.path().join("install-root"));
    let sources = read_tree(&tree).unwrap();
    purge_builds(&[&builder_paths(temp.path(), &tree, &tarball, &deps)], &sources);
}

/// A Debian builder on the real sshd `sshd`, its directories under `dir`, builds without network.
fn sshd_builder(
    sshd: &support::sshd::Sshd,
    dir: &Path,
    tree: &Path,
    tarball: &Path,
    storage: Arc<dyn StorageBackend>,
) -> RemoteBuilder {
    let paths = script_builder::builder_paths(dir, tree);
    let debian = DebianBuilderPaths {
        root_tarball: script_builder::path_string(tarball),
        recipe_tree: paths.ports_tree.clone(),
        work_base: script_builder::work_base(dir),
        dependencies: paths.packages.clone(),
    };
    let toolchain = Arc::new(DpkgBuildpackage::new(debian, paths.cache.clone()));
    let timeout = Duration::from_secs(900);
    script_builder::sshd_builder(sshd, "debian-1", dir, paths, timeout, toolchain, storage)
}

/// Builds `source` on `builder` with `dependencies`; returns the committed results.
async fn build_over_ssh(
    builder: &mut RemoteBuilder,
    source: &SourcePackage,
    host: &str,
    dependencies: Vec<WantedPackage>,
) -> buildmaster::builders::build::BuildOutcome {
    let results = source.expected_debs(host);
    script_builder::build_over_ssh(builder, &source.name, results, dependencies).await
}

#[tokio::test(flavor = "multi_thread")]
async fn over_a_real_sshd_builder_the_dependency_streams_from_garage() {
    let tarball = root_tarball();
    let host = host_architecture();
    let garage = Garage::start();
    let storage: Arc<dyn StorageBackend> = Arc::new(
        S3Backend::new(&garage.s3_settings("debian-build/"))
            .await
            .unwrap(),
    );
    let sshd = support::sshd::Sshd::start();
    let temp = tempfile::tempdir().unwrap();
    let tree = fixture_tree();
    let sources = read_tree(&tree).unwrap();
    let source = |name: &str| sources.iter().find(|s| s.name == name).unwrap();

    // libgreet on one builder; its package goes to the bucket.
    let mut first = sshd_builder(&sshd, &temp.path().join("b1"), &tree, &tarball, storage.clone());
    let libgreet = build_over_ssh(&mut first, source("libgreet"), &host, Vec::new()).await;
    let [deb] = &libgreet.results[..] else {
        panic!("{:?}", libgreet.results)
    };
    let bytes = std::fs::read(&deb.path).unwrap();
    let key = ObjectKey::new(format!("debs/{}", deb.file_name)).unwrap();
    let options = PutOptions::package(Some(Sha256Digest::of(&bytes)));
    storage.put_bytes(&key, &bytes, &options).await.unwrap();

    // hello-greet on a second builder with an empty cache: libgreet is streamed from garage over SFTP.
    let mut second = sshd_builder(&sshd, &temp.path().join("b2"), &tree, &tarball, storage.clone());
    let dependency = WantedPackage {
        file_name: deb.file_name.clone(),
        size: deb.size,
        sha256: deb.sha256,
        local: None,
        key: Some(key),
        system: false,
    };
    let hello = build_over_ssh(&mut second, source("hello-greet"), &host, vec![dependency]).await;
    assert_eq!(hello.transfer.sent, std::slice::from_ref(&deb.file_name));
    assert_eq!(hello.transfer.bytes, bytes.len() as u64);
    let [hello_deb] = &hello.results[..] else {
        panic!("{:?}", hello.results)
    };
    assert_eq!(hello_deb.file_name, format!("hello-greet_2.1-1_{host}.deb"));

    // Both published with `buildmaster push`, installed by real apt-get from garage's web endpoint.
    let instance_dir = temp.path().join("instance");
    std::fs::create_dir(&instance_dir).unwrap();
    let inst = Instance::new(&garage, &instance_dir, &host);
    inst.push(&[&deb.path, &hello_deb.path]);
    install_hello_greet_from(&inst, &garage, &tarball, &temp.path().join("install-root"));
}
