//! `buildmaster.toml`'s `[publish]` section as `buildmaster publish` reads it: `retry_window` sets how
//! long a publish rides out a storage outage, `--retry-window` overrides it, and a value that is not a
//! number of seconds is refused naming the file and the key before storage is touched. The outage is an
//! S3 endpoint on 127.0.0.1 where nothing listens (connection refused at once, a transient error).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// A state directory whose storage is an S3 endpoint nobody answers.
struct Instance {
    work: tempfile::TempDir,
}

impl Instance {
    fn new(config: &str) -> Self {
        let instance = Self {
            work: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(instance.state()).unwrap();
        std::fs::write(instance.config(), config).unwrap();
        // A port that was just free: connecting to it is refused.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            instance.storage_config(),
            format!(
                r#"{{"backend_type": "s3", "endpoint_url": "http://127.0.0.1:{port}", "region_name": "us-east-1",
                    "access_key_id": "GK00", "secret_access_key": "not-a-secret", "bucket_name": "b",
                    "max_attempts": 1}}"#
            ),
        )
        .unwrap();
        // Kept private, as a storage config holding a secret should be (no warning in the output).
        std::fs::set_permissions(
            instance.storage_config(),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        instance
    }

    fn state(&self) -> PathBuf {
        self.work.path().join("state")
    }

    fn config(&self) -> PathBuf {
        self.state().join("buildmaster.toml")
    }

    fn storage_config(&self) -> PathBuf {
        self.work.path().join("storage.json")
    }

    /// `buildmaster publish` with `args`; its output and how long it took.
    fn publish(&self, args: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let out = Command::new(BIN)
            .env("STORAGE_BACKEND_CONFIG", self.storage_config())
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .env_remove("RUST_LOG")
            .arg("--state-dir")
            .arg(self.state())
            .arg("publish")
            .args(args)
            .output()
            .unwrap();
        (out, started.elapsed())
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// How many times the publish said it would try again (its warning gives the delay).
fn retries(out: &Output) -> usize {
    stderr(out).matches("retry_in_secs=").count()
}

#[test]
fn the_configured_retry_window_is_used_and_the_flag_overrides_it() {
    let instance = Instance::new("[publish]\nretry_window = 2\n");

    // 2 s: attempts at 0 s and 1 s, then the next delay (2 s) would end after the window.
    let (out, took) = instance.publish(&[]);
    assert!(!out.status.success(), "publish succeeded against a dead endpoint");
    assert_eq!(retries(&out), 1, "{}", stderr(&out));
    assert!(took >= Duration::from_secs(1), "{took:?}: no backoff");

    let (out, _) = instance.publish(&["--retry-window", "0"]);
    assert!(!out.status.success());
    assert_eq!(
        retries(&out),
        0,
        "the flag did not override the config:\n{}",
        stderr(&out)
    );

    let (out, _) = instance.publish(&["--retry-window", "4"]);
    assert_eq!(retries(&out), 2, "{}", stderr(&out));
}

#[test]
fn a_retry_window_that_is_not_seconds_is_refused_naming_file_and_key() {
    for bad in ["\"10 minutes\"", "-1"] {
        let instance = Instance::new(&format!("[publish]\nretry_window = {bad}\n"));
        let (out, took) = instance.publish(&[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{bad}: accepted");
        assert!(
            err.contains(&instance.config().display().to_string()) && err.contains("retry_window"),
            "{bad}: the error does not name the file and the key:\n{err}"
        );
        assert_eq!(retries(&out), 0, "{bad}: storage was tried:\n{err}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_no_database(&instance.state());
    }
}

/// A refused config stops `publish` before it opens the state database.
fn assert_no_database(state: &Path) {
    assert!(
        !state.join("buildmaster.sqlite").exists(),
        "the publish went on past its config"
    );
}
