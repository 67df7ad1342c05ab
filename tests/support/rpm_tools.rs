//! Real RPM tooling for tests/rpm_dnf.rs: rpmbuild, rpmsign, a throwaway GnuPG home, a static HTTP
//! server on 127.0.0.1 and dnf run against an install root. Every helper fails the test with the
//! tool's own output; nothing is skipped silently (CI installs the tools with
//! scripts/install-test-tools.sh).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use buildmaster::formats::{FormatError, Sign};

/// Fails the test with a hint when `tool` is not on PATH.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run scripts/install-test-tools.sh (apt-get install dnf rpm)"
    );
}

/// Runs `cmd`, returning its output; panics with both streams if it fails and `must_succeed`.
pub fn run(cmd: &mut Command, must_succeed: bool) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if must_succeed && !output.status.success() {
        panic!(
            "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// A spec file for a noarch package with one data file in /usr/share.
pub struct Spec<'a> {
    /// `Name`.
    pub name: &'a str,
    /// `Version`.
    pub version: &'a str,
    /// Extra preamble lines (`Requires: …`).
    pub preamble: &'a str,
}

/// Builds a noarch RPM from `spec` under `top` with rpmbuild and returns its path.
pub fn rpmbuild(top: &Path, spec: &Spec<'_>) -> PathBuf {
    let name = spec.name;
    let text = format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name} test package\nLicense: MIT\n\
         URL: https://example.org/{name}\nBuildArch: noarch\n{preamble}\n\
         %description\n{name}, built by tests/rpm_dnf.rs.\n\
         %install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
         echo '{name} {version}' > %{{buildroot}}/usr/share/{name}/{name}.txt\n\
         %files\n%dir /usr/share/{name}\n/usr/share/{name}/{name}.txt\n\
         %changelog\n* Mon Jan 01 2024 Test Packager <test@example.org> - {version}-1\n- first build\n",
        version = spec.version,
        preamble = spec.preamble,
    );
    build_spec(top, name, &text);
    top.join("RPMS/noarch")
        .join(format!("{name}-{}-1.noarch.rpm", spec.version))
}

/// Writes `text` as `<top>/<name>.spec` and builds its binary packages with rpmbuild (`_topdir` =
/// `top`); panics with rpmbuild's output when it fails.
pub fn build_spec(top: &Path, name: &str, text: &str) {
    let spec_path = top.join(format!("{name}.spec"));
    std::fs::write(&spec_path, text).expect("write spec");
    run(
        Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("-bb")
            .arg(&spec_path),
        true,
    );
}

/// A throwaway GnuPG home with one unprotected RSA signing key.
pub struct GpgKey {
    /// The GNUPGHOME.
    pub home: PathBuf,
    /// The key's user id, used to select it.
    pub uid: String,
    /// The ASCII-armoured public key, written for dnf's `gpgkey=file://…`.
    pub public_key: PathBuf,
}

impl GpgKey {
    /// Creates the key in `home` (RSA: rpm and librepo verify it on every distribution).
    pub fn generate(home: &Path, uid: &str) -> Self {
        std::fs::create_dir_all(home).expect("gpg home");
        let mut perms = std::fs::metadata(home).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(home, perms).expect("chmod gpg home");
        run(
            Command::new("gpg")
                .env("GNUPGHOME", home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(["--quick-gen-key", uid, "rsa2048", "sign", "never"]),
            true,
        );
        let public_key = home.join("public.asc");
        let out = run(
            Command::new("gpg")
                .env("GNUPGHOME", home)
                .args(["--batch", "--armor", "--export", uid]),
            true,
        );
        std::fs::write(&public_key, &out.stdout).expect("write public key");
        Self {
            home: home.to_path_buf(),
            uid: uid.to_string(),
            public_key,
        }
    }

    /// Signs `rpm` in place with rpmsign (a v4 header+payload signature).
    pub fn rpmsign(&self, rpm: &Path) {
        // Debian's rpm macros name /usr/bin/gpg2, which Debian does not ship; rpmsign execs the
        // macro's path as is.
        let gpg = run(Command::new("sh").args(["-c", "command -v gpg"]), true);
        let gpg = String::from_utf8_lossy(&gpg.stdout).trim().to_string();
        run(
            Command::new("rpmsign")
                .arg("--define")
                .arg(format!("__gpg {gpg}"))
                .arg("--define")
                .arg(format!("_gpg_name {}", self.uid))
                .arg("--define")
                .arg(format!("_gpg_path {}", self.home.display()))
                .arg("--addsign")
                .arg(rpm),
            true,
        );
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        // The agent gpg started for this home would outlive the test otherwise.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// A [`Sign`] backed by the gpg command line, standing in for the OpenPGP signer so that dnf's
/// `repo_gpgcheck` is exercised against what librepo really accepts.
pub struct GpgCliSigner<'a>(pub &'a GpgKey);

impl Sign for GpgCliSigner<'_> {
    fn clear_sign(&self, _text: &str) -> Result<String, FormatError> {
        Err(FormatError::Signing("not used by RPM repositories".into()))
    }

    fn detached_sign(&self, data: &[u8]) -> Result<String, FormatError> {
        let input = self.0.home.join("to-sign");
        std::fs::write(&input, data).map_err(|e| FormatError::Signing(e.to_string()))?;
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.0.home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args([
                "--armor",
                "--detach-sign",
                "--local-user",
                &self.0.uid,
                "--output",
                "-",
            ])
            .arg(&input)
            .output()
            .map_err(|e| FormatError::Signing(e.to_string()))?;
        if !out.status.success() {
            return Err(FormatError::Signing(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| FormatError::Signing(e.to_string()))
    }
}

/// `python3 -m http.server` on 127.0.0.1 with an OS-chosen port, serving `root`; its request log
/// goes to a file so that tests can show which paths clients asked for.
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The server's request log.
    pub log: PathBuf,
}

impl HttpServer {
    /// Starts the server and waits until it says which port it bound.
    pub fn start(root: &Path, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("server log");
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .arg("--directory")
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start python3 -m http.server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server banner");
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("no port in {line:?}"))
            .to_string();
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        }
    }

    /// The request log so far.
    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How dnf should treat signatures.
pub struct Trust<'a> {
    /// `gpgcheck` (package signatures).
    pub gpgcheck: bool,
    /// `repo_gpgcheck` (repomd.xml.asc).
    pub repo_gpgcheck: bool,
    /// `gpgkey=file://…`.
    pub key: Option<&'a Path>,
}

/// Runs `dnf install -y <package>` into a fresh install root under `work`, reading only the
/// repository at `baseurl`. Returns dnf's output (not asserted: refusals are expected in some tests).
pub fn dnf_install(work: &Path, baseurl: &str, trust: &Trust<'_>, package: &str) -> Output {
    let reposdir = work.join("repos.d");
    let installroot = work.join("root");
    std::fs::create_dir_all(&reposdir).expect("reposdir");
    std::fs::create_dir_all(&installroot).expect("installroot");
    let mut repo = format!(
        "[bm-test]\nname=buildmaster test\nbaseurl={baseurl}\nenabled=1\ngpgcheck={}\nrepo_gpgcheck={}\nmetadata_expire=0\n",
        u8::from(trust.gpgcheck),
        u8::from(trust.repo_gpgcheck),
    );
    if let Some(key) = trust.key {
        repo.push_str(&format!("gpgkey=file://{}\n", key.display()));
    }
    std::fs::write(reposdir.join("bm-test.repo"), repo).expect("repo file");
    let conf = work.join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\nreposdir={}\nskip_if_unavailable=False\ninstall_weak_deps=False\nkeepcache=False\nplugins=False\n",
            reposdir.display()
        ),
    )
    .expect("dnf.conf");
    run(
        Command::new("dnf")
            .arg("-c")
            .arg(&conf)
            .arg(format!("--installroot={}", installroot.display()))
            .args(["--releasever=9", "-y"])
            .args(["install", package]),
        false,
    )
}
