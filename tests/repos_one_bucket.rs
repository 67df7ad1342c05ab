//! One instance, one bucket: the HaikuPorts repository (published and pruned as always) beside a Debian
//! and an RPM repository filled by `buildmaster push`. Publishing and pruning the Haiku repository —
//! an old package version moved to `packages/.obsolete/` — leaves every object of the other two
//! untouched, and pushing into them leaves the Haiku repository's objects untouched.

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
use support::test_package::make_test_package;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

struct Instance {
    work: tempfile::TempDir,
    prefix: String,
}

impl Instance {
    fn new(garage: &Garage) -> Self {
        let work = tempfile::tempdir().unwrap();
        let prefix = format!("one-bucket-{:08x}", fastrand::u32(..));
        std::fs::write(work.path().join("storage.json"), garage.storage_json(&prefix)).unwrap();
        let state = work.path().join("state");
        std::fs::create_dir_all(state.join("repository")).unwrap();
        std::fs::create_dir_all(state.join("packages")).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/repo.info"),
            state.join("repository/repo.info"),
        )
        .unwrap();
        std::fs::write(
            state.join("buildmaster.toml"),
            "[[repositories]]\nid = \"debian/bookworm\"\nroot = \"apt\"\n\
             [repositories.debian]\ncodename = \"bookworm\"\narchitectures = [\"amd64\"]\n\n\
             [[repositories]]\nid = \"el/9/x86_64\"\nroot = \"rpm/el/9/x86_64\"\n\
             [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n",
        )
        .unwrap();
        Self { work, prefix }
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .arg("--state-dir")
            .arg(self.state())
            .arg("--storage-backend-config")
            .arg(self.work.path().join("storage.json"))
            .args(args)
            .env_remove("BUILDMASTER_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// Every object under the instance's prefix, with its size, split into the Haiku repository's and the
/// others'.
fn objects(garage: &Garage, prefix: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = garage.sdk_client();
    let listed = runtime.block_on(async {
        let mut out = BTreeMap::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(garage.bucket())
            .prefix(format!("{prefix}/"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page.unwrap().contents() {
                let key = object
                    .key()
                    .unwrap()
                    .trim_start_matches(&format!("{prefix}/"))
                    .to_string();
                out.insert(key, object.size().unwrap_or(0) as u64);
            }
        }
        out
    });
    listed
        .into_iter()
        .filter(|(key, _)| key != "buildmaster.lock")
        .partition(|(key, _)| {
            !(key.starts_with("apt/") || key.starts_with("rpm/") || key.starts_with("rpm-pool/"))
        })
}

#[test]
fn haiku_publish_and_prune_never_touch_the_pushed_repositories_and_pushes_never_touch_haiku() {
    require_tool("rpmbuild");
    require_tool("dpkg-deb");
    let garage = Garage::start();
    let inst = Instance::new(&garage);
    let work = inst.work.path();

    // The HaikuPorts repository: one package, published.
    let packages = inst.state().join("packages");
    make_test_package(
        work,
        "alpha",
        "1.0-1",
        "Haiku Project",
        &[],
        1_000,
        &packages.join("alpha-1.0-1-x86_64.hpkg"),
    );
    inst.run(&["publish"]);
    let (haiku_before, others) = objects(&garage, &inst.prefix);
    assert!(
        haiku_before.contains_key("packages/alpha-1.0-1-x86_64.hpkg"),
        "{haiku_before:?}"
    );
    assert!(others.is_empty(), "{others:?}");

    // Debian and RPM repositories beside it.
    let debs = work.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = build_deb(
        &debs,
        "Package: bm-libgreet\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\n\
         Description: greetings\n For the test.\n",
        "gzip",
    );
    let top = work.join("rpmbuild");
    std::fs::create_dir_all(&top).unwrap();
    let rpm = rpmbuild(
        &top,
        &Spec {
            name: "bm-libgreet",
            version: "1.0",
            preamble: "",
        },
    );
    inst.run(&["push", deb.to_str().unwrap(), "--to", "debian/*"]);
    inst.run(&["push", rpm.to_str().unwrap(), "--to", "el/*"]);
    let (haiku, pushed) = objects(&garage, &inst.prefix);
    assert_eq!(haiku, haiku_before, "a push changed the Haiku repository");
    assert!(
        pushed.keys().any(|k| k.starts_with("apt/dists/bookworm/")),
        "{pushed:?}"
    );
    assert!(
        pushed.keys().any(|k| k.starts_with("rpm/el/9/x86_64/repodata/")),
        "{pushed:?}"
    );

    // A new Haiku version, publish, and prune the old one with no grace: only Haiku objects move.
    make_test_package(
        work,
        "alpha",
        "1.1-1",
        "Haiku Project",
        &[],
        1_000,
        &packages.join("alpha-1.1-1-x86_64.hpkg"),
    );
    inst.run(&["publish"]);
    let out = inst.run(&["prune", "--grace-hours", "0", "--max-share", "1"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("1 moved"), "{shown}");
    let (haiku, after) = objects(&garage, &inst.prefix);
    assert!(
        haiku.contains_key("packages/.obsolete/alpha-1.0-1-x86_64.hpkg"),
        "{haiku:?}"
    );
    assert_eq!(
        after, pushed,
        "publishing or pruning the Haiku repository changed another repository"
    );
}
