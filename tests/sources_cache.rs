//! The source cache end to end: recipes in a real ports tree evaluated by bash, sources served by a
//! tiny HTTP server on 127.0.0.1 owned by each test (it counts requests), and a real garage bucket
//! as the instance's storage.
//!
//! - a source with the right CHECKSUM_SHA256 is fetched once (through a dead first URI and a
//!   redirect), stored under `sources/sha256/<hex>`, and a second fetch makes no request;
//! - a wrong checksum is refused with both digests and the URI, and nothing is stored or recorded;
//! - `sources add` of the right file stores it with no network at all; of the wrong file, refuses;
//! - a git source at a pinned commit of a local bare repository is archived as HaikuPorter archives
//!   it (the digest equals `git archive --format tar`'s, computed here independently) and pinned.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use buildmaster::ports::{EvalOptions, PortsTree};
use buildmaster::sources::recipe::sources_of;
use buildmaster::sources::{FetchSettings, Fetched, RecipeSource, SourceCache, SourceError, SourceStatus};
use buildmaster_storage::{ObjectKey, Sha256Digest, StorageBackend};
use buildmaster_storage_s3::S3Backend;
use support::garage::Garage;
use support::http_files::{Answer, Server};

/// A source tarball's bytes (any bytes do: the cache never unpacks).
fn tarball(seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..300_000).map(|_| rng.u8(..)).collect()
}

/// Writes `app-misc/foo/foo-1.0.recipe` with these source lines and loads the tree.
fn tree_with(root: &Path, source_lines: &str) -> PortsTree {
    let dir = root.join("app-misc/foo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("foo-1.0.recipe"),
        format!(
            "SUMMARY=\"A port for the tests\"\nDESCRIPTION=\"Test port.\"\nHOMEPAGE=\"https://example.org\"\n\
             COPYRIGHT=\"2024 The authors\"\nLICENSE=\"MIT\"\nREVISION=\"1\"\nARCHITECTURES=\"all\"\n\
             PROVIDES=\"foo = $portVersion\"\n{source_lines}\n\
             BUILD()\n{{\n\tmake\n}}\n\nINSTALL()\n{{\n\tmake install\n}}\n"
        ),
    )
    .unwrap();
    let options = EvalOptions {
        target_arch: "x86_64".into(),
        secondary_archs: Vec::new(),
        allow_untested: false,
        licenses_dir: None,
        cache: None,
        jobs: 1,
    };
    let tree = PortsTree::load(root, &options).unwrap();
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    tree
}

fn sources(tree: &PortsTree) -> Vec<RecipeSource> {
    sources_of(tree.root(), tree.active("foo").unwrap(), "x86_64").unwrap()
}

/// The cache over a fresh prefix of the shared garage bucket, with its database and spool in `dir`.
async fn cache(garage: &Garage, dir: &Path, name: &str) -> (SourceCache, Arc<S3Backend>, String) {
    let prefix = format!("sources-cache/{name}-{:016x}", fastrand::u64(..));
    let storage = Arc::new(S3Backend::new(&garage.s3_settings(&prefix)).await.unwrap());
    let cache = SourceCache::new(
        storage.clone(),
        &dir.join("buildmaster.sqlite"),
        dir.join("spool"),
        FetchSettings::default(),
    )
    .unwrap();
    (cache, storage, prefix)
}

async fn stored_bytes(storage: &S3Backend, digest: &str) -> Option<Vec<u8>> {
    let key = ObjectKey::new(format!("sources/sha256/{digest}")).unwrap();
    storage.head(&key).await.unwrap()?;
    Some(storage.get_bytes(&key, 1 << 30).await.unwrap())
}

fn spool_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("spool")).map_or(true, |mut entries| entries.next().is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksummed_source_is_fetched_once_and_stored_by_content() {
    let garage = Garage::shared();
    let body = tarball(1);
    let digest = Sha256Digest::of(&body).to_hex();
    let server = Server::start(HashMap::from([
        (
            "/moved/foo-1.0.tar.gz".to_owned(),
            Answer::Redirect("/files/foo-1.0.tar.gz".into()),
        ),
        ("/files/foo-1.0.tar.gz".to_owned(), Answer::Body(body.clone())),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    // The first URI is a dead mirror (404); the second redirects to the file.
    let tree = tree_with(
        &dir.path().join("ports"),
        &format!(
            "SOURCE_URI=\"{}\n\t{}#noarchive\"\nCHECKSUM_SHA256=\"{digest}\"",
            server.url("/gone/foo-1.0.tar.gz"),
            server.url("/moved/foo-1.0.tar.gz")
        ),
    );
    let sources = sources(&tree);
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].file_name, "foo-1.0.tar.gz");
    let (cache, storage, prefix) = cache(garage, dir.path(), "once").await;

    let (fetched, row) = cache.fetch(&sources[0]).await.unwrap();
    assert_eq!(
        fetched,
        Fetched::Stored {
            from: format!("{}#noarchive", server.url("/moved/foo-1.0.tar.gz"))
        }
    );
    assert_eq!(
        (row.sha256.as_str(), row.size, row.verified_by.as_str()),
        (digest.as_str(), 300_000, "checksum")
    );
    assert_eq!(server.requests(), 3, "404, redirect, file");
    assert_eq!(stored_bytes(&storage, &digest).await.as_deref(), Some(&body[..]));
    // In the bucket under the content key, nothing else (no temporary objects left).
    let keys: Vec<String> = garage
        .raw_keys(&prefix)
        .await
        .into_iter()
        .filter(|k| !k.contains("/.uploads/") && !k.contains("/.buildmaster"))
        .collect();
    assert_eq!(keys, [format!("{prefix}/sources/sha256/{digest}")]);
    assert!(spool_is_empty(dir.path()));

    // Again: already stored, no request at all.
    let (fetched, _) = cache.fetch(&sources[0]).await.unwrap();
    assert_eq!(fetched, Fetched::AlreadyStored);
    assert_eq!(server.requests(), 3);
    assert!(matches!(
        cache.status(&sources[0]).await.unwrap(),
        SourceStatus::Present(_)
    ));
    assert_eq!(cache.list().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_checksum_is_refused_with_both_digests_and_nothing_is_stored() {
    let garage = Garage::shared();
    let body = tarball(2);
    let actual = Sha256Digest::of(&body).to_hex();
    let expected = Sha256Digest::of(b"what the recipe promised").to_hex();
    let server = Server::start(HashMap::from([(
        "/foo-1.0.tar.gz".to_owned(),
        Answer::Body(body),
    )]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let uri = server.url("/foo-1.0.tar.gz");
    let tree = tree_with(
        &dir.path().join("ports"),
        &format!("SOURCE_URI=\"{uri}\"\nCHECKSUM_SHA256=\"{expected}\""),
    );
    let (cache, storage, prefix) = cache(garage, dir.path(), "wrong").await;
    let error = cache.fetch(&sources(&tree)[0]).await.unwrap_err();
    assert!(matches!(error, SourceError::Mismatch { .. }), "{error}");
    let message = error.to_string();
    for needle in [
        "foo-1.0",
        "source 1",
        &uri,
        &expected,
        &actual,
        "nothing was stored",
    ] {
        assert!(message.contains(needle), "{needle:?} missing from: {message}");
    }
    assert_eq!(stored_bytes(&storage, &actual).await, None);
    assert_eq!(stored_bytes(&storage, &expected).await, None);
    assert!(garage.raw_keys(&format!("{prefix}/sources/")).await.is_empty());
    assert!(cache.list().unwrap().is_empty());
    assert!(spool_is_empty(dir.path()));
    assert_eq!(
        cache.status(&sources(&tree)[0]).await.unwrap(),
        SourceStatus::Missing {
            expected: Some(expected)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_added_by_hand_are_verified_against_the_recipe() {
    let garage = Garage::shared();
    let body = tarball(3);
    let digest = Sha256Digest::of(&body).to_hex();
    let dir = tempfile::tempdir().unwrap();
    // A URI nobody answers (port 9 on loopback: discard, closed here): only an upload can fill it.
    let tree = tree_with(
        &dir.path().join("ports"),
        &format!("SOURCE_URI=\"http://127.0.0.1:9/foo-1.0.tar.gz\"\nCHECKSUM_SHA256=\"{digest}\""),
    );
    let source = sources(&tree).remove(0);
    let (cache, storage, _) = cache(garage, dir.path(), "add").await;

    let wrong = dir.path().join("wrong.tar.gz");
    std::fs::write(&wrong, tarball(4)).unwrap();
    let error = cache.add(&source, &wrong).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SourceError::Mismatch { .. }), "{message}");
    assert!(message.contains(&digest) && message.contains(&Sha256Digest::of(&tarball(4)).to_hex()));
    assert!(cache.list().unwrap().is_empty());

    let right = dir.path().join("foo-1.0.tar.gz");
    std::fs::write(&right, &body).unwrap();
    let row = cache.add(&source, &right).await.unwrap();
    assert_eq!(
        (row.sha256.as_str(), row.verified_by.as_str()),
        (digest.as_str(), "checksum")
    );
    assert_eq!(stored_bytes(&storage, &digest).await.as_deref(), Some(&body[..]));
    // Now a fetch needs no network at all (the URI could not answer).
    assert_eq!(cache.fetch(&source).await.unwrap().0, Fetched::AlreadyStored);
}

/// `git` in `dir` with a fixed identity and no user configuration.
fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_source_at_a_pinned_commit_is_archived_as_haikuporter_does() {
    let garage = Garage::shared();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("src")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("src/main.c"), "int main(void) { return 0; }\n").unwrap();
    // An attribute that would change the export if the clone were not sanitised.
    std::fs::write(work.join(".gitattributes"), "version.txt export-subst\n").unwrap();
    std::fs::write(work.join("version.txt"), "$Format:%H$\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let commit = String::from_utf8(git(&work, &["rev-parse", "HEAD"]))
        .unwrap()
        .trim()
        .to_owned();
    // A later commit on the branch: the pin must still give the first.
    std::fs::write(work.join("src/main.c"), "int main(void) { return 1; }\n").unwrap();
    git(&work, &["commit", "-q", "-am", "second"]);
    let bare = dir.path().join("foo.git");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );

    // HaikuPorter's checksum of a git source (SourceFetcherForGit.calcChecksum), computed here on a
    // sanitised clone of our own.
    let check = dir.path().join("check.git");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            bare.to_str().unwrap(),
            check.to_str().unwrap(),
        ],
    );
    std::fs::create_dir_all(check.join("info")).unwrap();
    std::fs::write(check.join("info/attributes"), "* -export-subst -export-ignore\n").unwrap();
    let archive = git(
        &check,
        &["-c", "core.abbrev=no", "archive", "--format", "tar", &commit],
    );
    let haikuporter_digest = Sha256Digest::of(&archive).to_hex();

    let tree = tree_with(
        &dir.path().join("ports"),
        &format!("SOURCE_URI=\"git+file://{}#commit={commit}\"", bare.display()),
    );
    let source = sources(&tree).remove(0);
    assert_eq!(source.checksum, None);
    let (cache, storage, _) = cache(garage, dir.path(), "git").await;
    let (fetched, row) = cache.fetch(&source).await.unwrap();
    assert!(matches!(fetched, Fetched::Stored { .. }));
    assert_eq!(row.sha256, haikuporter_digest);
    assert_eq!(row.verified_by, "pinned");
    assert_eq!(stored_bytes(&storage, &row.sha256).await, Some(archive));
    assert_eq!(cache.fetch(&source).await.unwrap().0, Fetched::AlreadyStored);
    assert!(spool_is_empty(dir.path()));

    // The same source with HaikuPorter's CHECKSUM_SHA256 verifies against it.
    let tree = tree_with(
        &dir.path().join("ports"),
        &format!(
            "SOURCE_URI=\"git+file://{}#commit={commit}\"\nCHECKSUM_SHA256=\"{haikuporter_digest}\"",
            bare.display()
        ),
    );
    let source = sources(&tree).remove(0);
    let (_, row) = cache.fetch(&source).await.unwrap();
    assert_eq!(row.sha256, haikuporter_digest);

    // A branch name cannot be pinned and there is no checksum: refused, naming what to do.
    let tree = tree_with(
        &dir.path().join("ports"),
        &format!("SOURCE_URI=\"git+file://{}#main\"", bare.display()),
    );
    let error = cache.fetch(&sources(&tree)[0]).await.unwrap_err();
    assert!(matches!(error, SourceError::Unpinned { .. }), "{error}");
    assert!(error.to_string().contains("#commit="), "{error}");
}
