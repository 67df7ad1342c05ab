//! The real HaikuPorter (1.4.0 @8c51a310, from ../shared/real via scripts/real-inputs.sh) against
//! sources placed the way the builder flow places them from the source cache: the paths and the
//! `<file>.uri` companion come from our own code (`buildrun::inputs::for_builder` and
//! `placed_inputs` for a HaikuPorter builder whose ports tree is a test tree), the bytes are the
//! cached source's. HaikuPorter then runs as far as fetch, checksum and unpack (`-n -b`: no patch, no
//! build) inside `unshare --net`, with the recipe's `SOURCE_URI` naming a listener this test owns on
//! 127.0.0.1:
//!
//! - placed as we place it, HaikuPorter skips the download ("Skipping download of source for …"),
//!   validates `CHECKSUM_SHA256` and unpacks the source; the listener gets no connection;
//! - without the `.uri` file, HaikuPorter deletes the file and tries to download it, and fails (so
//!   the `.uri` is what makes it accept the placed file, and the first case could fail);
//! - with other bytes at the placed path, it stops at its own checksum check, naming both digests.
//!
//! HaikuPorter refuses native builds on Linux unless asked for source packages; with
//! `--create-source-packages -n -b` it stops after unpacking. Needs python3, gcc (HaikuPorter asks
//! `gcc -dumpmachine`) and root for `unshare --net`.

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use buildmaster::builders::builder_conf::BuilderConfValues;
use buildmaster::builders::config::BuilderSection;
use buildmaster::builders::package::PlacedInput;
use buildmaster::buildrun::inputs::{for_builder, placed_inputs, BuilderSide};
use buildmaster::manifest::{BuildCommand, BuildIdentity, JobInputs, SourceInput};
use buildmaster::toolchains::haikuporter::HaikuPorter;
use buildmaster_storage::Sha256Digest;
use support::farm::{assert_success, run_with_timeout};
use support::netns::got_connection;

/// HaikuPorter's start (reading the tree, its repository) and the unpack, on a loaded machine.
const HAIKUPORTER_TIMEOUT: Duration = Duration::from_secs(300);

/// Where scripts/real-inputs.sh extracted HaikuPorter and the real tree.
fn real_inputs() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/real-inputs.sh");
    let out = run_with_timeout(Command::new("bash").arg(script), HAIKUPORTER_TIMEOUT);
    assert_success(&out, "scripts/real-inputs.sh");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// An upstream tarball `foo-1.0.tar.gz` holding `foo-1.0/README` with `readme`.
fn tarball(dir: &Path, readme: &str) -> Vec<u8> {
    let staging = dir.join("upstream");
    std::fs::create_dir_all(staging.join("foo-1.0")).unwrap();
    std::fs::write(staging.join("foo-1.0/README"), readme).unwrap();
    let out = Command::new("tar")
        .arg("-C")
        .arg(&staging)
        .args(["-czf", "-", "foo-1.0"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A ports tree at `root` with one port, `app-misc/foo-1.0`, whose only source is `uri` with the
/// checksum `digest`, and HaikuPorter's configuration for it (no `OUTPUT_DIRECTORY`, as a builder's
/// `haikuports.conf` has none); returns the configuration file.
fn ports_tree(real: &Path, root: &Path, uri: &str, digest: &str) -> PathBuf {
    let port = root.join("tree/app-misc/foo");
    std::fs::create_dir_all(&port).unwrap();
    std::fs::copy(
        real.join("haikuports/FormatVersions"),
        root.join("tree/FormatVersions"),
    )
    .unwrap();
    std::fs::write(
        port.join("foo-1.0.recipe"),
        format!(
            "SUMMARY=\"A port for the tests\"\nDESCRIPTION=\"Test port.\"\nHOMEPAGE=\"https://example.org\"\n\
             COPYRIGHT=\"2024 The authors\"\nLICENSE=\"MIT\"\nREVISION=\"1\"\n\
             SOURCE_URI=\"{uri}\"\nCHECKSUM_SHA256=\"{digest}\"\nARCHITECTURES=\"any\"\n\
             PROVIDES=\"foo = $portVersion\"\nREQUIRES=\"\"\nBUILD_REQUIRES=\"\"\nBUILD_PREREQUIRES=\"\"\n\
             BUILD()\n{{\n\ttrue\n}}\n\nINSTALL()\n{{\n\ttrue\n}}\n"
        ),
    )
    .unwrap();
    // Settings HaikuPorter insists on off Haiku; none of them is used before the build step.
    let unused = root.join("unused");
    std::fs::create_dir_all(&unused).unwrap();
    let conf = root.join("haikuports.conf");
    std::fs::write(
        &conf,
        format!(
            "TREE_PATH=\"{tree}\"\nPACKAGER=\"Source Test <sources@localhost>\"\n\
             TARGET_ARCHITECTURE=\"x86_64\"\nLICENSES_DIRECTORY=\"{licenses}\"\n\
             PACKAGE_COMMAND=\"/bin/false\"\nPACKAGE_REPO_COMMAND=\"/bin/false\"\nALLOW_UNTESTED=\"yes\"\n\
             MIMESET_COMMAND=\"/bin/true\"\nSYSTEM_MIME_DB=\"{unused}\"\nCROSS_TOOLS=\"{unused}\"\n",
            tree = root.join("tree").display(),
            licenses = real.join("licenses").display(),
            unused = unused.display(),
        ),
    )
    .unwrap();
    conf
}

/// What the builder flow places for `foo-1.0`'s source on a HaikuPorter builder whose ports tree
/// is `tree`: the source file and its `.uri` (made under `made`).
fn placement(tree: &Path, made: &Path, uri: &str, bytes: &[u8]) -> Vec<PlacedInput> {
    let section: BuilderSection = toml::from_str(&format!(
        "name = \"hp\"\nnetwork = \"none\"\n[portstree]\npath = \"{}\"\n",
        tree.display()
    ))
    .unwrap();
    let spec = section.resolve().unwrap();
    let side = BuilderSide {
        name: "hp".into(),
        toolchain: Arc::new(HaikuPorter::new(&spec, BuilderConfValues::default())),
        storage: None,
        offline: true,
    };
    let inputs = JobInputs {
        port: "foo-1.0".into(),
        recipe: "app-misc/foo/foo-1.0.recipe".into(),
        tree_revision: None,
        sources: vec![SourceInput {
            source_index: "1".into(),
            file_name: "foo-1.0.tar.gz".into(),
            uri: uri.into(),
            sha256: Sha256Digest::of(bytes).to_hex(),
            size: bytes.len() as u64,
            placed_as: String::new(),
        }],
        dependencies: Vec::new(),
        command: BuildCommand {
            argv: Vec::new(),
            work_dir: String::new(),
            env: BTreeMap::new(),
        },
    };
    let identity = BuildIdentity {
        buildrun: 1,
        build_number: 1,
        builder: "hp".into(),
    };
    let manifest = for_builder(identity, inputs, &side).unwrap();
    placed_inputs(&manifest, made, side.toolchain.as_ref()).unwrap()
}

/// Puts each placed input where the builder would: the source's bytes (streamed from the cache on a
/// real builder) or the made file.
fn place(inputs: &[PlacedInput], source_bytes: &[u8]) {
    for input in inputs {
        let dest = Path::new(&input.dest);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        match &input.local {
            Some(local) => std::fs::copy(local, dest).map(|_| ()).unwrap(),
            None => std::fs::write(dest, source_bytes).unwrap(),
        }
    }
}

/// HaikuPorter's fetch, checksum and unpack of foo-1.0 without network.
fn run_haikuporter(real: &Path, conf: &Path, tree: &Path) -> (bool, String) {
    let out: Output = run_with_timeout(
        Command::new("unshare")
            .args(["--net", "--", "python3"])
            .arg(real.join("haikuporter/haikuporter.py"))
            .arg(format!("--config={}", conf.display()))
            .args(["--create-source-packages", "-n", "-b", "-y", "foo-1.0"])
            .current_dir(tree),
        HAIKUPORTER_TIMEOUT,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

struct Case {
    real: PathBuf,
    temp: tempfile::TempDir,
    conf: PathBuf,
    tree: PathBuf,
    uri: String,
    bytes: Vec<u8>,
    placed: Vec<PlacedInput>,
}

/// A fresh tree whose source URI is the listener at `port`, the placement of its source computed.
fn case(real: &Path, port: u16) -> Case {
    let temp = tempfile::tempdir().unwrap();
    let bytes = tarball(temp.path(), "placed from the source cache\n");
    let uri = format!("http://127.0.0.1:{port}/foo-1.0.tar.gz");
    let conf = ports_tree(real, temp.path(), &uri, &Sha256Digest::of(&bytes).to_hex());
    let tree = temp.path().join("tree");
    let placed = placement(&tree, &temp.path().join("made"), &uri, &bytes);
    Case {
        real: real.to_owned(),
        temp,
        conf,
        tree,
        uri,
        bytes,
        placed,
    }
}

#[test]
fn real_haikuporter_accepts_sources_placed_from_the_cache_without_downloading() {
    let real = real_inputs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    // As placed: skipped download, checksum validated, unpacked.
    let c = case(&real, port);
    assert_eq!(
        c.placed.iter().map(|p| p.dest.as_str()).collect::<Vec<_>>(),
        [
            format!("{}/app-misc/foo/download/foo-1.0.tar.gz", c.tree.display()),
            format!("{}/app-misc/foo/download/foo-1.0.tar.gz.uri", c.tree.display()),
        ]
    );
    place(&c.placed, &c.bytes);
    assert_eq!(
        std::fs::read_to_string(&c.placed[1].dest).unwrap(),
        c.uri,
        "the .uri holds the recipe's URI"
    );
    let (ok, log) = run_haikuporter(&c.real, &c.conf, &c.tree);
    assert!(ok, "haikuporter failed:\n{log}");
    assert!(
        log.contains("Skipping download of source for foo-1.0.tar.gz"),
        "{log}"
    );
    assert!(log.contains("Validating checksum of foo-1.0.tar.gz"), "{log}");
    assert!(!log.contains("Downloading:"), "{log}");
    let unpacked = c.tree.join("app-misc/foo/work-1.0/sources/foo-1.0/README");
    assert_eq!(
        std::fs::read_to_string(&unpacked).unwrap(),
        "placed from the source cache\n"
    );
    assert!(
        !got_connection(&listener),
        "HaikuPorter connected to the recipe's URI"
    );
    drop(c.temp);

    // Without the .uri file HaikuPorter does not trust the file: it removes it and downloads.
    let c = case(&real, port);
    place(&c.placed[..1], &c.bytes);
    let (ok, log) = run_haikuporter(&c.real, &c.conf, &c.tree);
    assert!(!ok, "haikuporter built without the .uri file:\n{log}");
    assert!(log.contains(&format!("Downloading: {}", c.uri)), "{log}");
    assert!(
        log.contains("Failed to fetch source from all known locations"),
        "{log}"
    );

    // Other bytes where the source goes: HaikuPorter's own checksum check refuses them.
    let c = case(&real, port);
    let other = tarball(&c.temp.path().join("other"), "not the recipe's source\n");
    place(&c.placed, &other);
    let (ok, log) = run_haikuporter(&c.real, &c.conf, &c.tree);
    assert!(!ok, "haikuporter accepted other bytes:\n{log}");
    assert!(
        log.contains(&format!(
            "Expected SHA-256: {}",
            Sha256Digest::of(&c.bytes).to_hex()
        )),
        "{log}"
    );
    assert!(log.contains(&Sha256Digest::of(&other).to_hex()), "{log}");
    assert!(
        !got_connection(&listener),
        "HaikuPorter connected to the recipe's URI"
    );
}
