//! `buildmaster storage put|ls|get|rm` end to end, through the real binary, against the filesystem
//! backend and against a real garage server, configured the way HaikuPorter operators do it; `ls` on S3
//! prints every object's recorded SHA-256 (asked per object, the listing carries none) in key order.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use buildmaster_storage::{ObjectKey, PutOptions, Sha256Digest, StorageBackend as _};
use buildmaster_storage_s3::S3Backend;
use support::garage::Garage;

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

fn run(config: Option<&Path>, state_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("STORAGE_BACKEND_CONFIG")
        .env_remove("RUST_LOG")
        .arg("--state-dir")
        .arg(state_dir);
    if let Some(config) = config {
        cmd.arg("--storage-backend-config").arg(config);
    }
    cmd.args(args).output().expect("run buildmaster")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "buildmaster failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// put → ls → get → rm → ls, checking contents and the recorded digest.
fn round_trip(config: Option<&Path>, work: &Path) {
    let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let digest = buildmaster_storage::Sha256Digest::of(&data).to_hex();
    let file = work.join("pkg.hpkg");
    std::fs::write(&file, &data).unwrap();
    // An instance's state directory exists (`serve` and `recover` create it); other commands refuse
    // to create one silently.
    let state = work.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let key = "packages/pkg-1.0-1-x86_64.hpkg";

    let put = ok(run(
        config,
        &state,
        &["storage", "put", file.to_str().unwrap(), key],
    ));
    assert!(put.contains(&digest), "put reports the digest: {put}");

    // A plain `ls` shows the digest: the fs backend's listing carries it, S3's is asked per object.
    let listing = ok(run(config, &state, &["storage", "ls", "packages/"]));
    assert_eq!(
        listing.trim(),
        format!("{:>12}  {digest}  {key}", data.len()).trim()
    );
    // `-l` (which once asked for the digests) is still accepted.
    assert_eq!(
        ok(run(config, &state, &["storage", "ls", "-l", "packages/"])),
        listing
    );

    let back = work.join("back.hpkg");
    ok(run(
        config,
        &state,
        &["storage", "get", key, back.to_str().unwrap()],
    ));
    assert!(std::fs::read(&back).unwrap() == data, "downloaded bytes differ");

    let err = failed(run(
        config,
        &state,
        &["storage", "get", "packages/absent.hpkg", back.to_str().unwrap()],
    ));
    assert!(
        err.contains("packages/absent.hpkg"),
        "the error names the key: {err}"
    );

    ok(run(config, &state, &["storage", "rm", key]));
    ok(run(config, &state, &["storage", "rm", key]));
    assert_eq!(ok(run(config, &state, &["storage", "ls"])).trim(), "");
}

#[test]
fn filesystem_backend_from_json_config() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("storage.json");
    let root = work.path().join("bucket");
    std::fs::write(
        &config,
        format!(r#"{{"backend_type": "fs", "path": "{}"}}"#, root.display()),
    )
    .unwrap();
    round_trip(Some(&config), work.path());
}

#[test]
fn no_config_means_filesystem_backend_in_state_dir() {
    let work = tempfile::tempdir().unwrap();
    round_trip(None, work.path());
    // An empty STORAGE_BACKEND_CONFIG, as HaikuPorter's scripts pass it, also means "no config".
    let file = work.path().join("x");
    std::fs::write(&file, b"x").unwrap();
    let output = Command::new(BIN)
        .env("STORAGE_BACKEND_CONFIG", "")
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .args(["storage", "put", file.to_str().unwrap(), "x"])
        .output()
        .unwrap();
    ok(output);
    assert!(work.path().join("state/storage/x").is_file());
}

/// Writes a storage config for the shared garage under `prefix`, with exactly HaikuPorter's keys.
fn s3_config(garage: &Garage, dir: &Path, prefix: &str) -> PathBuf {
    let config = dir.join("storage-config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"backend_type": "s3", "endpoint_url": "{}", "region_name": "us-east-1",
                "access_key_id": "{}", "secret_access_key": "{}", "bucket_name": "{}",
                "prefix": "{prefix}"}}"#,
            garage.s3_endpoint(),
            garage.access_key(),
            garage.secret_key(),
            garage.bucket()
        ),
    )
    .unwrap();
    config
}

#[test]
fn s3_backend_from_haikuporter_config() {
    let garage = Garage::shared();
    let work = tempfile::tempdir().unwrap();
    // The prefix without a trailing '/', as in HaikuPorter's samples.
    let config = s3_config(garage, work.path(), "cli/master/x86_64/current");
    round_trip(Some(&config), work.path());
}

#[test]
fn s3_listing_prints_every_digest_in_key_order() {
    let garage = Garage::shared();
    let work = tempfile::tempdir().unwrap();
    let prefix = "cli-ls/master/x86_64/current";
    let config = s3_config(garage, work.path(), prefix);
    // More objects than HEAD requests in flight, each with other bytes; uploaded in reverse key order
    // with and without a digest given up front (the two ways S3 uploads record it).
    let objects: Vec<(String, Vec<u8>)> = (0..40u32)
        .map(|i| {
            let data: Vec<u8> = (0..1000 + i).flat_map(|j| (i * j).to_le_bytes()).collect();
            (format!("packages/p{i:02}-1.0-1-x86_64.hpkg"), data)
        })
        .collect();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let backend = S3Backend::new(&garage.s3_settings(prefix)).await.unwrap();
        for (i, (key, data)) in objects.iter().enumerate().rev() {
            let sha256 = (i % 2 == 0).then(|| Sha256Digest::of(data));
            let key = ObjectKey::new(key.as_str()).unwrap();
            backend
                .put_bytes(&key, data, &PutOptions::package(sha256))
                .await
                .unwrap();
        }
    });
    let state = work.path().join("state");

    let listing = ok(run(Some(&config), &state, &["storage", "ls", "packages/"]));
    let expected: String = objects
        .iter()
        .map(|(key, data)| format!("{:>12}  {}  {key}\n", data.len(), Sha256Digest::of(data)))
        .collect();
    assert_eq!(listing, expected);

    let short = ok(run(
        Some(&config),
        &state,
        &["storage", "ls", "--no-sha256", "packages/"],
    ));
    let expected: String = objects
        .iter()
        .map(|(key, data)| format!("{:>12}  {key}\n", data.len()))
        .collect();
    assert_eq!(short, expected);
}

#[test]
fn unknown_config_key_is_named() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("storage.json");
    std::fs::write(
        &config,
        r#"{"backend_type": "s3", "bucket_name": "b", "endpoint": "http://x"}"#,
    )
    .unwrap();
    let err = failed(run(Some(&config), work.path(), &["storage", "ls"]));
    assert!(err.contains("unknown field `endpoint`"), "{err}");
    assert!(err.contains("storage.json"), "the error names the file: {err}");
}

#[test]
fn secrets_are_never_printed() {
    let garage = Garage::shared();
    let work = tempfile::tempdir().unwrap();
    let secret = "9f2c1e7d5b3a4f6e8d0c2b4a6f8e0d2c4b6a8f0e2d4c6b8a0f2e4d6c8b0a2f4e";
    // A wrong secret against the real server (access denied), and the right shape against a port where
    // nothing listens (connection refused), each at full trace verbosity.
    for endpoint in [garage.s3_endpoint(), "http://127.0.0.1:9".to_owned()] {
        let config = work.path().join("storage.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"backend_type": "s3", "endpoint_url": "{endpoint}", "region_name": "us-east-1",
                    "access_key_id": "{}", "secret_access_key": "{secret}", "bucket_name": "{}",
                    "max_attempts": 2}}"#,
                garage.access_key(),
                garage.bucket()
            ),
        )
        .unwrap();
        let file = work.path().join("f");
        std::fs::write(&file, b"data").unwrap();
        let err = failed(run(
            Some(&config),
            work.path(),
            &["-vvv", "storage", "put", file.to_str().unwrap(), "k"],
        ));
        assert!(!err.contains(secret), "the secret leaked:\n{err}");
        assert!(
            err.contains("storage put of 'k' failed"),
            "the error names the operation and key: {err}"
        );
    }
}
