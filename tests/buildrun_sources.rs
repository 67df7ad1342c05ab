//! A Debian/RPM source from the source cache through the real `buildmaster` binary (issue 16, "a
//! source cache in the bucket"): an RPM dist-git tree whose `hello-src` lists its upstream tarball in
//! its `sources` file (the tarball is not in the tree), served once by a tiny HTTP server on
//! 127.0.0.1 in Fedora's lookaside layout; one real sshd builder with `toolchain = "rpm"` and
//! `network = "none"`; garage as storage.
//!
//! - Before `sources fetch`, `buildmaster buildrun hello-src` reports the build failed, its output
//!   and build log naming the tarball and `buildmaster sources fetch`, and rpmbuild never runs.
//! - `buildmaster sources fetch --lookaside URL` stores it (verified by the SHA-512); the HTTP server
//!   is then stopped, and `buildmaster buildrun hello-src` builds: the job manifest lists the tarball
//!   by SHA-256, placed in the builder's inputs directory, and the package holds its file.
//!
//! Needs root (`unshare --net`) and rpm's tools (scripts/install-test-tools.sh).

#[path = "support/foreign_instance.rs"]
#[allow(dead_code)]
mod foreign_instance;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
#[path = "support/source_trees.rs"]
#[allow(dead_code)]
mod source_trees;
mod support;

use std::collections::HashMap;
use std::path::Path;

use buildmaster::manifest::store::ManifestStore;
use buildmaster::state::StateDir;
use buildmaster_storage::Sha256Digest;
use foreign_instance::{BuilderEntry, ForeignInstance};
use source_trees::{file_in_package, rpm_tree, sha512, upstream_tarball, GREETING};
use support::garage::Garage;
use support::http_files::{Answer, Server};
use support::sshd::Sshd;

const SETTINGS: &str = "kind = \"rpm\"\nrepository = \"el/9/x86_64\"\n\
    [[repositories]]\nid = \"el/9/x86_64\"\nroot = \"rpm/el/9/x86_64\"\n\
    [repositories.rpm]\ndistro = \"el\"\nrelease = \"9\"\narch = \"x86_64\"\n";

fn rpm_builder(work: &Path) -> String {
    format!(
        "toolchain = \"rpm\"\n[builders.rpm]\nwork_base = \"{}/work\"\n",
        work.display()
    )
}

#[test]
fn a_buildrun_of_an_rpm_tree_gets_its_lookaside_archive_from_the_cache() {
    for tool in ["rpmspec", "rpmbuild", "rpm", "rpm2archive", "unshare"] {
        rpm_tools::require_tool(tool);
    }
    let garage = Garage::shared();
    let temp = tempfile::tempdir().unwrap();
    let body = upstream_tarball(temp.path(), "hello-src-1.0", "greeting", GREETING);
    let (hash, digest) = (sha512(&body), Sha256Digest::of(&body).to_hex());
    let fixture = temp.path().join("fixture");
    rpm_tree(&fixture, &hash);
    let dir = temp.path().join("instance");
    std::fs::create_dir_all(&dir).unwrap();
    let inst = ForeignInstance::new(garage, &dir, &fixture, &["hello-src"]);
    let sshd = Sshd::start();
    inst.configure(
        SETTINGS,
        &[BuilderEntry {
            name: "rpm1",
            sshd: &sshd,
            toolchain: &rpm_builder,
        }],
    );

    // Not fetched yet: the build fails before rpmbuild runs, naming the tarball.
    let out = foreign_instance::text(&inst.buildmaster(&["buildrun", "hello-src"]));
    assert!(out.contains("failed: hello-src-1.0-1"), "{out}");
    let logs = inst.build_logs();
    for needle in [
        "hello-src-1.0.tar.gz",
        "not in the source cache",
        "buildmaster sources fetch hello-src",
    ] {
        assert!(
            out.contains(needle) && logs.contains(needle),
            "{needle:?} missing from:\n{out}\n{logs}"
        );
    }
    assert!(!sshd.work.join("work/results/hello-src").exists());

    // Fetched once from the lookaside cache, which then goes away.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::start(HashMap::from([(
        format!("/repo/pkgs/hello-src/hello-src-1.0.tar.gz/sha512/{hash}/hello-src-1.0.tar.gz"),
        Answer::Body(body.clone()),
    )])));
    let fetched = inst.ok(&["sources", "fetch", "--lookaside", &server.url("/repo/pkgs")]);
    assert!(fetched.contains(&digest), "{fetched}");
    assert_eq!(server.requests(), 1);
    drop(runtime);

    let built = inst.ok(&["buildrun", "hello-src"]);
    assert!(built.contains("built: hello-src-1.0-1"), "{built}");
    assert!(
        inst.build_logs()
            .contains("job manifest recorded: 1 sources, 0 dependencies"),
        "{}",
        inst.build_logs()
    );
    let manifest = ManifestStore::open(&StateDir::new(inst.state()).database())
        .unwrap()
        .find_by_result("hello-src-1.0-1.noarch.rpm")
        .unwrap()
        .expect("the build's manifest");
    let [source] = &manifest.inputs.sources[..] else {
        panic!("{:?}", manifest.inputs.sources)
    };
    assert_eq!(
        (source.file_name.as_str(), source.sha256.as_str()),
        ("hello-src-1.0.tar.gz", digest.as_str())
    );
    assert_eq!(
        source.placed_as,
        format!(
            "{}/work/inputs/hello-src/hello-src-1.0.tar.gz",
            sshd.work.display()
        )
    );

    // The package built holds the tarball's file.
    let rpm = sshd.work.join("cache/hello-src-1.0-1.noarch.rpm");
    let inside = file_in_package(&rpm, "usr/share/hello-src/greeting", &temp.path().join("x"));
    assert_eq!(inside, GREETING);
}
