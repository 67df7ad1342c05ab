//! A buildmaster instance whose tree is a Debian or RPM recipe tree (`[ports] kind`), for
//! tests/buildrun_debian.rs and tests/buildrun_rpm.rs: a state directory, garage storage under a
//! prefix of its own, the tree copied from a fixture and committed as a git checkout, and
//! `[[builders]]` on real sshd builders; the `buildmaster` binary run on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::farm::{copy_tree, git_commit_all, run_with_timeout};
use crate::support::garage::Garage;
use crate::support::sshd::{current_user, Sshd};

const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");

/// Longest one `buildmaster` command may take here (Debian: root unpacks of ~445 MB under load).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(900);

/// One builder of the instance: its name, its sshd, and its toolchain's lines (`toolchain = …` and
/// the toolchain's table), given the builder's disk.
pub struct BuilderEntry<'a> {
    /// `[[builders]] name`.
    pub name: &'a str,
    /// The builder.
    pub sshd: &'a Sshd,
    /// The toolchain's settings for a builder whose disk is the argument.
    pub toolchain: &'a dyn Fn(&Path) -> String,
}

/// The instance.
pub struct ForeignInstance {
    /// Holds `state/`, `storage.json`, `tree/`.
    pub dir: PathBuf,
    /// The recipe tree (a git checkout).
    pub tree: PathBuf,
    /// The bucket prefix of its storage.
    pub prefix: String,
}

/// stdout and stderr of `out`.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl ForeignInstance {
    /// An instance in `dir` storing into garage; its tree holds `sources` (directories) of `fixture`.
    pub fn new(garage: &Garage, dir: &Path, fixture: &Path, sources: &[&str]) -> Self {
        let prefix = format!("foreign-{:08x}", fastrand::u32(..));
        std::fs::write(dir.join("storage.json"), garage.storage_json(&prefix)).unwrap();
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let tree = dir.join("tree");
        for source in sources {
            copy_tree(&fixture.join(source), &tree.join(source));
        }
        git_commit_all(&tree);
        Self {
            dir: dir.to_owned(),
            tree,
            prefix,
        }
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Writes buildmaster.toml: `settings` (`[ports]` without `tree`, `[[repositories]]`, …) and
    /// `builders`, each building without network, its directories on its sshd's disk.
    pub fn configure(&self, settings: &str, builders: &[BuilderEntry<'_>]) {
        let mut toml = format!(
            "[ports]\ntree = \"{}\"\n{settings}\n[buildrun]\nmax_attempts = 1\n",
            self.tree.display()
        );
        for builder in builders {
            let sshd = builder.sshd;
            let work = sshd.work.display();
            toml.push_str(&format!(
                "\n[[builders]]\nname = \"{name}\"\nnetwork = \"none\"\n{toolchain}\n\
                 [builders.ssh]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\n\
                 private_key_file = \"{key}\"\nhost_key = \"{host_key}\"\n\
                 [builders.portstree]\npath = \"{work}/tree\"\npackages_path = \"{work}/deps\"\n\
                 packages_cache_path = \"{work}/cache\"\n[builders.timeouts]\nbuild = 900\n",
                name = builder.name,
                toolchain = (builder.toolchain)(&sshd.work),
                port = sshd.port,
                user = current_user(),
                key = sshd.client_key.display(),
                host_key = sshd.host_key_line(),
            ));
        }
        std::fs::write(self.state().join("buildmaster.toml"), toml).unwrap();
    }

    /// `buildmaster ARGS` on this instance.
    pub fn buildmaster(&self, args: &[&str]) -> Output {
        run_with_timeout(
            Command::new(BIN)
                .arg("--state-dir")
                .arg(self.state())
                .arg("--storage-backend-config")
                .arg(self.dir.join("storage.json"))
                .args(args)
                .env_remove("BUILDMASTER_CONFIG")
                .env_remove("STORAGE_BACKEND_CONFIG"),
            COMMAND_TIMEOUT,
        )
    }

    /// `buildmaster ARGS`, which must succeed; its output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.buildmaster(args);
        let printed = text(&out);
        assert!(out.status.success(), "buildmaster {args:?}: {printed}");
        printed
    }

    /// `buildmaster ARGS`, which must fail before any buildrun starts, printing every one of
    /// `expected`.
    pub fn refused(&self, args: &[&str], expected: &[&str]) {
        let out = self.buildmaster(args);
        let printed = text(&out);
        assert!(!out.status.success(), "{printed}");
        for part in expected {
            assert!(printed.contains(part), "{part:?} not in: {printed}");
        }
        assert!(!printed.contains("buildrun 1"), "nothing may start: {printed}");
    }

    /// Every build log of this instance, concatenated.
    pub fn build_logs(&self) -> String {
        let dir = self.state().join("output/builds");
        let mut logs = String::new();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            logs.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        logs
    }
}
