//! Acceptance 1 of issue 16, through the real `buildmaster` binary: a HaikuPorts-style recipe whose
//! source is in the source cache (garage) builds on a real sshd builder with `network = "none"` and
//! the HaikuPorter stand-in, with nothing downloaded on the builder. The source is served once by a
//! test-owned HTTP server on 127.0.0.1 for `buildmaster sources fetch`; that server is then stopped and
//! a plain listener bound to its port instead, so any attempt to download it again would arrive there.
//!
//! Acceptance 4: the recorded manifest, as the API serves it, is rebuilt with `buildmaster rebuild` on
//! the other sshd builder (also without network) from its inputs alone — the source from the cache by
//! digest, the dependencies by SHA-256 — and the two packages have the same metadata and file list.
//!
//! Then, with the cache's object replaced by other bytes (same key), the build fails before it starts
//! naming the source and both digests; with the object gone, it fails naming the source and
//! `buildmaster sources fetch`. In both cases the build step never runs.

mod server_common;
mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use buildmaster::haiku::hpkg_reader::read_package;
use buildmaster::haiku::toc::TocEntry;
use buildmaster::manifest::store::ManifestStore;
use buildmaster::manifest::JobManifest;
use buildmaster::state::StateDir;
use buildmaster_storage::Sha256Digest;
use support::farm::{assert_success, Farm};
use support::netns::{got_connection, proc_net_dev_interfaces};

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A free port on 127.0.0.1 (bound and released: the caller binds it again at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `python3 -m http.server` serving a directory on 127.0.0.1; stopped (killed and reaped) on drop.
struct HttpServer(Child);

impl HttpServer {
    /// Serves `dir` on 127.0.0.1:`port`, ready when this returns.
    fn start(dir: &Path, port: u16) -> HttpServer {
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = HttpServer(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the HTTP server on port {port} did not start");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The source tarball: `offlineapp-1.0/hello.txt`.
fn make_tarball(dir: &Path) -> Vec<u8> {
    let src = dir.join("src/offlineapp-1.0");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), "bytes from the source cache\n").unwrap();
    let out = dir.join("serve");
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(out.join("offlineapp-1.0.tar.gz"))
        .arg("-C")
        .arg(dir.join("src"))
        .arg("offlineapp-1.0")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out.join("offlineapp-1.0.tar.gz")).unwrap()
}

/// The recipe: its BUILD records the interfaces it sees and the source file's text on the builder.
fn write_recipe(tree: &Path, port: u16, checksum: &str, revision: u32, seen: &Path) {
    let dir = tree.join("app-misc/offlineapp");
    std::fs::create_dir_all(&dir).unwrap();
    let recipe = format!(
        r#"SUMMARY="Built from the source cache without network"
DESCRIPTION="A test port whose only source comes from the source cache."
HOMEPAGE="https://example.org/offlineapp"
SOURCE_URI="http://127.0.0.1:{port}/offlineapp-1.0.tar.gz"
CHECKSUM_SHA256="{checksum}"
COPYRIGHT="2026 The offlineapp authors"
LICENSE="MIT"
REVISION="{revision}"
ARCHITECTURES="x86_64"

PROVIDES="
	offlineapp = $portVersion
	"
REQUIRES="
	haiku
	"
BUILD_REQUIRES="
	haiku_devel
	"

BUILD()
{{
	{{ ip -o link 2>&1; echo ---; cat /proc/net/dev; }} > "{seen}/net.txt"
	cat hello.txt > "{seen}/source.txt"
}}

INSTALL()
{{
	mkdir -p "$dataDir/offlineapp"
	cp hello.txt "$dataDir/offlineapp/"
}}
"#,
        seen = seen.display()
    );
    std::fs::write(dir.join("offlineapp-1.0.recipe"), recipe).unwrap();
    support::farm::git_commit_all(tree);
}

/// Every `[[builders]]` gets `network = "none"`; one attempt per build.
fn builders_offline(state: &Path) {
    let path = state.join("buildmaster.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in toml.lines() {
        out.push_str(&line.replace("max_attempts = 3", "max_attempts = 1"));
        out.push('\n');
        if line.starts_with("name = \"b") {
            out.push_str("network = \"none\"\n");
        }
    }
    std::fs::write(path, out).unwrap();
}

fn git_head(tree: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every entry of a package's TOC as `path type permissions symlink`, depth first: its file list.
fn file_list(entries: &[TocEntry], parent: &str, out: &mut Vec<String>) {
    for e in entries {
        let path = format!("{parent}/{}", e.name);
        out.push(format!(
            "{path} {:?} {:o} {:?}",
            e.entry_type, e.permissions, e.symlink_path
        ));
        file_list(&e.children, &path, out);
    }
}

/// The TOC with every timestamp cleared.
fn without_times(entries: &[TocEntry]) -> Vec<TocEntry> {
    entries
        .iter()
        .map(|e| TocEntry {
            atime: 0,
            mtime: 0,
            crtime: 0,
            atime_nanos: 0,
            mtime_nanos: 0,
            crtime_nanos: 0,
            children: without_times(&e.children),
            ..e.clone()
        })
        .collect()
}

/// Acceptance 4: the manifest served by the API rebuilt on the other builder; the packages compared.
async fn rebuild_on_the_other_builder(farm: &Farm, scratch: &Path, recorded: &JobManifest) {
    let database = StateDir::new(farm.state()).database();
    let mut server =
        server_common::Server::start(&StateDir::new(farm.state()).output(), Some(database), None).await;
    let path = format!(
        "/api/buildruns/{}/builds/{}/manifest",
        recorded.build.buildrun, recorded.build.build_number
    );
    let reply = server_common::get(&server.url(&path)).await;
    server.stop().await;
    assert_eq!(reply.status, 200);
    let served = reply.text();
    assert_eq!(served, recorded.to_json());
    let manifest_file = scratch.join("manifest.json");
    std::fs::write(&manifest_file, &served).unwrap();

    let other = if recorded.build.builder == "b1" {
        "b2"
    } else {
        "b1"
    };
    let out_dir = scratch.join("rebuilt");
    let out = farm.run(
        &[
            "rebuild",
            "--manifest",
            manifest_file.to_str().unwrap(),
            "--builder",
            other,
            "--out",
            out_dir.to_str().unwrap(),
        ],
        RUN_TIMEOUT,
    );
    assert_success(&out, "rebuild");
    assert_eq!(recorded.results.len(), 1, "{}", recorded.to_json());
    let file = &recorded.results[0];
    assert!(text(&out).contains(&format!("rebuilt: {file}")), "{}", text(&out));
    let original = farm.state().join("packages").join(file);
    let rebuilt = out_dir.join(file);
    let (a, b) = (read_package(&original).unwrap(), read_package(&rebuilt).unwrap());
    // HaikuPorter's builder config names the builder as the packager (`Builder <name>`): the one
    // field that must differ between builders; everything else is the same.
    assert!(
        a.info
            .packager
            .contains(&format!("Builder {}", recorded.build.builder)),
        "{}",
        a.info.packager
    );
    assert!(
        b.info.packager.contains(&format!("Builder {other}")),
        "{}",
        b.info.packager
    );
    let same_packager = |info: &buildmaster::haiku::package_info::PackageInfo| {
        let mut info = info.clone();
        info.packager.clear();
        info
    };
    assert_eq!(same_packager(&a.info), same_packager(&b.info), "package metadata");
    let (mut list_a, mut list_b) = (Vec::new(), Vec::new());
    file_list(&a.toc, "", &mut list_a);
    file_list(&b.toc, "", &mut list_b);
    assert_eq!(list_a, list_b, "file list");
    assert!(
        list_a.iter().any(|l| l.contains("/data/offlineapp/hello.txt")),
        "{list_a:?}"
    );
    let identical = std::fs::read(&original).unwrap() == std::fs::read(&rebuilt).unwrap();
    // Not byte-identical: the packager differs (above), and the files' timestamps are those of each
    // build (the stand-in packs what INSTALL wrote); apart from them the TOC is the same.
    assert_eq!(
        without_times(&a.toc),
        without_times(&b.toc),
        "TOC apart from timestamps"
    );
    println!("rebuilt {file} on {other}: byte-identical to the original: {identical}");
}

/// The raw bucket key of the source object with `digest`.
fn source_object(farm: &Farm, digest: &str) -> String {
    format!("{}/sources/sha256/{digest}", farm.prefix)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_source_builds_offline_and_a_tampered_or_missing_one_fails_before_the_build() {
    let farm = Farm::start(2);
    builders_offline(&farm.state());
    let scratch = tempfile::tempdir().unwrap();
    let tarball = make_tarball(scratch.path());
    let digest = Sha256Digest::of(&tarball).to_hex();
    let seen = scratch.path().join("seen");
    std::fs::create_dir_all(&seen).unwrap();
    let port = free_port();
    write_recipe(&farm.tree(), port, &digest, 1, &seen);

    // The master fetches the source once, from the test's server; then the server is gone and a
    // listener the test owns takes its port.
    let server = HttpServer::start(&scratch.path().join("serve"), port);
    let out = farm.run(&["sources", "fetch", "offlineapp"], RUN_TIMEOUT);
    drop(server);
    assert_success(&out, "sources fetch");
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();

    // a. Built offline from the cache.
    let out = farm.run(&["buildrun", "--no-publish", "offlineapp"], RUN_TIMEOUT);
    assert!(
        out.status.success() && text(&out).contains("built: offlineapp-1.0"),
        "{}\n{}",
        text(&out),
        farm.diagnostics()
    );
    let net = std::fs::read_to_string(seen.join("net.txt")).unwrap();
    let links: Vec<&str> = net.split("---\n").next().unwrap().lines().collect();
    assert_eq!(links.len(), 1, "only loopback: {net}");
    assert!(links[0].starts_with("1: lo:"), "{net}");
    assert_eq!(proc_net_dev_interfaces(&net), ["lo"], "{net}");
    assert_eq!(
        std::fs::read_to_string(seen.join("source.txt")).unwrap(),
        "bytes from the source cache\n"
    );
    assert!(
        !got_connection(&listener),
        "something tried to download the source"
    );

    let database = StateDir::new(farm.state()).database();
    let store = ManifestStore::open(&database).unwrap();
    let buildrun = *farm.buildrun_numbers().last().unwrap();
    let manifest = (1..100)
        .find_map(|n| store.get(buildrun, n).unwrap())
        .expect("a recorded manifest");
    let inputs = &manifest.inputs;
    assert_eq!(inputs.port, "offlineapp-1.0");
    assert_eq!(
        inputs.tree_revision.as_deref(),
        Some(git_head(&farm.tree()).as_str())
    );
    assert_eq!(inputs.sources.len(), 1, "{}", manifest.to_json());
    assert_eq!(inputs.sources[0].sha256, digest);
    assert_eq!(inputs.sources[0].size, tarball.len() as u64);
    assert!(inputs.sources[0]
        .placed_as
        .ends_with("app-misc/offlineapp/download/offlineapp-1.0.tar.gz"));
    assert!(!inputs.dependencies.is_empty(), "{}", manifest.to_json());
    for dep in &inputs.dependencies {
        let bytes = std::fs::read(farm.system_packages().join(&dep.file_name)).unwrap();
        assert_eq!(dep.sha256, Sha256Digest::of(&bytes).to_hex(), "{}", dep.file_name);
        assert_eq!(dep.size, bytes.len() as u64);
    }
    assert!(
        inputs.command.argv.last().map(String::as_str) == Some("offlineapp-1.0"),
        "{:?}",
        inputs.command.argv
    );
    assert_eq!(manifest.digest().to_hex(), manifest.inputs_sha256);

    rebuild_on_the_other_builder(&farm, scratch.path(), &manifest).await;
    let net = std::fs::read_to_string(seen.join("net.txt")).unwrap();
    assert_eq!(proc_net_dev_interfaces(&net), ["lo"], "the rebuild: {net}");
    assert!(
        !got_connection(&listener),
        "something tried to download the source"
    );

    // The builders' copies are removed, so the next builds must stream the source again.
    let placed: Vec<PathBuf> = farm
        .builders
        .iter()
        .map(|b| {
            b.work
                .join("haikuports/app-misc/offlineapp/download/offlineapp-1.0.tar.gz")
        })
        .collect();
    assert!(placed
        .iter()
        .any(|p| p.to_str() == Some(inputs.sources[0].placed_as.as_str())));
    let s3 = farm.garage.sdk_client();
    let key = source_object(&farm, &digest);

    // b. The object replaced by other bytes under the same key.
    let tampered = b"not the source".to_vec();
    s3.put_object()
        .bucket(farm.garage.bucket())
        .key(&key)
        .body(tampered.clone().into())
        .send()
        .await
        .unwrap();
    for p in &placed {
        std::fs::remove_file(p).unwrap();
    }
    let _ = std::fs::remove_file(seen.join("net.txt"));
    write_recipe(&farm.tree(), port, &digest, 2, &seen);
    let out = farm.run(&["buildrun", "--no-publish", "offlineapp"], RUN_TIMEOUT);
    let said = text(&out);
    // A buildrun with failed builds still completes (as HaikuPorter's): the failure is in its summary.
    assert!(said.contains("failed: offlineapp-1.0"), "{said}");
    assert!(said.contains("offlineapp-1.0.tar.gz"), "{said}");
    assert!(said.contains(&digest), "{said}");
    assert!(said.contains(&Sha256Digest::of(&tampered).to_hex()), "{said}");
    assert!(!seen.join("net.txt").exists(), "the build ran");
    assert!(
        !placed.iter().any(|p| p.exists()),
        "a tampered source was put in place"
    );

    // c. The object gone.
    s3.delete_object()
        .bucket(farm.garage.bucket())
        .key(&key)
        .send()
        .await
        .unwrap();
    write_recipe(&farm.tree(), port, &digest, 3, &seen);
    let out = farm.run(&["buildrun", "--no-publish", "offlineapp"], RUN_TIMEOUT);
    let said = text(&out);
    assert!(said.contains("failed: offlineapp-1.0"), "{said}");
    assert!(
        said.contains("offlineapp-1.0.tar.gz") && said.contains("buildmaster sources fetch offlineapp-1.0"),
        "{said}"
    );
    assert!(!seen.join("net.txt").exists(), "the build ran");
    assert!(
        !got_connection(&listener),
        "something tried to download the source"
    );
}
