//! Debian and RPM sources in the source cache (issue 16, "a source cache in the bucket"): a real
//! garage bucket, a tiny HTTP server on 127.0.0.1 owned by each test standing in for Fedora's
//! lookaside cache and a Debian archive's pool, and the build path through a real sshd builder
//! running real `rpmbuild` / `dpkg-buildpackage` with `network = "none"`.
//!
//! - RPM: each archive a dist-git `sources` file lists and the tree lacks is fetched from
//!   `<lookaside>/<name>/<file>/sha512/<hash>/<file>`, verified by its SHA-512, stored under its
//!   SHA-256; a second fetch makes no request; bytes with another SHA-512 are refused naming both,
//!   and nothing is stored; `sources add` of the right file fills it with no network at all.
//! - Debian: the `.orig` tarball a `3.0 (quilt)` package pins in `debian/source/orig-checksums` is
//!   fetched from `<archive>/pool/main/<prefix>/<source>/<file>`, verified by that SHA-256; other
//!   bytes are refused naming both digests.
//! - Builds: the job's inputs (`buildrun::inputs::prepare`) place the cached archive where the
//!   toolchain's build script puts it beside the spec (RPM) or unpacks it under the packaging
//!   (Debian); the manifest lists it by SHA-256; the package built contains the archive's file. With
//!   the object replaced in the bucket the build fails before it runs naming the file and both
//!   digests; with it gone, `prepare` fails naming it and `buildmaster sources fetch`.

#[path = "support/apt_root.rs"]
#[allow(dead_code)]
mod apt_root;
#[path = "support/rpm_tools.rs"]
#[allow(dead_code)]
mod rpm_tools;
#[path = "support/script_builder.rs"]
#[allow(dead_code)]
mod script_builder;
#[path = "support/source_trees.rs"]
mod source_trees;
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use buildmaster::builders::build::{BuildOutcome, BuildRequest};
use buildmaster::builders::error::BuilderError;
use buildmaster::builders::exec::Stream;
use buildmaster::builders::ports_tree::PortsTreeSync;
use buildmaster::builders::remote::RemoteBuilder;
use buildmaster::buildrun::inputs::{prepare, BuilderSide, InputSettings};
use buildmaster::manifest::JobManifest;
use buildmaster::ports::model::{ArchStatus, Port};
use buildmaster::sources::debian_orig::debian_sources;
use buildmaster::sources::lookaside::rpm_sources;
use buildmaster::sources::{FetchSettings, Fetched, RecipeSource, SourceCache, SourceError};
use buildmaster::toolchains::debian::procedure::DebianBuilderPaths;
use buildmaster::toolchains::debian::toolchain::DpkgBuildpackage;
use buildmaster::toolchains::rpm::procedure::RpmBuilderPaths;
use buildmaster::toolchains::rpm::toolchain::Rpmbuild;
use buildmaster::toolchains::Toolchain;
use buildmaster_storage::{ObjectKey, Sha256Digest, StorageBackend};
use buildmaster_storage_s3::S3Backend;
use source_trees::{debian_tree, file_in_package, rpm_tree, sha512, upstream_tarball, GREETING};
use support::garage::Garage;
use support::http_files::{Answer, Server};
use tokio_util::sync::CancellationToken;

/// The cache over a fresh prefix of garage's bucket, its database and spool under `dir`.
async fn new_cache(garage: &Garage, dir: &Path) -> (SourceCache, Arc<dyn StorageBackend>, String) {
    let prefix = format!("sources-rpm-debian/{:016x}", fastrand::u64(..));
    let storage: Arc<dyn StorageBackend> =
        Arc::new(S3Backend::new(&garage.s3_settings(&prefix)).await.unwrap());
    let cache = SourceCache::new(
        storage.clone(),
        &dir.join("buildmaster.sqlite"),
        dir.join("spool"),
        FetchSettings::default(),
    )
    .unwrap();
    (cache, storage, prefix)
}

fn source_key(digest: &str) -> ObjectKey {
    ObjectKey::new(format!("sources/sha256/{digest}")).unwrap()
}

async fn stored(storage: &Arc<dyn StorageBackend>, digest: &str) -> Option<Vec<u8>> {
    storage.head(&source_key(digest)).await.unwrap()?;
    Some(storage.get_bytes(&source_key(digest), 1 << 30).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_sources_come_from_the_lookaside_cache_verified_by_sha512() {
    let garage = Garage::shared();
    let dir = tempfile::tempdir().unwrap();
    let body = upstream_tarball(dir.path(), "hello-src-1.0", "greeting", GREETING);
    let (hash, digest) = (sha512(&body), Sha256Digest::of(&body).to_hex());
    let other = upstream_tarball(dir.path(), "hello-src-1.0", "greeting", "not upstream's\n");
    let tree = dir.path().join("tree");
    rpm_tree(&tree, &hash);
    // Fedora's layout; the second package's listed SHA-512 is served other bytes.
    let bad = tree.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let promised = sha512(b"what the sources file promised");
    std::fs::write(
        bad.join("sources"),
        format!("SHA512 (bad-1.tar.gz) = {promised}\n"),
    )
    .unwrap();
    let server = Server::start(HashMap::from([
        (
            format!("/repo/pkgs/hello-src/hello-src-1.0.tar.gz/sha512/{hash}/hello-src-1.0.tar.gz"),
            Answer::Body(body.clone()),
        ),
        (
            format!("/repo/pkgs/bad/bad-1.tar.gz/sha512/{promised}/bad-1.tar.gz"),
            Answer::Body(other.clone()),
        ),
    ]))
    .await;
    let base = server.url("/repo/pkgs");
    let (cache, storage, prefix) = new_cache(garage, dir.path()).await;

    let sources = rpm_sources(&tree, "hello-src", Some(&base)).unwrap();
    assert_eq!(sources.len(), 1);
    let (fetched, row) = cache.fetch(&sources[0]).await.unwrap();
    assert!(matches!(fetched, Fetched::Stored { .. }), "{fetched:?}");
    assert_eq!(
        (row.sha256.as_str(), row.verified_by.as_str(), row.size),
        (digest.as_str(), "sha512", body.len() as u64)
    );
    assert_eq!(stored(&storage, &digest).await.as_deref(), Some(&body[..]));
    assert_eq!(server.requests(), 1);
    // The SHA-512 now finds the stored object: no request.
    let again = rpm_sources(&tree, "hello-src", Some(&base)).unwrap();
    assert_eq!(cache.fetch(&again[0]).await.unwrap().0, Fetched::AlreadyStored);
    assert_eq!(server.requests(), 1);

    // Other bytes than the sources file lists: refused with both SHA-512s, nothing stored.
    let error = cache
        .fetch(&rpm_sources(&tree, "bad", Some(&base)).unwrap()[0])
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SourceError::Mismatch(_)), "{message}");
    for needle in [
        "bad",
        "source 1",
        &promised,
        &sha512(&other),
        "nothing was stored",
    ] {
        assert!(message.contains(needle), "{needle:?} missing from: {message}");
    }
    assert_eq!(stored(&storage, &Sha256Digest::of(&other).to_hex()).await, None);
    let keys = garage.raw_keys(&format!("{prefix}/sources/")).await;
    assert_eq!(keys, [format!("{prefix}/sources/sha256/{digest}")]);

    // By hand, with no lookaside at all: the wrong file is refused, the right one stored.
    let fresh = tempfile::tempdir().unwrap();
    let (by_hand, storage, _) = new_cache(garage, fresh.path()).await;
    let source = rpm_sources(&tree, "hello-src", None).unwrap().remove(0);
    assert!(source.uris.is_empty());
    let wrong = fresh.path().join("wrong.tar.gz");
    std::fs::write(&wrong, &other).unwrap();
    assert!(matches!(
        by_hand.add(&source, &wrong).await,
        Err(SourceError::Mismatch(_))
    ));
    let right = fresh.path().join("hello-src-1.0.tar.gz");
    std::fs::write(&right, &body).unwrap();
    let row = by_hand.add(&source, &right).await.unwrap();
    assert_eq!(
        (row.sha256.as_str(), row.verified_by.as_str()),
        (digest.as_str(), "sha512")
    );
    assert_eq!(stored(&storage, &digest).await.as_deref(), Some(&body[..]));
    assert_eq!(by_hand.fetch(&source).await.unwrap().0, Fetched::AlreadyStored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_orig_tarballs_come_from_the_archive_pool_verified_by_the_trees_pin() {
    let garage = Garage::shared();
    let dir = tempfile::tempdir().unwrap();
    let body = upstream_tarball(dir.path(), "greet-up-1.0", "greeting", GREETING);
    let digest = Sha256Digest::of(&body).to_hex();
    let tree = dir.path().join("tree");
    debian_tree(&tree, &digest, body.len());
    let pool = "/debian/pool/main/g/greet-up/greet-up_1.0.orig.tar.gz";
    let server = Server::start(HashMap::from([(pool.to_owned(), Answer::Body(body.clone()))])).await;
    let (cache, storage, _) = new_cache(garage, dir.path()).await;
    let sources = debian_sources(&tree, "greet-up", Some(&server.url("/debian"))).unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].uris, [server.url(pool)]);
    let (_, row) = cache.fetch(&sources[0]).await.unwrap();
    assert_eq!(
        (row.sha256.as_str(), row.verified_by.as_str()),
        (digest.as_str(), "checksum")
    );
    assert_eq!(stored(&storage, &digest).await.as_deref(), Some(&body[..]));

    // A pin the archive's bytes do not match: refused with both SHA-256s, nothing stored.
    let pinned = Sha256Digest::of(b"another release").to_hex();
    debian_tree(&tree, &pinned, 15);
    let fresh = tempfile::tempdir().unwrap();
    let (cache, storage, prefix) = new_cache(garage, fresh.path()).await;
    let error = cache
        .fetch(&debian_sources(&tree, "greet-up", Some(&server.url("/debian"))).unwrap()[0])
        .await
        .unwrap_err();
    let message = error.to_string();
    for needle in [
        "greet-up",
        &pinned,
        &digest,
        "debian/source/orig-checksums",
        "nothing was stored",
    ] {
        assert!(message.contains(needle), "{needle:?} missing from: {message}");
    }
    assert_eq!(stored(&storage, &digest).await, None);
    assert!(garage.raw_keys(&format!("{prefix}/sources/")).await.is_empty());
}

/// Runs `req` on `builder`, returning its outcome and log.
async fn build(
    builder: &mut RemoteBuilder,
    req: &BuildRequest,
) -> (Result<BuildOutcome, BuilderError>, String) {
    let mut log = Vec::new();
    let mut sink = |_: Stream, data: &[u8]| log.extend_from_slice(data);
    let outcome = builder.build(req, &mut sink, &CancellationToken::new()).await;
    (outcome, String::from_utf8_lossy(&log).into_owned())
}

/// The port the planner shows a tree's package as (name and version only).
fn port(name: &str, recipe: &str) -> Port {
    Port {
        name: name.into(),
        version: "1.0".into(),
        revision: 0,
        category: String::new(),
        recipe_path: PathBuf::from(recipe),
        secondary_arch: None,
        status: ArchStatus::Stable,
        packages: Vec::new(),
        build_requires: Vec::new(),
        build_prerequires: Vec::new(),
    }
}

/// One build of `target` from `tree` on a fresh sshd builder under `dir` with `toolchain`: the
/// inputs made by `prepare` (the source index in `database`), then the build; returns the manifest
/// (or `prepare`'s error) and the outcome with its log.
#[allow(clippy::too_many_arguments)]
async fn build_from_cache(
    sshd: &support::sshd::Sshd,
    database: &Path,
    dir: &Path,
    tree: &Path,
    toolchain: Arc<dyn Toolchain>,
    storage: Arc<dyn StorageBackend>,
    target: &str,
    results: Vec<String>,
) -> Result<(JobManifest, Result<BuildOutcome, BuilderError>, String), BuilderError> {
    let paths = script_builder::builder_paths(dir, tree);
    let mut builder = script_builder::sshd_builder(
        sshd,
        "src-1",
        dir,
        paths,
        Duration::from_secs(600),
        toolchain.clone(),
        storage.clone(),
    );
    let settings = InputSettings {
        tree: tree.to_owned(),
        target_arch: "x86_64".into(),
        database: database.to_owned(),
        made_dir: dir.join("made"),
        buildrun: 1,
        tree_revision: None,
    };
    let side = BuilderSide {
        name: "src-1".into(),
        toolchain,
        storage: Some(storage),
        offline: true,
    };
    let mut req = BuildRequest {
        number: 1,
        port: target.to_owned(),
        dependencies: Vec::new(),
        inputs: Vec::new(),
        results,
        ports_tree: PortsTreeSync::Skip,
    };
    let manifest = prepare(&settings, &side, &port(target, &format!("{target}/x")), &mut req).await?;
    let (outcome, log) = build(&mut builder, &req).await;
    Ok((manifest, outcome, log))
}

/// The source cache of `dir` holding `body` as source 1 of `source`; its storage and prefix.
async fn cached(
    garage: &Garage,
    dir: &Path,
    source: &RecipeSource,
    body: &[u8],
) -> (Arc<dyn StorageBackend>, String) {
    let (cache, storage, prefix) = new_cache(garage, dir).await;
    let file = dir.join(&source.file_name);
    std::fs::write(&file, body).unwrap();
    cache.add(source, &file).await.unwrap();
    (storage, prefix)
}

/// Replaces the object at `digest`'s key under `prefix` by `bytes`, as a plain S3 client would (no
/// metadata): a tampered bucket.
async fn tamper(garage: &Garage, prefix: &str, digest: &str, bytes: &[u8]) {
    garage
        .sdk_client()
        .put_object()
        .bucket(garage.bucket())
        .key(format!("{prefix}/sources/sha256/{digest}"))
        .body(bytes.to_vec().into())
        .send()
        .await
        .unwrap();
}

/// The cached source, tampered and then missing: both fail before the build runs, naming it.
async fn refusals(
    sshd: &support::sshd::Sshd,
    temp: &Path,
    tree: &Path,
    make: impl Fn(&Path) -> Arc<dyn Toolchain>,
    (storage, prefix): (Arc<dyn StorageBackend>, String),
    (target, file, digest, size): (&str, &str, &str, usize),
) {
    let other = vec![b'x'; size];
    tamper(Garage::shared(), &prefix, digest, &other).await;
    let dir = temp.join("tampered");
    let database = temp.join("buildmaster.sqlite");
    let (_, outcome, log) = build_from_cache(
        sshd,
        &database,
        &dir,
        tree,
        make(&dir),
        storage.clone(),
        target,
        Vec::new(),
    )
    .await
    .unwrap();
    let error = outcome.expect_err("built from a tampered source").to_string();
    for needle in [file, digest, &Sha256Digest::of(&other).to_hex()] {
        assert!(error.contains(needle), "{needle:?} missing from: {error}\n{log}");
    }
    assert!(
        !log.contains("rpmbuild") && !log.contains("dpkg-buildpackage"),
        "{log}"
    );

    storage.delete(&source_key(digest)).await.unwrap();
    let dir = temp.join("missing");
    let error = build_from_cache(
        sshd,
        &database,
        &dir,
        tree,
        make(&dir),
        storage,
        target,
        Vec::new(),
    )
    .await
    .map(|_| ())
    .expect_err("built without its source")
    .to_string();
    for needle in [file, "not in the source cache", "buildmaster sources fetch"] {
        assert!(error.contains(needle), "{needle:?} missing from: {error}");
    }
}

/// A package build whose one source comes from the cache.
struct CacheBuild<'a> {
    /// The job's target: the package directory in `tree`.
    target: &'a str,
    /// The recipe tree.
    tree: PathBuf,
    /// The source, as the tree names it.
    source: RecipeSource,
    /// Its bytes.
    body: Vec<u8>,
    /// The package file the build must produce.
    result: &'a str,
    /// A file inside that package.
    inside: &'a str,
}

/// Puts `case`'s source in a fresh cache and builds it on an sshd builder with `make`'s toolchain:
/// the manifest lists the source at the toolchain's inputs directory; then the tampered and missing
/// refusals. Returns the text of `case.inside` in the package built.
async fn builds_from_the_cache(
    temp: &Path,
    case: CacheBuild<'_>,
    make: impl Fn(&Path) -> Arc<dyn Toolchain>,
) -> String {
    let garage = Garage::shared();
    let sshd = support::sshd::Sshd::start();
    let digest = Sha256Digest::of(&case.body).to_hex();
    let (storage, prefix) = cached(garage, temp, &case.source, &case.body).await;
    let dir = temp.join("b1");
    let (manifest, outcome, log) = build_from_cache(
        &sshd,
        &temp.join("buildmaster.sqlite"),
        &dir,
        &case.tree,
        make(&dir),
        storage.clone(),
        case.target,
        vec![case.result.to_owned()],
    )
    .await
    .unwrap();
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}\n{log}"));
    let [listed] = &manifest.inputs.sources[..] else {
        panic!("{:?}", manifest.inputs.sources)
    };
    let file = case.source.file_name.as_str();
    assert_eq!(
        (listed.file_name.as_str(), listed.sha256.as_str()),
        (file, digest.as_str())
    );
    let work = script_builder::work_base(&dir);
    assert_eq!(listed.placed_as, format!("{work}/inputs/{}/{file}", case.target));
    let inside = file_in_package(&outcome.results[0].path, case.inside, &temp.join("x"));
    let size = case.body.len();
    refusals(
        &sshd,
        temp,
        &case.tree,
        make,
        (storage, prefix),
        (case.target, file, &digest, size),
    )
    .await;
    inside
}

#[tokio::test(flavor = "multi_thread")]
async fn an_rpm_build_gets_its_lookaside_archive_from_the_cache_and_nothing_else() {
    for tool in ["rpmspec", "rpmbuild", "rpm", "rpm2archive", "unshare"] {
        rpm_tools::require_tool(tool);
    }
    let temp = tempfile::tempdir().unwrap();
    let body = upstream_tarball(temp.path(), "hello-src-1.0", "greeting", GREETING);
    let tree = temp.path().join("tree");
    rpm_tree(&tree, &sha512(&body));
    let source = rpm_sources(&tree, "hello-src", None).unwrap().remove(0);
    let make = |dir: &Path| -> Arc<dyn Toolchain> {
        let paths = script_builder::builder_paths(dir, &tree);
        Arc::new(Rpmbuild::new(
            RpmBuilderPaths {
                recipe_tree: paths.ports_tree.clone(),
                work_base: script_builder::work_base(dir),
                dependencies: paths.packages.clone(),
            },
            paths.cache.clone(),
        ))
    };
    let case = CacheBuild {
        target: "hello-src",
        tree: tree.clone(),
        source,
        body,
        result: "hello-src-1.0-1.noarch.rpm",
        inside: "usr/share/hello-src/greeting",
    };
    assert_eq!(builds_from_the_cache(temp.path(), case, make).await, GREETING);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_debian_quilt_build_unpacks_its_orig_tarball_from_the_cache_and_applies_its_patches() {
    let root = apt_root::root_tarball();
    let temp = tempfile::tempdir().unwrap();
    let body = upstream_tarball(temp.path(), "greet-up-1.0", "greeting", GREETING);
    let tree = temp.path().join("tree");
    debian_tree(&tree, &Sha256Digest::of(&body).to_hex(), body.len());
    let source = debian_sources(&tree, "greet-up", None).unwrap().remove(0);
    let make = |dir: &Path| -> Arc<dyn Toolchain> {
        let paths = script_builder::builder_paths(dir, &tree);
        Arc::new(DpkgBuildpackage::new(
            DebianBuilderPaths {
                root_tarball: script_builder::path_string(&root),
                recipe_tree: paths.ports_tree.clone(),
                work_base: script_builder::work_base(dir),
                dependencies: paths.packages.clone(),
            },
            paths.cache.clone(),
        ))
    };
    let case = CacheBuild {
        target: "greet-up",
        tree: tree.clone(),
        source,
        body,
        result: "greet-up_1.0-1_all.deb",
        inside: "usr/share/greet-up/greeting",
    };
    let inside = builds_from_the_cache(temp.path(), case, make).await;
    assert_eq!(inside, format!("{GREETING}patched by debian/patches\n"));
}

/// `buildmaster sources …` on an instance whose `[ports]` is the `kind` tree at `tree`.
fn cli(state: &Path, storage_json: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .arg("--state-dir")
        .arg(state)
        .arg("--storage-backend-config")
        .arg(storage_json)
        .arg("sources")
        .args(args)
        .env_remove("BUILDMASTER_CONFIG")
        .env_remove("BUILDMASTER_LOOKASIDE")
        .env_remove("BUILDMASTER_DEBIAN_ARCHIVE")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_fetch_and_check_take_the_trees_kind_from_the_config() {
    let garage = Garage::shared();
    let dir = tempfile::tempdir().unwrap();
    let rpm_body = upstream_tarball(dir.path(), "hello-src-1.0", "greeting", GREETING);
    let deb_body = upstream_tarball(dir.path(), "greet-up-1.0", "greeting", GREETING);
    let hash = sha512(&rpm_body);
    let server = Server::start(HashMap::from([
        (
            format!("/pkgs/hello-src/hello-src-1.0.tar.gz/sha512/{hash}/hello-src-1.0.tar.gz"),
            Answer::Body(rpm_body.clone()),
        ),
        (
            "/debian/pool/main/g/greet-up/greet-up_1.0.orig.tar.gz".to_owned(),
            Answer::Body(deb_body.clone()),
        ),
    ]))
    .await;
    let storage_json = dir.path().join("storage.json");
    let prefix = format!("sources-cli/{:016x}", fastrand::u64(..));
    std::fs::write(&storage_json, garage.storage_json(&prefix)).unwrap();
    for (kind, option, url, file, digest) in [
        (
            "rpm",
            "--lookaside",
            server.url("/pkgs"),
            "hello-src-1.0.tar.gz",
            Sha256Digest::of(&rpm_body).to_hex(),
        ),
        (
            "debian",
            "--debian-archive",
            server.url("/debian"),
            "greet-up_1.0.orig.tar.gz",
            Sha256Digest::of(&deb_body).to_hex(),
        ),
    ] {
        let tree = dir.path().join(format!("{kind}-tree"));
        if kind == "rpm" {
            rpm_tree(&tree, &hash);
        } else {
            debian_tree(&tree, &Sha256Digest::of(&deb_body).to_hex(), deb_body.len());
        }
        let state = dir.path().join(format!("{kind}-state"));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(
            state.join("buildmaster.toml"),
            format!("[ports]\nkind = \"{kind}\"\ntree = \"{}\"\n", tree.display()),
        )
        .unwrap();
        let (state2, json) = (state.clone(), storage_json.clone());
        let run = move |args: Vec<String>| {
            let (state, json) = (state2.clone(), json.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    cli(
                        &state,
                        &json,
                        &args.iter().map(String::as_str).collect::<Vec<_>>(),
                    )
                })
                .await
                .unwrap()
            }
        };
        let missing = run(vec!["check".into()]).await;
        assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
        assert!(text(&missing).contains(file), "{}", text(&missing));
        let refused = run(vec!["fetch".into()]).await;
        assert!(
            !refused.status.success() && text(&refused).contains(option),
            "{}",
            text(&refused)
        );
        let fetched = run(vec!["fetch".into(), option.into(), url.clone()]).await;
        assert!(fetched.status.success(), "{}", text(&fetched));
        assert!(text(&fetched).contains(&digest), "{}", text(&fetched));
        let checked = run(vec!["check".into()]).await;
        assert!(checked.status.success(), "{}", text(&checked));
    }
}
