//! Acceptance 1 of issue 16, through the real `buildmaster` binary: a HaikuPorts-style recipe whose
//! source is in the source cache (garage) builds on a real sshd builder with `network = "none"` and
//! the HaikuPorter stand-in, with nothing downloaded on the builder. The source is served once by a
//! test-owned HTTP server on 127.0.0.1 for `buildmaster sources fetch`; that server is then stopped and
//! a plain listener bound to its port instead, so any attempt to download it again would arrive there.
//!
//! Then, with the cache's object replaced by other bytes (same key), the build fails before it starts
//! naming the source and both digests; with the object gone, it fails naming the source and
//! `buildmaster sources fetch`. In both cases the build step never runs.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use buildmaster::manifest::store::ManifestStore;
use buildmaster::state::StateDir;
use buildmaster_storage::Sha256Digest;
use support::farm::{assert_success, Farm};

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

/// Interface names in `/proc/net/dev` (after its two header lines).
fn proc_net_dev_interfaces(net: &str) -> Vec<String> {
    let dev = net.split("---\n").nth(1).unwrap_or_default();
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect()
}

/// Whether the listener got a connection (non-blocking: a queued one is accepted at once).
fn got_connection(listener: &TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
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

/// The raw bucket key of the source object with `digest`.
fn source_object(farm: &Farm, digest: &str) -> String {
    format!("{}/sources/sha256/{digest}", farm.prefix)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_source_builds_offline_and_a_tampered_or_missing_one_fails_before_the_build() {
    let farm = Farm::start(1);
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

    // The builder's copy is removed, so the next builds must stream the source again.
    let placed = PathBuf::from(&inputs.sources[0].placed_as);
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
    let _ = std::fs::remove_file(&placed);
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
    assert!(!placed.exists(), "a tampered source was put in place");

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
