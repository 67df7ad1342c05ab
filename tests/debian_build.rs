//! Debian builds with real `dpkg-buildpackage`, driven on this machine (issue 16, acceptance 2, the
//! local half): the fixture tree (tests/fixtures/debian-tree) is read and planned, then every source
//! is built in plan order by the build argument vector a builder runs — the root unpacked from the
//! `mmdebstrap --variant=buildd` tarball, the dependency `.deb`s of earlier builds installed, the
//! build in `unshare --net` + `chroot`. Shows: `hello-greet` builds only with `libgreet`'s package
//! installed (its program prints libgreet's greeting; without the dependency the build stops at
//! `dpkg-checkbuilddeps`); the build cannot open a TCP connection to 127.0.0.1 while the same probe
//! outside the build can; a rebuild in another directory gives byte-identical `.deb`s. Needs root
//! and the tarball from scripts/install-test-tools.sh.

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use buildmaster::formats::debian::DebianFormat;
use buildmaster::formats::RepositoryFormat;
use buildmaster::toolchains::debian::plan::{installed_from_dpkg_status, plan_tree, Satisfier};
use buildmaster::toolchains::debian::procedure::DebianBuilderPaths;
use buildmaster::toolchains::debian::tree::{read_tree, SourcePackage};
use sha2::{Digest, Sha256};

/// The build root tarball that scripts/install-test-tools.sh makes.
fn root_tarball() -> PathBuf {
    let tools = std::env::var_os("BUILDMASTER_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/buildmaster-test-tools")
        });
    let tarball = tools.join("debian-buildd-bookworm.tar");
    assert!(
        tarball.is_file(),
        "{} is missing: run scripts/install-test-tools.sh (mmdebstrap makes it once)",
        tarball.display()
    );
    tarball
}

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

/// One build on this machine: the builder's argument vector run as a local process.
struct LocalBuild {
    /// Whether the build succeeded.
    ok: bool,
    /// Its output (stdout and stderr).
    log: String,
    /// Where its results are.
    results: PathBuf,
    /// Wall time.
    elapsed: Duration,
}

fn build(paths: &DebianBuilderPaths, source_dir: &str) -> LocalBuild {
    let argv = paths.build_argv(source_dir).unwrap();
    let started = Instant::now();
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    LocalBuild {
        ok: out.status.success(),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        results: PathBuf::from(paths.results_dir(source_dir).unwrap()),
        elapsed: started.elapsed(),
    }
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
    purge(
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
    purge(&[&paths], &sources);
}

/// Runs the purge argument vector of every source's build; the work directories are gone after.
fn purge(builders: &[&DebianBuilderPaths], sources: &[SourcePackage]) {
    for paths in builders {
        for source in sources {
            let argv = paths.purge_argv(&source.name).unwrap();
            let status = Command::new(&argv[0]).args(&argv[1..]).status().unwrap();
            assert!(status.success());
            assert!(!Path::new(&paths.work_dir(&source.name).unwrap()).exists());
        }
    }
}
