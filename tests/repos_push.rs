//! `buildmaster push` end to end: real packages (made by `rpmbuild` and `dpkg-deb`), pushed through the
//! binary into `[[repositories]]` in a real garage bucket, and installed by real `dnf` and resolved and
//! downloaded by real `apt-get` from garage's web endpoint. A `noarch` package pushed to eight
//! architecture repositories, and an `all` package pushed to three suites, is uploaded once (garage's
//! own request counters) and installs from every one of them; pushing again uploads nothing; bad input
//! is refused by name with nothing published.

#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use debian_tools::{build_deb, host_architecture, output_text, Apt};
use rpm_tools::{dnf_install, require_tool, rpmbuild, Spec, Trust};
use support::garage::Garage;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
const ARCHES: [&str; 8] = [
    "x86_64",
    "aarch64",
    "ppc64le",
    "s390x",
    "i686",
    "armv7hl",
    "riscv64",
    "loongarch64",
];

/// A state directory whose buildmaster.toml has one RPM repository per architecture (`el/9/<arch>`),
/// storing into a prefix of its own in garage's bucket.
struct Instance {
    work: tempfile::TempDir,
    prefix: String,
}

/// One RPM repository per architecture, `el/9/<arch>`.
fn rpm_repositories() -> String {
    ARCHES
        .iter()
        .map(|arch| {
            format!(
                "[[repositories]]\nid = \"el/9/{arch}\"\nroot = \"rpm/el/9/{arch}\"\n\
                 [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"{arch}\"\n\n"
            )
        })
        .collect()
}

impl Instance {
    fn new(garage: &Garage, repositories: &str) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("push-{:08x}", fastrand::u32(..));
        std::fs::write(work.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        let state = work.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("buildmaster.toml"), repositories).unwrap();
        Self { work, prefix }
    }

    fn push(&self, files: &[&Path], to: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--state-dir")
            .arg(self.work.path().join("state"))
            .arg("--storage-backend-config")
            .arg(self.work.path().join("storage.json"))
            .arg("push")
            .args(files);
        for target in to {
            cmd.args(["--to", target]);
        }
        cmd.env_remove("BUILDMASTER_CONFIG").output().unwrap()
    }

    /// Installs `package` with real dnf (package signatures not checked: these packages are unsigned)
    /// from the repository of `arch` into a fresh install root; returns dnf's work directory.
    fn dnf_install(&self, garage: &Garage, arch: &str, package: &str) -> PathBuf {
        let work = self.work.path().join(format!("dnf-{arch}"));
        std::fs::create_dir_all(&work).unwrap();
        let trust = Trust {
            gpgcheck: false,
            repo_gpgcheck: false,
            key: None,
        };
        let out = dnf_install(&work, &self.baseurl(garage, arch), &trust, package);
        assert!(out.status.success(), "dnf from el/9/{arch}:\n{}", text(&out));
        work
    }

    /// dnf's baseurl for the repository of `arch`, through garage's web endpoint.
    fn baseurl(&self, garage: &Garage, arch: &str) -> String {
        format!("{}/{}/rpm/el/9/{arch}/", garage.web_endpoint(), self.prefix)
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn packages(top: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(top).unwrap();
    let lib = rpmbuild(
        top,
        &Spec {
            name: "bm-libgreet",
            version: "1.2",
            preamble: "Provides: bm-greeting = 1.2",
        },
    );
    let hello = rpmbuild(
        top,
        &Spec {
            name: "bm-hello",
            version: "1.0",
            preamble: "Requires: bm-libgreet >= 1.0",
        },
    );
    (lib, hello)
}

#[test]
fn a_noarch_rpm_is_uploaded_once_linked_into_eight_architectures_and_installs_from_each() {
    require_tool("rpmbuild");
    require_tool("dnf");
    let garage = Garage::start();
    let inst = Instance::new(&garage, &rpm_repositories());
    let (lib, hello) = packages(&inst.work.path().join("rpmbuild"));

    let puts_before = garage.s3_requests("PutObject");
    let out = inst.push(&[&lib, &hello], &["el/9/*"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert_eq!(shown.matches("uploaded: ").count(), 2, "{shown}");
    assert_eq!(shown.matches("linked: ").count(), 16, "{shown}");
    assert_eq!(shown.matches("published el/9/").count(), 8, "{shown}");
    let pool = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(garage.raw_keys(&format!("{}/rpm-pool/", inst.prefix)));
    assert_eq!(pool.len(), 2, "one pool object per file: {pool:?}");
    // Two packages, four index files (three content-addressed, repomd.xml) per repository, the lock.
    let puts = garage.s3_requests("PutObject") - puts_before;
    assert_eq!(puts, 2 + 8 * 4 + 1, "PutObject requests of the first push");

    // The same files again: nothing is uploaded, nothing published (only the lock is written).
    let puts_before = garage.s3_requests("PutObject");
    let again = inst.push(&[&lib, &hello], &["el/9/*"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("nothing changed"), "{}", text(&again));
    assert_eq!(garage.s3_requests("PutObject") - puts_before, 1, "only the lock");

    for arch in ARCHES {
        let work = inst.dnf_install(&garage, arch, "bm-hello");
        for name in ["bm-hello", "bm-libgreet"] {
            let file = work.join(format!("root/usr/share/{name}/{name}.txt"));
            assert!(file.is_file(), "{name} not installed from el/9/{arch}");
        }
    }
}

#[test]
fn bad_pushes_are_refused_by_name_and_publish_nothing() {
    require_tool("rpmbuild");
    let garage = Garage::start();
    let inst = Instance::new(&garage, &rpm_repositories());
    let (lib, _) = packages(&inst.work.path().join("rpmbuild"));
    let refused = |out: &Output, expected: &str| {
        let shown = text(out);
        assert!(!out.status.success(), "accepted: {shown}");
        assert!(shown.contains(expected), "expected {expected:?} in: {shown}");
    };

    refused(
        &inst.push(&[&lib], &["el/8/*"]),
        "no repository matches \"el/8/*\"",
    );
    let corrupt = inst.work.path().join("corrupt-1.0-1.noarch.rpm");
    std::fs::write(&corrupt, b"\xed\xab\xee\xdb not really an rpm").unwrap();
    refused(&inst.push(&[&corrupt], &["el/9/*"]), "corrupt-1.0-1.noarch.rpm");
    let text_file = inst.work.path().join("notes.txt");
    std::fs::write(&text_file, "hello").unwrap();
    refused(
        &inst.push(&[&text_file], &["el/9/*"]),
        "not a .deb, .rpm or .hpkg file",
    );
    let keys = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(garage.raw_keys(&format!("{}/", inst.prefix)));
    assert!(
        keys.iter()
            .all(|k| k.ends_with("buildmaster.lock") || !k.contains("/rpm")),
        "a refused push stored {keys:?}"
    );

    // Same name, version and architecture with other bytes: refused with both digests.
    let out = inst.push(&[&lib], &["el/9/x86_64"]);
    assert!(out.status.success(), "{}", text(&out));
    let other_top = inst.work.path().join("rpmbuild-other");
    std::fs::create_dir_all(&other_top).unwrap();
    let other = rpmbuild(
        &other_top,
        &Spec {
            name: "bm-libgreet",
            version: "1.2",
            preamble: "Provides: bm-greeting = 1.2\nProvides: bm-other",
        },
    );
    refused(
        &inst.push(&[&other], &["el/9/x86_64"]),
        "already stored with other bytes",
    );
}

const SUITES: [&str; 3] = ["bookworm", "trixie", "sid"];

#[test]
fn an_all_deb_is_uploaded_once_linked_into_three_suites_and_apt_resolves_it_in_each() {
    for tool in ["apt-get", "dpkg-deb", "gpgv"] {
        require_tool(tool);
    }
    let garage = Garage::start();
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("signing.asc");
    std::fs::write(
        &key,
        buildmaster::formats::signing::generate_ed25519_armored("push test <push@example.invalid>").unwrap(),
    )
    .unwrap();
    let public = work.path().join("signing.gpg");
    let signer = buildmaster::formats::signing::OpenPgpSigner::from_file(&key).unwrap();
    std::fs::write(&public, signer.public_key_binary().unwrap()).unwrap();
    let arch = host_architecture();
    let repositories: String = SUITES
        .iter()
        .map(|suite| {
            format!(
                "[[repositories]]\nid = \"debian/{suite}\"\nroot = \"apt\"\nsigning_key = \"{}\"\n\
                 [repositories.debian]\ncodename = \"{suite}\"\narchitectures = [\"{arch}\"]\n\n",
                key.display()
            )
        })
        .collect();
    let inst = Instance::new(&garage, &repositories);
    let debs = inst.work.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let greet = build_deb(
        &debs,
        "Package: bm-libgreet\nVersion: 1.2+git1-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
         Section: libs\nPriority: optional\nDescription: greetings\n Shared by every suite.\n",
        "gzip",
    );
    let hello = build_deb(
        &debs,
        &format!(
            "Package: bm-hello\nVersion: 2.0-1\nArchitecture: {arch}\nMaintainer: T <t@example.invalid>\n\
             Depends: bm-libgreet (>= 1.0)\nSection: misc\nPriority: optional\n\
             Description: says hello\n A test package for buildmaster.\n"
        ),
        "xz",
    );

    let out = inst.push(&[&greet, &hello], &["debian/*"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(shown.matches("uploaded: ").count(), 2, "{shown}");
    assert_eq!(shown.matches("linked: ").count(), 6, "{shown}");
    let pool = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(garage.raw_keys(&format!("{}/apt/pool/", inst.prefix)));
    assert_eq!(pool.len(), 2, "one pool object per file: {pool:?}");
    let puts_before = garage.s3_requests("PutObject");
    let again = inst.push(&[&greet, &hello], &["debian/*"]);
    assert!(text(&again).contains("nothing changed"), "{}", text(&again));
    assert_eq!(garage.s3_requests("PutObject") - puts_before, 1, "only the lock");

    let url = format!("{}/{}/apt", garage.web_endpoint(), inst.prefix);
    for suite in SUITES {
        let apt = Apt::new(&work.path().join(format!("apt-{suite}")), &url, suite, &public);
        let update = apt.run(&["update"]);
        let log = output_text(&update);
        assert!(
            update.status.success() && !log.contains("\nW:") && !log.contains("Err:"),
            "{suite}: {log}"
        );
        let install = apt.run(&["install", "-s", "bm-hello"]);
        let log = output_text(&install);
        assert!(install.status.success(), "{suite}: {log}");
        assert!(log.contains("Inst bm-libgreet (1.2+git1-1"), "{suite}: {log}");
        let download = apt.run(&["download", "bm-hello", "bm-libgreet"]);
        assert!(download.status.success(), "{suite}: {}", output_text(&download));
    }
}

#[test]
fn a_missing_signing_key_stops_the_push_before_anything_is_stored() {
    require_tool("dpkg-deb");
    let garage = Garage::start();
    let missing = "/nonexistent/buildmaster-signing.asc";
    let inst = Instance::new(
        &garage,
        &format!(
            "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\nsigning_key = \"{missing}\"\n\
             [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"amd64\"]\n"
        ),
    );
    let debs = inst.work.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let greet = build_deb(
        &debs,
        "Package: bm-libgreet\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
         Description: greetings\n For the test.\n",
        "gzip",
    );
    let out = inst.push(&[&greet], &["debian/*"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains(missing), "the error names the key file: {shown}");
    let keys = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(garage.raw_keys(&format!("{}/apt", inst.prefix)));
    assert!(keys.is_empty(), "stored with a missing key: {keys:?}");
}

/// Builds `bm-big`, a noarch RPM carrying `megabytes` MiB of random bytes, stored uncompressed (a
/// compressed random payload would only cost rpmbuild time).
fn big_rpm(top: &Path, megabytes: usize) -> PathBuf {
    std::fs::create_dir_all(top).unwrap();
    let spec = top.join("bm-big.spec");
    std::fs::write(
        &spec,
        format!(
            "Name: bm-big\nVersion: 1.0\nRelease: 1\nSummary: a large noarch package\nLicense: MIT\n\
             BuildArch: noarch\n%define _binary_payload w0.ufdio\n\
             %description\nLarge, like GitLab's helper-images RPM.\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/bm-big\n\
             head -c {bytes} /dev/urandom > %{{buildroot}}/usr/share/bm-big/blob\n\
             %files\n/usr/share/bm-big/blob\n",
            bytes = megabytes << 20
        ),
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("-bb")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpmbuild: {}", text(&out));
    top.join("RPMS/noarch/bm-big-1.0-1.noarch.rpm")
}

#[test]
fn a_200_mib_noarch_rpm_is_uploaded_once_for_eight_architectures_and_installs_from_each() {
    require_tool("rpmbuild");
    require_tool("dnf");
    let garage = Garage::start();
    let inst = Instance::new(&garage, &rpm_repositories());
    let big = big_rpm(&inst.work.path().join("rpmbuild"), 200);
    let size = std::fs::metadata(&big).unwrap().len();
    assert!(size > 200 << 20, "{size}");

    let uploads_before = garage.s3_requests("CreateMultipartUpload");
    let parts_before = garage.s3_requests("UploadPart");
    let out = inst.push(&[&big], &["el/9/*"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("linked: ").count(), 8, "{}", text(&out));
    // One multipart upload for the package, whatever the number of repositories; its parts add up to
    // the file once.
    assert_eq!(garage.s3_requests("CreateMultipartUpload") - uploads_before, 1);
    let parts = garage.s3_requests("UploadPart") - parts_before;
    assert!(parts >= 1 && parts <= size.div_ceil(5 << 20), "{parts} parts");
    let again = inst.push(&[&big], &["el/9/*"]);
    assert!(text(&again).contains("nothing changed"), "{}", text(&again));
    assert_eq!(garage.s3_requests("CreateMultipartUpload") - uploads_before, 1);

    for arch in ARCHES {
        let work = inst.dnf_install(&garage, arch, "bm-big");
        let blob = work.join("root/usr/share/bm-big/blob");
        assert_eq!(
            std::fs::metadata(&blob).map(|m| m.len()).ok(),
            Some(200 << 20),
            "el/9/{arch}"
        );
        // 200 MiB per install root: free it before the next architecture.
        std::fs::remove_dir_all(&work).unwrap();
    }
}

#[test]
fn prune_deletes_only_superseded_generations_beyond_the_kept_ones() {
    require_tool("dpkg-deb");
    require_tool("apt-get");
    let garage = Garage::start();
    let arch = host_architecture();
    let inst = Instance::new(
        &garage,
        &format!(
            "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\nindex_retention_hours = 0\n\
             [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"{arch}\"]\n"
        ),
    );
    let debs = inst.work.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    // Five pushes, five index generations: four superseded.
    for i in 0..5 {
        let deb = build_deb(
            &debs,
            &format!(
                "Package: bm-gen{i}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
                 Description: generation {i}\n For the test.\n"
            ),
            "gzip",
        );
        let out = inst.push(&[&deb], &["debian/*"]);
        assert!(out.status.success(), "{}", text(&out));
        // Superseded-at is in whole seconds: one generation per second.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let by_hash = |garage: &Garage| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(garage.raw_keys(&format!("{}/apt/dists/", inst.prefix)))
            .into_iter()
            .filter(|k| k.contains("/by-hash/"))
            .collect::<Vec<_>>()
    };
    let before = by_hash(&garage);
    let prune = |dry: bool| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--state-dir")
            .arg(inst.work.path().join("state"))
            .arg("--storage-backend-config")
            .arg(inst.work.path().join("storage.json"))
            .arg("prune");
        if dry {
            cmd.arg("--dry-run");
        }
        cmd.env_remove("BUILDMASTER_CONFIG").output().unwrap()
    };
    let dry = prune(true);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("would delete "), "{}", text(&dry));
    assert_eq!(by_hash(&garage), before, "a dry run deleted something");

    let out = prune(false);
    assert!(out.status.success(), "{}", text(&out));
    let deleted = text(&out).matches("deleted ").count();
    assert!(deleted > 0, "{}", text(&out));
    let after = by_hash(&garage);
    assert_eq!(after.len(), before.len() - deleted, "{}", text(&out));
    // Current + three kept generations remain; apt still reads the current one.
    let public = inst.work.path().join("none.gpg");
    std::fs::write(&public, b"").unwrap();
    let url = format!("{}/{}/apt", garage.web_endpoint(), inst.prefix);
    let apt = Apt::new(&inst.work.path().join("apt"), &url, "bookworm", &public);
    let update = apt.run(&["-o", "Acquire::AllowInsecureRepositories=1", "update"]);
    let log = output_text(&update);
    assert!(
        !log.contains("Hash Sum mismatch") && !log.contains("404"),
        "{log}"
    );
    let again = prune(false);
    assert_eq!(text(&again).matches("deleted ").count(), 0, "{}", text(&again));
}

#[test]
fn repositories_check_reports_unresolvable_dependencies_against_the_repository_and_its_bases() {
    require_tool("rpmbuild");
    let garage = Garage::start();
    let inst = Instance::new(&garage, &rpm_repositories());
    let (lib, hello) = packages(&inst.work.path().join("rpmbuild"));
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--state-dir")
            .arg(inst.work.path().join("state"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .output()
            .unwrap()
    };
    assert!(inst.push(&[&hello], &["el/9/x86_64"]).status.success());
    assert!(inst.push(&[&lib], &["el/9/aarch64"]).status.success());

    let alone = run(&["repositories", "check", "el/9/x86_64"]);
    assert_eq!(alone.status.code(), Some(3), "{}", text(&alone));
    assert!(text(&alone).contains("bm-libgreet >= 1.0"), "{}", text(&alone));
    let with_base = run(&["repositories", "check", "el/9/x86_64", "--base", "el/9/aarch64"]);
    assert!(with_base.status.success(), "{}", text(&with_base));
    assert!(
        text(&with_base).contains("1 packages checked: 0 unresolvable"),
        "{}",
        text(&with_base)
    );

    let list = run(&["repositories", "list"]);
    assert!(
        text(&list).contains("el/9/x86_64\trpm\trpm/el/9/x86_64\t1 packages"),
        "{}",
        text(&list)
    );
    let unknown = run(&["repositories", "check", "el/8/x86_64"]);
    assert!(
        !unknown.status.success() && text(&unknown).contains("no repository matches"),
        "{}",
        text(&unknown)
    );
}

#[test]
fn a_file_stored_in_one_pool_is_not_linked_into_repositories_of_another() {
    require_tool("dpkg-deb");
    let garage = Garage::start();
    let inst = Instance::new(
        &garage,
        "[[repositories]]\nid = \"a/bookworm\"\nroot = \"apt-a\"\n\
         [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"amd64\"]\n\n\
         [[repositories]]\nid = \"b/bookworm\"\nroot = \"apt-b\"\n\
         [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"amd64\"]\n",
    );
    let debs = inst.work.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = build_deb(
        &debs,
        "Package: bm-libgreet\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
         Description: greetings\n For the test.\n",
        "gzip",
    );
    assert!(inst.push(&[&deb], &["a/*"]).status.success());
    let out = inst.push(&[&deb], &["b/*"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("outside the pool apt-b/pool"),
        "{}",
        text(&out)
    );
}
