//! Installing packages with real `apt-get` into a fresh Debian root unpacked from the build root
//! tarball (scripts/install-test-tools.sh makes it), whose only apt source is a signed repository
//! served by garage's web endpoint: what a client of a buildmaster Debian repository does.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The build root tarball that scripts/install-test-tools.sh makes (`$BUILDMASTER_TOOLS` or
/// `~/.cache/buildmaster-test-tools`).
pub fn root_tarball() -> PathBuf {
    let tools = std::env::var_os("BUILDMASTER_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/buildmaster-test-tools")
        });
    let tarball = tools.join("debian-buildd-bookworm.tar");
    assert!(
        tarball.is_file(),
        "{} is missing: run scripts/install-test-tools.sh (mmdebstrap makes it once)",
        tarball.display()
    );
    tarball
}

/// Runs a command, failing the test with its output when it fails; returns stdout and stderr.
pub fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?}: {text}");
    text
}

/// A fresh root at `root`, unpacked from `tarball`, whose only apt source is `url` (suite
/// `codename`, component `main`) signed by the binary public key `key`.
pub struct AptRoot {
    root: PathBuf,
}

impl AptRoot {
    /// Unpacks the root and points apt at the repository.
    pub fn new(tarball: &Path, root: &Path, url: &str, codename: &str, key: &Path) -> Self {
        std::fs::create_dir(root).unwrap();
        run(Command::new("tar")
            .arg("-x")
            .arg("-f")
            .arg(tarball)
            .arg("-C")
            .arg(root));
        std::fs::remove_file(root.join("etc/apt/sources.list")).unwrap();
        // garage's web endpoint is addressed as `localhost`; the bare root has no /etc/hosts.
        std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        std::fs::create_dir_all(root.join("etc/apt/keyrings")).unwrap();
        std::fs::copy(key, root.join("etc/apt/keyrings/bm.gpg")).unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list.d/bm.list"),
            format!("deb [signed-by=/etc/apt/keyrings/bm.gpg] {url} {codename} main\n"),
        )
        .unwrap();
        Self {
            root: root.to_owned(),
        }
    }

    /// `apt-get update` then `apt-get install -y PACKAGE` inside the root; fails the test if either
    /// fails or warns; returns the install's output.
    pub fn install(&self, package: &str) -> String {
        let update = self.apt(&["update"]);
        assert!(
            !update.contains("Err:") && !update.contains("\nW:"),
            "apt-get update: {update}"
        );
        self.apt(&["install", "-y", package])
    }

    /// Runs `argv` inside the root (chroot); its output.
    pub fn run(&self, argv: &[&str]) -> String {
        run(Command::new("chroot").arg(&self.root).args(argv))
    }

    fn apt(&self, args: &[&str]) -> String {
        run(Command::new("chroot")
            .arg(&self.root)
            .args([
                "apt-get",
                "-q",
                "-o",
                "Acquire::Languages=none",
                "-o",
                "Acquire::Retries=0",
            ])
            .args(args)
            .env("LC_ALL", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive"))
    }
}

impl Drop for AptRoot {
    /// Removes the root (`--one-file-system`: nothing mounted inside is followed).
    fn drop(&mut self) {
        let _ = Command::new("rm")
            .arg("-rf")
            .arg("--one-file-system")
            .arg(&self.root)
            .status();
    }
}
