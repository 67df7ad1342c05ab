//! Builder configs are checked at load, with errors naming the file and the key: HaikuPorter builder
//! JSON with an unknown key (`"pth"`), and in either form an empty `user`, a `host_key` that is not a
//! key, a zero `connect` timeout.

use std::path::Path;

use buildmaster::builders::config::load_haikuporter_json;
use buildmaster::config::instance::InstanceConfig;

const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDTad7/tGP+EZiCWLLZd4l0M6lTum6vf73YufZX/E3qB";

/// A `[[builders]]` section with `ssh` lines `ssh` and `[builders.timeouts]` lines `timeouts`.
fn instance_toml(ssh: &str, timeouts: &str) -> String {
    format!(
        "[[builders]]\nname = \"b1\"\n[builders.ssh]\nhost = \"127.0.0.1\"\nprivate_key_file = \"/k\"\n{ssh}\n\
         [builders.portstree]\npath = \"/w\"\n[builders.timeouts]\n{timeouts}\n"
    )
}

fn load_error(dir: &Path, text: &str) -> String {
    let path = dir.join("buildmaster.toml");
    std::fs::write(&path, text).unwrap();
    let err = InstanceConfig::load(&path).expect_err(text).to_string();
    assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    err
}

#[test]
fn the_toml_form_refuses_an_empty_user_a_bad_host_key_and_a_zero_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let good = instance_toml(&format!("user = \"u\"\nhost_key = \"{HOST_KEY}\""), "connect = 5");
    let path = dir.path().join("good.toml");
    std::fs::write(&path, &good).unwrap();
    InstanceConfig::load(&path).expect("the good config loads");

    let err = load_error(
        dir.path(),
        &instance_toml(&format!("user = \"\"\nhost_key = \"{HOST_KEY}\""), ""),
    );
    assert!(err.contains("key `user` must not be empty"), "{err}");
    let err = load_error(
        dir.path(),
        &instance_toml("user = \"u\"\nhost_key = \"not a key\"", ""),
    );
    assert!(
        err.contains("host_key") && err.contains("not an OpenSSH public key"),
        "{err}"
    );
    let err = load_error(
        dir.path(),
        &instance_toml(&format!("user = \"u\"\nhost_key = \"{HOST_KEY}\""), "connect = 0"),
    );
    assert!(err.contains("connect") && err.contains("at least 1"), "{err}");
}

#[test]
fn haikuporter_json_refuses_unknown_keys_and_an_empty_user() {
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let write = |name: &str, json: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, json).unwrap();
        path
    };
    let good = r#"{"name": "b", "ssh": {"host": "h", "user": "u", "privateKey": "eA=="},
                   "portstree": {"path": "/p"}, "haikuporter": {"path": "hp"}}"#;
    load_haikuporter_json(&write("good.json", good), &known_hosts).expect("the good JSON loads");

    let typo = write("typo.json", &good.replace(r#""path": "/p""#, r#""pth": "/p""#));
    let err = load_haikuporter_json(&typo, &known_hosts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("typo.json") && err.contains("`pth`"), "{err}");

    let empty = write("empty.json", &good.replace(r#""user": "u""#, r#""user": """#));
    let err = load_haikuporter_json(&empty, &known_hosts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("empty.json") && err.contains("key `user` must not be empty"),
        "{err}"
    );
}
