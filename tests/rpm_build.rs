//! RPM builds with real `rpmspec`, `rpmbuild` and `dnf` (issue 16, acceptance 3). The fixture tree
//! (tests/fixtures/rpm-tree, laid out like dist-git) holds `greet-data` (noarch, installs
//! /usr/share/greet-data/greeting) and `greet` (BuildRequires: greet-data; its %build reads that
//! file from the build's dependency root, so the build fails unless greet-data's package was really
//! installed there), and `netprobe` (its build tries 127.0.0.1 on a port given as its input file).
//! Locally: the tree is read and planned, each package built in plan order by the argument vector a
//! builder runs (netprobe records 127.0.0.1 unreachable while the same probe from the test connects);
//! `greet` without its dependency stops at rpmbuild's BuildRequires
//! check; a rebuild in another directory is byte-identical. Through the builder flow: greet-data
//! built on a real sshd builder on 127.0.0.1 with `network = "none"` and put in a garage bucket,
//! greet built on a second builder whose cache is empty with greet-data streamed to it from the
//! bucket over SFTP; both pushed with `buildmaster push` into an RPM repository in garage, and real
//! `dnf install greet` from garage's web endpoint installs both into a fresh root, where greet
//! prints greet-data's greeting. Needs root (unshare --net) and rpm's tools.

// Only its `run`: the command runner every build test shares.
#[path = "support/apt_root.rs"]
#[allow(dead_code)]
mod apt_root;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
#[path = "support/script_builder.rs"]
mod script_builder;
mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use apt_root::run;
use buildmaster::builders::build::BuildOutcome;
use buildmaster::builders::package::WantedPackage;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::toolchains::debian::plan::Satisfier;
use buildmaster::toolchains::rpm::plan::{build_graph, plan_tree};
use buildmaster::toolchains::rpm::procedure::RpmBuilderPaths;
use buildmaster::toolchains::rpm::toolchain::Rpmbuild;
use buildmaster::toolchains::rpm::tree::{read_tree, RpmSource};
use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend};
use buildmaster_storage_s3::S3Backend;
use rpm_tools::{dnf_install, require_tool, Trust};
use script_builder::LocalBuild;
use sha2::{Digest, Sha256};
use support::garage::Garage;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// What greet prints: greet-data's file, copied into greet's script at build time.
const GREETING: &str = "Hello from greet-data\n";

fn tools() {
    for tool in ["rpmspec", "rpmbuild", "rpm", "rpm2archive", "dnf", "unshare"] {
        require_tool(tool);
    }
}

fn fixture_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm-tree")
}

fn source<'a>(sources: &'a [RpmSource], name: &str) -> &'a RpmSource {
    sources.iter().find(|s| s.spec.name == name).unwrap()
}

/// `paths`' build of `dir` run on this machine.
fn build(paths: &RpmBuilderPaths, dir: &str) -> LocalBuild {
    let results = paths.dirs().results_dir(dir).unwrap();
    script_builder::run_locally(&paths.build_argv(dir).unwrap(), &results)
}

fn builder_paths(base: &Path, deps: &Path) -> RpmBuilderPaths {
    RpmBuilderPaths {
        recipe_tree: fixture_tree().to_str().unwrap().into(),
        work_base: base.join("work").to_str().unwrap().into(),
        dependencies: deps.to_str().unwrap().into(),
    }
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The file at `inside` of package `rpm`, taken out with rpm2archive and tar under `scratch`.
fn file_in_rpm(rpm: &Path, inside: &str, scratch: &Path) -> String {
    std::fs::create_dir_all(scratch).unwrap();
    // rpm2archive writes FILE.tgz beside FILE.
    let copy = scratch.join("package.rpm");
    std::fs::copy(rpm, &copy).unwrap();
    run(Command::new("rpm2archive").arg(&copy));
    let archive = scratch.join("package.rpm.tgz");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(scratch));
    std::fs::read_to_string(scratch.join(inside)).unwrap()
}

#[test]
fn the_tree_builds_in_plan_order_with_its_dependency_and_reproducibly() {
    tools();
    let temp = tempfile::tempdir().unwrap();
    let sources = read_tree(&fixture_tree()).unwrap();
    let names: Vec<&str> = sources.iter().map(|s| s.spec.name.as_str()).collect();
    assert_eq!(names, ["greet", "greet-data", "netprobe"]);
    assert_eq!(source(&sources, "greet-data").lookaside[0].file_name, "greeting");
    let plan = plan_tree(&sources, &[]).unwrap();
    let order: Vec<&str> = plan
        .order
        .iter()
        .map(|p| sources[p.source].spec.name.as_str())
        .collect();
    let position = |name| order.iter().position(|n| *n == name).unwrap();
    assert!(position("greet-data") < position("greet"), "{order:?}");
    assert!(matches!(
        &plan.order[position("greet")].satisfiers[..],
        [Satisfier::Tree { binary, .. }] if binary == "greet-data"
    ));
    let graph = build_graph(&plan, &sources, |_| 1.0).unwrap();
    assert_eq!(graph.builds()[position("greet")].deps, [position("greet-data")]);

    // netprobe's input: the port of a listener on 127.0.0.1, placed where the flow places inputs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    for base in [temp.path().to_owned(), temp.path().join("again")] {
        let input = builder_paths(&base, &temp.path().join("deps"))
            .dirs()
            .input_path("netprobe", "port")
            .unwrap();
        std::fs::create_dir_all(Path::new(&input).parent().unwrap()).unwrap();
        std::fs::write(&input, &port).unwrap();
    }

    // Without greet-data, rpmbuild's BuildRequires check stops greet before %build.
    let empty = temp.path().join("no-deps");
    std::fs::create_dir(&empty).unwrap();
    let refused = build(&builder_paths(temp.path(), &empty), "greet");
    assert!(!refused.ok, "greet built without greet-data:\n{}", refused.log);
    assert!(
        refused
            .log
            .contains("greet-data >= 1.0 is needed by greet-2.0-1.noarch"),
        "{}",
        refused.log
    );

    // In plan order; greet's dependency directory holds greet-data's package.
    let deps = temp.path().join("deps");
    std::fs::create_dir(&deps).unwrap();
    let mut built: HashMap<String, PathBuf> = HashMap::new();
    let mut timings = Vec::new();
    for planned in &plan.order {
        let rpm_source = &sources[planned.source];
        let dir = rpm_source.spec.name.as_str();
        let result = build(&builder_paths(temp.path(), &deps), dir);
        assert!(result.ok, "{dir} failed:\n{}", result.log);
        timings.push(format!("{dir} {:.1} s", result.elapsed.as_secs_f64()));
        for expected in rpm_source.spec.expected_rpms() {
            let file = result.results.join(&expected);
            let inspected = buildmaster::formats::rpm::inspect::inspect(&file).unwrap();
            assert_eq!(inspected.file_name, expected);
            if dir == "greet-data" {
                std::fs::copy(&file, deps.join(&expected)).unwrap();
            }
            built.insert(dir.to_owned(), file);
        }
    }
    eprintln!(
        "build times (SRPM, dependency root, rpmbuild --rebuild): {}",
        timings.join(", ")
    );
    let scratch = temp.path().join("extracted");
    let script = file_in_rpm(&built["greet"], "usr/bin/greet", &scratch.join("greet"));
    assert!(
        script.contains(&format!("echo \"{}\"", GREETING.trim_end())),
        "{script}"
    );

    // The probe inside the build found 127.0.0.1 unreachable and nothing connected; the same probe
    // from this process's namespace connects, so the probe itself works.
    let probe = file_in_rpm(
        &built["netprobe"],
        "usr/share/netprobe/result",
        &scratch.join("netprobe"),
    );
    assert_eq!(probe, "unreachable\n");
    assert!(
        listener.accept().is_err(),
        "something in a build connected to 127.0.0.1:{port}"
    );
    run(Command::new("bash").args(["-c", "exec 3<>\"/dev/tcp/127.0.0.1/$1\"", "probe", &port]));
    std::thread::sleep(Duration::from_millis(200));
    assert!(listener.accept().is_ok(), "the outside probe did not connect");

    // Rebuilt in another work directory: the same bytes.
    let again = builder_paths(&temp.path().join("again"), &deps);
    for (dir, first) in &built {
        let result = build(&again, dir);
        assert!(result.ok, "rebuild of {dir} failed:\n{}", result.log);
        let file = result.results.join(first.file_name().unwrap());
        assert_eq!(
            sha256(&file),
            sha256(first),
            "{} differs on rebuild",
            file.display()
        );
    }
    for paths in [&again, &builder_paths(temp.path(), &deps)] {
        for dir in ["greet-data", "greet", "netprobe"] {
            let argv = paths.dirs().purge_argv(dir).unwrap();
            assert!(Command::new(&argv[0])
                .args(&argv[1..])
                .status()
                .unwrap()
                .success());
            assert!(!Path::new(&paths.dirs().work_dir(dir).unwrap()).exists());
        }
    }
}

/// An RPM builder on the real sshd `sshd`, its directories under `dir`, builds without network.
fn sshd_builder(sshd: &support::sshd::Sshd, dir: &Path, storage: Arc<dyn StorageBackend>) -> RemoteBuilder {
    let paths = script_builder::builder_paths(dir, &fixture_tree());
    let rpm = RpmBuilderPaths {
        recipe_tree: paths.ports_tree.clone(),
        work_base: script_builder::work_base(dir),
        dependencies: paths.packages.clone(),
    };
    let toolchain = Arc::new(Rpmbuild::new(rpm, paths.cache.clone()));
    let timeout = Duration::from_secs(600);
    script_builder::sshd_builder(sshd, "rpm-1", dir, paths, timeout, toolchain, storage)
}

/// Builds `source` on `builder` with `dependencies`; returns the committed results.
async fn build_over_ssh(
    builder: &mut RemoteBuilder,
    source: &RpmSource,
    dependencies: Vec<WantedPackage>,
) -> BuildOutcome {
    let results = source.spec.expected_rpms();
    script_builder::build_over_ssh(builder, &source.spec.name, results, dependencies).await
}

/// A buildmaster state directory with one unsigned RPM repository, `el/9/x86_64`, in a prefix of
/// its own in garage's bucket.
fn rpm_instance(garage: &Garage, dir: &Path) -> String {
    let prefix = format!("rpm-build-{:08x}", fastrand::u32(..));
    std::fs::write(dir.join("storage.json"), garage.storage_json(&prefix)).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(
        dir.join("state/buildmaster.toml"),
        "[[repositories]]\nid = \"el/9/x86_64\"\nroot = \"rpm/el/9/x86_64\"\n\
         [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n",
    )
    .unwrap();
    prefix
}

#[tokio::test(flavor = "multi_thread")]
async fn over_sshd_builders_the_dependency_streams_from_garage_and_dnf_installs_both() {
    tools();
    let garage = Garage::start();
    let storage: Arc<dyn StorageBackend> =
        Arc::new(S3Backend::new(&garage.s3_settings("rpm-build/")).await.unwrap());
    let sshd = support::sshd::Sshd::start();
    let temp = tempfile::tempdir().unwrap();
    let sources = read_tree(&fixture_tree()).unwrap();

    // greet-data on one builder; its package goes to the bucket.
    let mut first = sshd_builder(&sshd, &temp.path().join("b1"), storage.clone());
    let data = build_over_ssh(&mut first, source(&sources, "greet-data"), Vec::new()).await;
    let [data_rpm] = &data.results[..] else {
        panic!("{:?}", data.results)
    };
    assert_eq!(data_rpm.file_name, "greet-data-1.0-1.noarch.rpm");
    let bytes = std::fs::read(&data_rpm.path).unwrap();
    let key = ObjectKey::new(format!("rpms/{}", data_rpm.file_name)).unwrap();
    let options = PutOptions::package(Some(Sha256Digest::of(&bytes)));
    storage.put_bytes(&key, &bytes, &options).await.unwrap();

    // greet on a second builder with an empty cache: greet-data is streamed from garage over SFTP.
    let mut second = sshd_builder(&sshd, &temp.path().join("b2"), storage.clone());
    let dependency = WantedPackage {
        file_name: data_rpm.file_name.clone(),
        size: data_rpm.size,
        sha256: data_rpm.sha256,
        local: None,
        key: Some(key),
        system: false,
    };
    let greet = build_over_ssh(&mut second, source(&sources, "greet"), vec![dependency]).await;
    assert_eq!(greet.transfer.sent, std::slice::from_ref(&data_rpm.file_name));
    assert_eq!(greet.transfer.bytes, bytes.len() as u64);
    let [greet_rpm] = &greet.results[..] else {
        panic!("{:?}", greet.results)
    };
    assert_eq!(greet_rpm.file_name, "greet-2.0-1.noarch.rpm");

    // Both pushed, then installed by real dnf from garage's web endpoint into a fresh root.
    let instance = temp.path().join("instance");
    std::fs::create_dir(&instance).unwrap();
    let prefix = rpm_instance(&garage, &instance);
    run(Command::new(BIN)
        .arg("--state-dir")
        .arg(instance.join("state"))
        .arg("--storage-backend-config")
        .arg(instance.join("storage.json"))
        .arg("push")
        .arg(&data_rpm.path)
        .arg(&greet_rpm.path)
        .args(["--to", "el/9/x86_64"])
        .env_remove("BUILDMASTER_CONFIG"));
    let baseurl = format!("{}/{prefix}/rpm/el/9/x86_64", garage.web_endpoint());
    let dnf_dir = temp.path().join("dnf");
    let trust = Trust {
        gpgcheck: false,
        repo_gpgcheck: false,
        key: None,
    };
    let out = dnf_install(&dnf_dir, &baseurl, &trust, "greet");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dnf install greet: {log}");
    let root = dnf_dir.join("root");
    assert_eq!(
        std::fs::read_to_string(root.join("usr/share/greet-data/greeting")).unwrap(),
        GREETING
    );
    let printed = run(Command::new("sh").arg(root.join("usr/bin/greet")));
    assert_eq!(printed, GREETING);
}
