//! A whole build farm for the end-to-end tests: a copy of the test ports tree as a git checkout, a
//! system-packages directory, real sshd builders running the HaikuPorter stand-in
//! (`tools/haikuporter-standin`), garage as the package storage, and a buildmaster state directory whose
//! `buildmaster.toml` ties them together. Everything the buildmaster does is driven through its binary,
//! as an operator would.
//!
//! Each builder's build tool is a small wrapper around the stand-in that appends to a *ledger* shared
//! by the whole farm: when a build starts and ends on which builder, and the SHA-256 of every package it
//! produced. The ledger is written by the builders, not by the buildmaster, so it is independent
//! evidence of which builds really ran where and which bytes each one made.
//!
//! Every wait has a deadline and fails with what it waited for and what it saw instead.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::garage::Garage;
use super::sshd::{current_user, Sshd};

/// The buildmaster binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_buildmaster");
/// The HaikuPorter stand-in.
pub const STAND_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/haikuporter-standin");
/// The test ports tree (HaikuPorts format).
pub const FIXTURE_TREE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ports-tree");

/// The system packages every fixture recipe relies on (Haiku itself, its development files, the
/// compiler): `(name, version, provides, requires)`, made with `buildmaster hpkg create`. Between them
/// they provide what HaikuPorter needs on every builder besides a recipe's requirements: its scriptlet
/// prerequirements (`coreutils`, `cmd:bash`, `cmd:find`, … — on a real Haiku, `haiku` provides
/// `cmd:xres` and the rest are HaikuPorts packages) and the `haiku` package itself.
const SYSTEM_PACKAGES: &[(&str, &str, &str, &str)] = &[
    (
        "haiku",
        "r1~beta5_hrev57937-1",
        "haiku = r1~beta5_hrev57937-1\n\tlib:libroot = r1~beta5_hrev57937-1\n\tlib:libbe = r1~beta5_hrev57937-1\n\t\
         coreutils = 9.4\n\tcmd:bash = 5.2\n\tcmd:find = 4.9\n\tcmd:grep = 3.11\n\tcmd:sed = 4.9\n\tcmd:xres",
        "",
    ),
    (
        "haiku_devel",
        "r1~beta5_hrev57937-1",
        "haiku_devel = r1~beta5_hrev57937-1\n\tdevel:libroot = r1~beta5_hrev57937-1",
        "haiku == r1~beta5_hrev57937-1 base",
    ),
    (
        "buildtools",
        "13.3.0_2023_08_10-1",
        "buildtools = 13.3.0_2023_08_10-1\n\tcmd:gcc = 13.3.0\n\tcmd:make = 4.4.1\n\tcmd:ld = 2.41\n\t\
         cmd:objcopy = 2.41\n\tcmd:readelf = 2.41\n\tcmd:strip = 2.41",
        "haiku",
    ),
];

/// The build tool on each builder: records start, end and results in the ledger around the stand-in.
const WRAPPER: &str = r#"#!/bin/bash
# Build tool of test builder @NAME@: the HaikuPorter stand-in, with a ledger entry per build.
set -u
export BUILDMASTER='@BIN@'
export HAIKUPORTER_DIR='@HAIKUPORTER@'
export NO_COLOR=1
ledger='@LEDGER@'
port="${!#}"
# The buildmaster purges each port before and after its build, as HaikuPorter does: not a build.
case " $* " in *" --purge "*) exec '@STANDIN@' "$@";; esac
conf=''
for a in "$@"; do case "$a" in --config=*) conf="${a#--config=}";; esac; done
printf 'start\t%s\t%s\t%s\n' '@NAME@' "$port" "$(date +%s.%N)" >> "$ledger"
'@STANDIN@' "$@"
rc=$?
if [ "$rc" = 0 ] && [ -n "$conf" ]; then
  packages=$(. "$conf" && printf '%s' "$PACKAGES_PATH")
  # Results are the real files (dependencies are symlinks into the cache).
  for f in "$packages"/*.hpkg; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    printf 'result\t%s\t%s\t%s\t%s\n' '@NAME@' "$port" "${f##*/}" "$(sha256sum < "$f" | cut -d' ' -f1)" >> "$ledger"
  done
fi
printf 'end\t%s\t%s\t%s\t%s\n' '@NAME@' "$port" "$rc" "$(date +%s.%N)" >> "$ledger"
exit "$rc"
"#;

/// A buildmaster running in the background, SIGKILLed when dropped: a test that fails half-way must
/// not leave a buildmaster behind (with its builders gone it would wait for them for ever).
pub struct Background(pub Child);

impl std::ops::Deref for Background {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Background {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Both fail harmlessly when the process has already exited and been waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One line of the ledger.
#[derive(Clone, Debug, PartialEq)]
pub enum LedgerEntry {
    /// A build started: builder, port (`name-version`), epoch seconds.
    Start(String, String, f64),
    /// A build ended: builder, port, exit status, epoch seconds.
    End(String, String, i32, f64),
    /// A build produced a package: builder, port, file name, SHA-256.
    Result(String, String, String, String),
}

/// A build as the ledger shows it.
#[derive(Clone, Debug)]
pub struct LedgerBuild {
    /// The builder it ran on.
    pub builder: String,
    /// `name-version`.
    pub port: String,
    /// Epoch seconds.
    pub start: f64,
    /// Exit status and epoch seconds; `None` if it never ended (killed with its builder).
    pub end: Option<(i32, f64)>,
}

/// The farm.
pub struct Farm {
    /// Owns the tree, state directory, system packages, ledger and logs.
    pub dir: tempfile::TempDir,
    /// The sshd builders, `b1`, `b2`, ….
    pub builders: Vec<Sshd>,
    /// The storage server (shared by the tests of this process; each farm has its own prefix).
    pub garage: &'static Garage,
    /// This farm's key prefix in the bucket.
    pub prefix: String,
}

impl Farm {
    /// A farm with `builders` sshd builders, the fixture tree committed to git, and the instance
    /// config written.
    pub fn start(builders: usize) -> Farm {
        let garage = Garage::shared();
        let dir = tempfile::Builder::new()
            .prefix("buildmaster-farm-")
            .tempdir()
            .unwrap();
        let farm = Farm {
            builders: (0..builders).map(|_| Sshd::start()).collect(),
            prefix: format!("e2e/farm-{:08x}", fastrand::u32(..)),
            garage,
            dir,
        };
        std::fs::write(farm.ledger_path(), "").unwrap();
        copy_tree(Path::new(FIXTURE_TREE), &farm.tree());
        git_commit_all(&farm.tree());
        make_system_packages(&farm.system_packages(), &farm.dir.path().join("sys-src"));
        farm.write_state_dir();
        farm
    }

    /// The ports tree (a git checkout of the fixture).
    pub fn tree(&self) -> PathBuf {
        self.dir.path().join("haikuports")
    }

    /// The buildmaster state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The system-packages directory.
    pub fn system_packages(&self) -> PathBuf {
        self.dir.path().join("system-packages")
    }

    /// The ledger the builders write.
    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("ledger.tsv")
    }

    /// The storage config (HaikuPorter's JSON).
    pub fn storage_config(&self) -> PathBuf {
        self.dir.path().join("storage.json")
    }

    /// The repository's URL on garage's web endpoint, as pkgman would be configured.
    pub fn web_base(&self) -> String {
        format!("{}/{}", self.garage.web_endpoint(), self.prefix)
    }

    /// Builder `i`'s name.
    pub fn builder_name(i: usize) -> String {
        format!("b{}", i + 1)
    }

    fn write_state_dir(&self) {
        let state = self.state();
        std::fs::create_dir_all(state.join("packages")).unwrap();
        std::fs::create_dir_all(state.join("repository")).unwrap();
        std::fs::write(
            state.join("repository/repo.info"),
            "name HaikuPorts\nvendor \"Haiku Project\"\nsummary \"The e2e test repository\"\npriority 1\n\
             baseurl https://example.org/haikuports\n\
             identifier tag:haikuports.org,2013:repositories/haikuports/master/x86_64\narchitecture x86_64\n",
        )
        .unwrap();
        std::fs::write(
            self.storage_config(),
            format!(
                r#"{{"backend_type": "s3", "endpoint_url": "{}", "region_name": "us-east-1",
                    "access_key_id": "{}", "secret_access_key": "{}", "bucket_name": "{}",
                    "prefix": "{}"}}"#,
                self.garage.s3_endpoint(),
                self.garage.access_key(),
                self.garage.secret_key(),
                self.garage.bucket(),
                self.prefix
            ),
        )
        .unwrap();
        // allow_untested: the fixture's untestedtool (`?x86_64`) is one of the ports the tests expect built.
        let mut toml = format!(
            "[ports]\ntree = \"{}\"\ntarget_architecture = \"x86_64\"\nsystem_packages = \"{}\"\n\
             allow_untested = true\n\n\
             [buildrun]\nmax_attempts = 3\n",
            self.tree().display(),
            self.system_packages().display()
        );
        for (i, sshd) in self.builders.iter().enumerate() {
            let name = Self::builder_name(i);
            let tool = self.write_wrapper(&name);
            toml.push_str(&format!(
                "\n[[builders]]\nname = \"{name}\"\n[builders.ssh]\nhost = \"127.0.0.1\"\nport = {port}\n\
                 user = \"{user}\"\nprivate_key_file = \"{key}\"\nhost_key = \"{host_key}\"\n\
                 [builders.portstree]\npath = \"{work}/haikuports\"\n\
                 [builders.haikuporter]\npath = \"{tool}\"\n\
                 [builders.timeouts]\nconnect = 5\nkeepalive_interval = 1\nkeepalive_max = 2\n\
                 idle_output = 60\nbuild = 120\ncommand = 60\n",
                port = sshd.port,
                user = current_user(),
                key = sshd.client_key.display(),
                host_key = sshd.host_key_line(),
                work = sshd.work.display(),
                tool = tool.display(),
            ));
        }
        std::fs::write(state.join("buildmaster.toml"), toml).unwrap();
    }

    fn write_wrapper(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(format!("haikuporter-{name}"));
        let text = WRAPPER
            .replace("@NAME@", name)
            .replace("@BIN@", BIN)
            .replace("@LEDGER@", &self.ledger_path().to_string_lossy())
            .replace("@STANDIN@", STAND_IN)
            .replace("@HAIKUPORTER@", &haikuporter_dir().to_string_lossy());
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        drop(file);
        let status = Command::new("chmod").arg("755").arg(&path).status().unwrap();
        assert!(status.success());
        path
    }

    /// `buildmaster --state-dir <state> --storage-backend-config <json> ARGS`, with no inherited
    /// configuration from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("STORAGE_BACKEND_CONFIG")
            .env_remove("BUILDMASTER_CONFIG")
            .env_remove("BUILDMASTER_CRASH_AT")
            .env("NO_COLOR", "1")
            .arg("--state-dir")
            .arg(self.state())
            .arg("--storage-backend-config")
            .arg(self.storage_config())
            .args(args);
        cmd
    }

    /// Runs the buildmaster to completion (or kills it at `timeout` and fails).
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        run_with_timeout(&mut self.command(args), timeout)
    }

    /// Starts the buildmaster in the background; its output goes to `<dir>/<log_name>.log`.
    pub fn spawn(&self, args: &[&str], log_name: &str) -> Background {
        let log = std::fs::File::create(self.log_path(log_name)).unwrap();
        Background(
            self.command(args)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start buildmaster"),
        )
    }

    /// Where [`Farm::spawn`] writes the output of `log_name`.
    pub fn log_path(&self, log_name: &str) -> PathBuf {
        self.dir.path().join(format!("{log_name}.log"))
    }

    /// The ledger's entries so far.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        let text = std::fs::read_to_string(self.ledger_path()).unwrap_or_default();
        text.lines().filter_map(parse_ledger_line).collect()
    }

    /// The ledger's builds, in start order; each start is paired with the next end of the same port
    /// on the same builder.
    pub fn ledger_builds(&self) -> Vec<LedgerBuild> {
        let mut builds: Vec<LedgerBuild> = Vec::new();
        for entry in self.ledger() {
            match entry {
                LedgerEntry::Start(builder, port, at) => builds.push(LedgerBuild {
                    builder,
                    port,
                    start: at,
                    end: None,
                }),
                LedgerEntry::End(builder, port, status, at) => {
                    if let Some(build) = builds
                        .iter_mut()
                        .find(|b| b.builder == builder && b.port == port && b.end.is_none())
                    {
                        build.end = Some((status, at));
                    }
                }
                LedgerEntry::Result(..) => {}
            }
        }
        builds
    }

    /// The numbers of the buildruns in `output/buildruns/`, ascending.
    pub fn buildrun_numbers(&self) -> Vec<u64> {
        let mut out: Vec<u64> = std::fs::read_dir(self.state().join("output/buildruns"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir() && !e.path().is_symlink())
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_unstable();
        out
    }

    /// `output/buildruns/<n>/status.json`, parsed (`null` if missing or unreadable).
    pub fn status_json(&self, buildrun: u64) -> serde_json::Value {
        let path = self
            .state()
            .join(format!("output/buildruns/{buildrun}/status.json"));
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Every `records/<n>.json` of every buildrun, parsed.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let runs = self.state().join("output/buildruns");
        let Ok(entries) = std::fs::read_dir(&runs) else {
            return out;
        };
        for run in entries.flatten() {
            // Numbered buildrun directories only: `current` is a symlink to one of them.
            if !run
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                continue;
            }
            let Ok(records) = std::fs::read_dir(run.path().join("records")) else {
                continue;
            };
            for record in records.flatten() {
                let text = std::fs::read_to_string(record.path()).unwrap_or_default();
                if let Ok(value) = serde_json::from_str(&text) {
                    out.push(value);
                }
            }
        }
        out
    }

    /// What to show when an assertion fails: the ledger, the buildmaster's logs and status files.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        out.push_str("--- ledger\n");
        out.push_str(&std::fs::read_to_string(self.ledger_path()).unwrap_or_default());
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "log") {
                    out.push_str(&format!("--- {}\n", path.display()));
                    out.push_str(&tail(&std::fs::read_to_string(&path).unwrap_or_default(), 60));
                }
            }
        }
        let current = self.state().join("output/buildruns/current");
        for name in ["master.log", "status.json"] {
            let path = current.join(name);
            out.push_str(&format!("--- {}\n", path.display()));
            out.push_str(&tail(&std::fs::read_to_string(&path).unwrap_or_default(), 60));
        }
        out
    }
}

/// The real HaikuPorter checkout (`scripts/real-inputs.sh` extracts it once, into a cache outside the
/// checkout): the stand-in resolves every build's requirements with its DependencyResolver
/// (`HAIKUPORTER_DIR`).
pub fn haikuporter_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/real-inputs.sh");
        let out = run_with_timeout(Command::new("bash").arg(script), Duration::from_secs(600));
        assert_success(
            &out,
            "scripts/real-inputs.sh (the real HaikuPorter the stand-in resolves with)",
        );
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("haikuporter");
        assert!(
            dir.join("HaikuPorter/DependencyResolver.py").is_file(),
            "{} is not a HaikuPorter checkout",
            dir.display()
        );
        dir
    })
    .clone()
}

/// Makes the system packages the fixture recipes need (Haiku, its development files, the compiler)
/// in `out`, from sources written below `scratch`.
pub fn make_system_packages(out: &Path, scratch: &Path) {
    std::fs::create_dir_all(out).unwrap();
    for (name, version, provides, requires) in SYSTEM_PACKAGES {
        let src = scratch.join(name);
        std::fs::create_dir_all(src.join("data")).unwrap();
        std::fs::write(src.join("data/README"), format!("{name} (test system package)\n")).unwrap();
        let requires = if requires.is_empty() {
            String::new()
        } else {
            format!("requires {{\n\t{requires}\n}}\n")
        };
        let info = format!(
            "name {name}\nversion {version}\narchitecture x86_64\nsummary \"{name} for the e2e tests\"\n\
             description \"A system package the fixture recipes need.\"\npackager \"Tests <t@example.org>\"\n\
             vendor \"Haiku Project\"\ncopyrights {{ \"2026 Tests\" }}\nlicenses {{ \"MIT\" }}\n\
             provides {{\n\t{provides}\n}}\n{requires}"
        );
        std::fs::write(src.join(".PackageInfo"), info).unwrap();
        let file = out.join(format!("{name}-{version}-x86_64.hpkg"));
        let result = run_with_timeout(
            Command::new(BIN)
                .args(["hpkg", "create", "-C"])
                .arg(&src)
                .arg(&file),
            Duration::from_secs(30),
        );
        assert_success(&result, &format!("hpkg create {}", file.display()));
    }
}

fn parse_ledger_line(line: &str) -> Option<LedgerEntry> {
    let f: Vec<&str> = line.split('\t').collect();
    match f.as_slice() {
        ["start", b, p, at] => Some(LedgerEntry::Start(b.to_string(), p.to_string(), at.parse().ok()?)),
        ["end", b, p, rc, at] => Some(LedgerEntry::End(
            b.to_string(),
            p.to_string(),
            rc.parse().ok()?,
            at.parse().ok()?,
        )),
        ["result", b, p, file, sha] => Some(LedgerEntry::Result(
            b.to_string(),
            p.to_string(),
            file.to_string(),
            sha.to_string(),
        )),
        _ => None,
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n") + "\n"
}

/// Copies a directory tree (regular files and directories only: the fixture has nothing else).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `git init` + commit everything, as the ports tree of a real buildmaster is a git checkout.
pub fn git_commit_all(dir: &Path) {
    for args in [
        &["init", "-q", "-b", "master"][..],
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=Tests",
            "-c",
            "user.email=tests@example.org",
            "commit",
            "-q",
            "-m",
            "fixture ports tree",
        ][..],
    ] {
        let out = run_with_timeout(
            Command::new("git").arg("-C").arg(dir).args(args),
            Duration::from_secs(30),
        );
        assert_success(&out, &format!("git {args:?} in {}", dir.display()));
    }
}

/// Runs `cmd`, killing it and failing the test if it is still running after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    // Drain both pipes on threads so a chatty child can never block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_thread.join().unwrap_or_default();
            let stderr = err_thread.join().unwrap_or_default();
            panic!(
                "{cmd:?} still running after {timeout:?}; killed. stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

/// Fails with the command's output unless it succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `probe` every 50 ms until it returns `Some`, failing after `timeout` with `what` and the
/// output of `context` (what the test saw instead).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a child process to exit, killing it and failing after `timeout`.
pub fn wait_child(
    child: &mut Child,
    timeout: Duration,
    what: &str,
    context: impl Fn() -> String,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {timeout:?}; killed\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
