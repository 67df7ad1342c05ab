//! Names that become path components are checked when the config loads: a builder named
//! `../../../../evil` (in the instance TOML or in HaikuPorter's builder JSON) is refused with an error
//! naming the file and the key, and the output tree never writes a log outside `builders/`.

use buildmaster::builders::config::load_haikuporter_json;
use buildmaster::buildrun::output::Output;
use buildmaster::config::instance::InstanceConfig;

const EVIL: &str = "../../../../evil";

#[test]
fn a_builder_name_with_a_path_is_refused_in_the_instance_toml() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buildmaster.toml");
    std::fs::write(
        &path,
        format!("[[builders]]\nname = \"{EVIL}\"\n[builders.portstree]\npath = \"/w\"\n"),
    )
    .unwrap();
    let err = InstanceConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains("`name`") && err.contains("'/'"), "{err}");
}

#[test]
fn a_builder_name_with_a_path_is_refused_in_haikuporter_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"name": "{EVIL}", "ssh": {{"host": "h", "user": "u", "privateKey": "eA=="}},
                "portstree": {{"path": "/p"}}}}"#
        ),
    )
    .unwrap();
    let err = load_haikuporter_json(&path, &dir.path().join("known_hosts"))
        .unwrap_err()
        .to_string();
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains("`name`") && err.contains("'/'"), "{err}");
    for name in ["", ".", "..", ".hidden", "a b", "a\nb", "a+b"] {
        assert!(
            buildmaster::builders::config::check_path_component(name).is_err(),
            "{name:?}"
        );
    }
    let long = "x".repeat(300_000);
    let what = buildmaster::builders::config::check_path_component(&long).unwrap_err();
    assert!(what.len() < 1000, "the error echoes {} bytes", what.len());
    for name in ["builder_x86_64", "b1", "haiku-r1.beta5_x"] {
        buildmaster::builders::config::check_path_component(name).unwrap();
    }
}

#[test]
fn the_output_tree_writes_no_builder_log_outside_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/c/d/output");
    let output = Output::open(&root, 1).unwrap();
    output.builder(EVIL, "hello");
    output.builder("good", "hello");
    // `builders/../../../../evil.log` is `output/../evil.log`.
    assert!(!dir.path().join("a/b/c/d/evil.log").exists());
    assert!(root.join("buildruns/1/builders/good.log").exists());
}
