//! One instance, one bucket, four repositories behind the one format seam: Haiku x86_64 and Haiku
//! x86_gcc2 (pushed `.hpkg` files, read by a `pkgman` stand-in from garage's web endpoint), a Debian
//! suite and an RPM repository. An `any` package is uploaded once and copied server-side into both Haiku
//! repositories; pruning after a change in one repository never touches another's objects; bad Haiku
//! pushes are refused naming the cause, with nothing stored.

#[path = "support/debian_tools.rs"]
#[allow(dead_code)]
mod debian_tools;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use debian_tools::build_deb;
use rpm_tools::{require_tool, rpmbuild, Spec};
use support::garage::Garage;
use support::pkgman::refresh_and_download;
use support::test_package::make_arch_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
const VENDOR: &str = "Haiku Project";
/// The roots of the four repositories, and the pools they share.
const HAIKU_64: &str = "haiku/x86_64/";
const HAIKU_GCC2: &str = "haiku/x86_gcc2/";
const HAIKU_POOL: &str = "haiku-pool/";
const DEBIAN: &str = "apt/";
const RPM: &str = "rpm/";
const RPM_POOL: &str = "rpm-pool/";

struct Instance {
    work: tempfile::TempDir,
    prefix: String,
}

impl Instance {
    fn new(garage: &Garage) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("four-repos-{:08x}", fastrand::u32(..));
        std::fs::write(work.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        let state = work.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let mut config = String::new();
        for arch in ["x86_64", "x86_gcc2"] {
            let info = work.path().join(format!("repo.info.{arch}"));
            std::fs::write(
                &info,
                format!(
                    "name HaikuPorts\nvendor \"{VENDOR}\"\nsummary \"The HaikuPorts repository\"\npriority 1\n\
                     identifier tag:haikuports.org,2013:repositories/haikuports/{arch}/master\n\
                     architecture {arch}\n"
                ),
            )
            .unwrap();
            config += &format!(
                "[[repositories]]\nid = \"haiku/{arch}\"\nroot = \"haiku/{arch}\"\n\
                 [repositories.haiku]\nrepo_info = \"{}\"\n\n",
                info.display()
            );
        }
        // Retention 0: prune deletes superseded index files at once, so that it has work to do here.
        config += "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\nindex_retention_hours = 0\n\
                   [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"amd64\"]\n\n\
                   [[repositories]]\nid = \"el/9/x86_64\"\nroot = \"rpm/el/9/x86_64\"\nindex_retention_hours = 0\n\
                   [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n";
        std::fs::write(state.join("buildmaster.toml"), config).unwrap();
        Self { work, prefix }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn try_run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--storage-backend-config")
            .arg(self.path("storage.json"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.try_run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        text(&out)
    }

    /// A Haiku package `name-version-arch.hpkg` in the work directory.
    fn hpkg(&self, name: &str, version: &str, arch: &str, vendor: &str, requires: &[&str]) -> PathBuf {
        let out = self.path(&format!("{name}-{version}-{arch}.hpkg"));
        make_arch_package(
            self.work.path(),
            name,
            version,
            arch,
            vendor,
            requires,
            20_000,
            &out,
        );
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every object under the instance's prefix (but the lock) with its size and ETag, by key.
fn objects(garage: &Garage, prefix: &str) -> BTreeMap<String, (u64, String)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = garage.sdk_client();
    runtime.block_on(async {
        let mut out = BTreeMap::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(garage.bucket())
            .prefix(format!("{prefix}/"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page.unwrap().contents() {
                let key = object.key().unwrap().trim_start_matches(&format!("{prefix}/"));
                if key != "buildmaster.lock" {
                    let etag = object.e_tag().unwrap_or_default().to_string();
                    out.insert(key.to_string(), (object.size().unwrap_or(0) as u64, etag));
                }
            }
        }
        out
    })
}

/// The objects of `all` under `root`.
fn under(all: &BTreeMap<String, (u64, String)>, root: &str) -> BTreeMap<String, (u64, String)> {
    all.iter()
        .filter(|(key, _)| key.starts_with(root))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Asserts that only objects under `changed` differ between `before` and `after`.
fn only_changed(
    before: &BTreeMap<String, (u64, String)>,
    after: &BTreeMap<String, (u64, String)>,
    changed: &str,
    what: &str,
) {
    for root in [HAIKU_64, HAIKU_GCC2, HAIKU_POOL, DEBIAN, RPM, RPM_POOL] {
        if root != changed {
            assert_eq!(under(before, root), under(after, root), "{what} touched {root}");
        }
    }
    assert_ne!(
        under(before, changed),
        under(after, changed),
        "{what} changed nothing in {changed}"
    );
}

/// The packages `pkgman` sees in the Haiku repository at `root`, each downloaded and checked.
fn pkgman_sees(garage: &Garage, inst: &Instance, root: &str) -> Vec<String> {
    let base = format!(
        "{}/{}/{}",
        garage.web_endpoint(),
        inst.prefix,
        root.trim_end_matches('/')
    );
    let refreshed = refresh_and_download(&base).unwrap_or_else(|e| panic!("pkgman refresh of {base}: {e:?}"));
    refreshed.packages.into_iter().map(|(name, _)| name).collect()
}

#[test]
fn four_repositories_in_one_bucket_each_published_and_pruned_on_its_own() {
    require_tool("rpmbuild");
    require_tool("dpkg-deb");
    let garage = Garage::start();
    let inst = Instance::new(&garage);

    // Haiku: one package per architecture and an `any` package both need, pushed to both at once.
    let common = inst.hpkg("common", "1.0-1", "any", VENDOR, &[]);
    let alpha = inst.hpkg("alpha", "1.0-1", "x86_64", VENDOR, &["common"]);
    let beta = inst.hpkg("beta", "1.0-1", "x86_gcc2", VENDOR, &["common"]);
    let files = [&common, &alpha, &beta].map(|p| p.to_str().unwrap().to_string());
    let push = |extra: &[&str]| {
        let mut args = vec!["push"];
        args.extend(files.iter().map(String::as_str));
        args.extend(extra);
        inst.run(&args)
    };
    let (puts, copies) = (garage.s3_requests("PutObject"), garage.s3_requests("CopyObject"));
    let shown = push(&["--to", "haiku/*"]);
    let first_puts = garage.s3_requests("PutObject") - puts;
    let first_copies = garage.s3_requests("CopyObject") - copies;
    assert_eq!(shown.matches("uploaded: ").count(), 3, "{shown}");
    assert_eq!(shown.matches("linked: ").count(), 4, "{shown}");

    // The same push again changes nothing: what it writes is the lock alone.
    let puts = garage.s3_requests("PutObject");
    let again = push(&["--to", "haiku/*"]);
    assert!(again.contains("nothing changed"), "{again}");
    let lock_puts = garage.s3_requests("PutObject") - puts;
    // Three pool uploads and four index files (package.list, repo.info, repo, repo.sha256) per
    // repository; the `any` package reaches its second repository by a server-side copy.
    assert_eq!(
        first_puts,
        lock_puts + 3 + 2 * 4,
        "PutObject requests of the first push"
    );
    assert_eq!(first_copies, 4, "one copy per (package, repository) link");
    let all = objects(&garage, &inst.prefix);
    assert_eq!(under(&all, HAIKU_POOL).len(), 3, "{all:?}");

    assert_eq!(
        pkgman_sees(&garage, &inst, HAIKU_64),
        ["alpha-1.0-1-x86_64.hpkg", "common-1.0-1-any.hpkg"]
    );
    assert_eq!(
        pkgman_sees(&garage, &inst, HAIKU_GCC2),
        ["beta-1.0-1-x86_gcc2.hpkg", "common-1.0-1-any.hpkg"]
    );
    let checked = inst.run(&["repositories", "check", "haiku/x86_gcc2"]);
    assert!(
        checked.contains("2 packages checked: 0 unresolvable"),
        "{checked}"
    );

    // Debian and RPM beside them.
    let debs = inst.path("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = |version: &str| {
        build_deb(
            &debs,
            &format!(
                "Package: bm-libgreet\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
                 Description: greetings\n For the test.\n"
            ),
            "gzip",
        )
    };
    let top = inst.path("rpmbuild");
    std::fs::create_dir_all(&top).unwrap();
    let rpm = |version| {
        rpmbuild(
            &top,
            &Spec {
                name: "bm-libgreet",
                version,
                preamble: "",
            },
        )
    };
    inst.run(&["push", deb("1.0-1").to_str().unwrap(), "--to", "debian/*"]);
    inst.run(&["push", rpm("1.0").to_str().unwrap(), "--to", "el/*"]);

    // Changes in each repository in turn, then prune: only that repository's objects change, and
    // prune does delete there (superseded index files beyond the generations it keeps). Generations
    // are told apart by the second they were superseded in: the pushes are a second apart.
    let tick = || std::thread::sleep(std::time::Duration::from_millis(1_100));
    let before = objects(&garage, &inst.prefix);
    for version in ["1.1-1", "1.2-1", "1.3-1", "1.4-1"] {
        inst.run(&["push", deb(version).to_str().unwrap(), "--to", "debian/*"]);
        tick();
    }
    let pushed = objects(&garage, &inst.prefix);
    inst.run(&["prune"]);
    let after = objects(&garage, &inst.prefix);
    only_changed(&before, &after, DEBIAN, "Debian pushes and prune");
    assert!(
        pushed.keys().any(|k| !after.contains_key(k)),
        "prune deleted nothing in the Debian repository"
    );

    let before = after;
    for version in ["1.1", "1.2", "1.3", "1.4"] {
        inst.run(&["push", rpm(version).to_str().unwrap(), "--to", "el/*"]);
        tick();
    }
    let pushed = objects(&garage, &inst.prefix);
    inst.run(&["prune"]);
    let after = objects(&garage, &inst.prefix);
    assert!(
        under(&pushed, RPM).keys().any(|k| !after.contains_key(k)),
        "prune deleted no superseded RPM metadata"
    );
    for root in [HAIKU_64, HAIKU_GCC2, HAIKU_POOL, DEBIAN] {
        assert_eq!(
            under(&before, root),
            under(&after, root),
            "RPM pushes and prune touched {root}"
        );
    }

    let before = after;
    let alpha2 = inst.hpkg("alpha", "1.1-1", "x86_64", VENDOR, &["common"]);
    inst.run(&["push", alpha2.to_str().unwrap(), "--to", "haiku/*"]);
    inst.run(&["prune"]);
    let after = objects(&garage, &inst.prefix);
    for root in [HAIKU_GCC2, DEBIAN, RPM, RPM_POOL] {
        assert_eq!(
            under(&before, root),
            under(&after, root),
            "a Haiku x86_64 push and prune touched {root}"
        );
    }
    assert_eq!(
        pkgman_sees(&garage, &inst, HAIKU_64),
        ["alpha-1.1-1-x86_64.hpkg", "common-1.0-1-any.hpkg"],
        "the index names the newest version of each package"
    );
    assert!(
        after.contains_key("haiku/x86_64/packages/alpha-1.0-1-x86_64.hpkg"),
        "the older version stays downloadable"
    );
}

#[test]
fn bad_haiku_pushes_are_refused_naming_the_cause_and_store_nothing() {
    let garage = Garage::start();
    let inst = Instance::new(&garage);
    let good = inst.hpkg("good", "1.0-1", "x86_64", VENDOR, &[]);
    inst.run(&["push", good.to_str().unwrap(), "--to", "haiku/x86_64"]);
    let before = objects(&garage, &inst.prefix);

    let refused = |file: &Path, to: &str, expected: &[&str]| {
        let out = inst.try_run(&["push", file.to_str().unwrap(), "--to", to]);
        let shown = text(&out);
        assert!(!out.status.success(), "{shown}");
        for words in expected {
            assert!(shown.contains(words), "{words:?} not in: {shown}");
        }
        assert!(!shown.contains("panicked"), "{shown}");
        assert_eq!(
            objects(&garage, &inst.prefix),
            before,
            "a refused push stored something"
        );
    };

    // Another vendor: package_repo's check, made before anything is uploaded.
    let foreign = inst.hpkg("foreign", "1.0-1", "x86_64", "Somebody Else", &[]);
    refused(
        &foreign,
        "haiku/*",
        &["foreign-1.0-1-x86_64.hpkg", "haiku/x86_64", "vendor"],
    );

    // An x86_gcc2 package for the x86_64 repository.
    let gcc2 = inst.hpkg("old", "1.0-1", "x86_gcc2", VENDOR, &[]);
    refused(
        &gcc2,
        "haiku/x86_64",
        &["old-1.0-1-x86_gcc2.hpkg", "x86_gcc2", "haiku/x86_64"],
    );

    // A file whose name disagrees with its attributes.
    let renamed = inst.path("good-1.0-1-x86_gcc2.hpkg");
    std::fs::copy(&good, &renamed).unwrap();
    refused(
        &renamed,
        "haiku/*",
        &["good-1.0-1-x86_gcc2.hpkg", "good-1.0-1-x86_64.hpkg"],
    );

    // A corrupt package.
    let corrupt = inst.path("broken-1.0-1-x86_64.hpkg");
    let mut bytes = std::fs::read(&good).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&corrupt, bytes).unwrap();
    refused(
        &corrupt,
        "haiku/x86_64",
        &["broken-1.0-1-x86_64.hpkg", "not a valid haiku package"],
    );

    // The same name and version with other bytes.
    let other = inst.path("other");
    std::fs::create_dir_all(&other).unwrap();
    let twin = other.join("good-1.0-1-x86_64.hpkg");
    make_arch_package(
        inst.work.path(),
        "good",
        "1.0-1",
        "x86_64",
        VENDOR,
        &[],
        20_000,
        &twin,
    );
    refused(&twin, "haiku/x86_64", &["already stored with other bytes"]);
}
