//! `buildmaster sources` as an operator runs it, on an instance with the filesystem storage backend
//! and a one-recipe ports tree whose source URI nobody answers: `check` reports the source missing
//! (exit 1), `add` refuses a wrong file and stores the right one, after which `check` passes, `fetch`
//! finds it stored without any network, and `list` shows it.

use std::path::Path;
use std::process::{Command, Output};

use buildmaster_storage::Sha256Digest;

fn buildmaster(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buildmaster"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("STORAGE_BACKEND_CONFIG")
        .env_remove("BUILDMASTER_CONFIG")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn add_check_fetch_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ports = dir.path().join("ports");
    std::fs::create_dir_all(&state).unwrap();
    let body: Vec<u8> = (0..50_000u32).map(|n| (n % 251) as u8).collect();
    let digest = Sha256Digest::of(&body).to_hex();
    let port_dir = ports.join("app-misc/foo");
    std::fs::create_dir_all(&port_dir).unwrap();
    std::fs::write(
        port_dir.join("foo-1.0.recipe"),
        format!(
            "SUMMARY=\"A port for the tests\"\nDESCRIPTION=\"Test port.\"\nHOMEPAGE=\"https://example.org\"\n\
             COPYRIGHT=\"2024 The authors\"\nLICENSE=\"MIT\"\nREVISION=\"1\"\nARCHITECTURES=\"all\"\n\
             PROVIDES=\"foo = $portVersion\"\n\
             SOURCE_URI=\"http://127.0.0.1:9/foo-$portVersion.tar.gz\"\nCHECKSUM_SHA256=\"{digest}\"\n\
             BUILD()\n{{\n\tmake\n}}\n\nINSTALL()\n{{\n\tmake install\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        state.join("buildmaster.toml"),
        format!("[ports]\ntree = \"{}\"\n", ports.display()),
    )
    .unwrap();

    let check = buildmaster(&state, &["sources", "check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains(&format!(
        "missing: foo-1.0 source 1 (foo-1.0.tar.gz, sha256 {digest})"
    )));

    let wrong = dir.path().join("wrong.tar.gz");
    std::fs::write(&wrong, b"not the source").unwrap();
    let refused = buildmaster(
        &state,
        &["sources", "add", wrong.to_str().unwrap(), "--port", "foo"],
    );
    assert_ne!(refused.status.code(), Some(0));
    let message = text(&refused);
    assert!(message.contains(&digest), "{message}");
    assert!(
        message.contains(&Sha256Digest::of(b"not the source").to_hex()),
        "{message}"
    );

    let right = dir.path().join("foo-1.0.tar.gz");
    std::fs::write(&right, &body).unwrap();
    let added = buildmaster(
        &state,
        &["sources", "add", right.to_str().unwrap(), "--port", "foo-1.0"],
    );
    assert!(added.status.success(), "{}", text(&added));
    let object = state.join("storage/sources/sha256").join(&digest);
    assert_eq!(std::fs::read(&object).unwrap(), body);

    let check = buildmaster(&state, &["sources", "check", "foo"]);
    assert!(check.status.success(), "{}", text(&check));
    let fetch = buildmaster(&state, &["sources", "fetch"]);
    assert!(fetch.status.success(), "{}", text(&fetch));
    assert!(text(&fetch).contains("already stored"), "{}", text(&fetch));

    let list = buildmaster(&state, &["sources", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["sha256"], digest.as_str());
    assert_eq!(rows[0]["verified_by"], "checksum");
    assert_eq!(rows[0]["port"], "foo-1.0");

    let unknown = buildmaster(
        &state,
        &["sources", "add", right.to_str().unwrap(), "--port", "nope"],
    );
    assert!(text(&unknown).contains("no port nope"), "{}", text(&unknown));
}
