//! Real OpenSSH `sshd` builders on 127.0.0.1 for the builder tests, plus a test-owned loopback TCP
//! proxy that can stall, drop or cut connections on command.
//!
//! Each [`Sshd`] has its own work directory holding its host key, a client key, `authorized_keys`, a
//! `known_hosts` line for `[127.0.0.1]:<port>` and a `work/` directory the builder uses as its disk. The
//! daemon runs in the foreground (`-D -e`) so the test owns the process; faults are injected with
//! signals sent to the listener *and* every per-connection process below it (sshd gives each
//! connection its own session, so signalling the listener alone would leave live connections alone).
//!
//! The `sftp` subsystem is OpenSSH's `sftp-server -P rename`: it refuses the plain SFTP RENAME, as a
//! Haiku builder effectively does (OpenSSH implements that request with `link()`, and Haiku's BFS has
//! no hard links), while allowing `posix-rename@openssh.com`. A coordinator that renames the plain way
//! fails here exactly as it would on Haiku.
//!
//! Sessions get `HOME` set to the builder's own directory, so the login shell reads none of the test
//! user's dotfiles: this machine's root `.bashrc` runs `pyenv rehash`, which takes a lock file that a
//! session killed by a fault test would leave behind, stalling every later session for 60 s.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The OpenSSH daemon, as installed by `scripts/install-test-tools.sh`.
pub const SSHD: &str = "/usr/sbin/sshd";
/// OpenSSH's SFTP server, as installed by `scripts/install-test-tools.sh` (Debian's
/// `openssh-sftp-server`).
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
/// The SFTP requests the test sshd refuses: the plain rename, like a Haiku builder (see above).
pub const SFTP_DENIED_REQUESTS: &str = "rename";
/// How long a freshly started sshd may take to accept connections (it needs ~0.05 s).
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Client key algorithms the tests exercise (`ssh-keygen -t`).
#[derive(Clone, Copy, Debug)]
pub enum KeyType {
    /// `ssh-ed25519`.
    Ed25519,
    /// `ecdsa-sha2-nistp256`.
    Ecdsa,
    /// `rsa-sha2-*`, 3072 bits.
    Rsa,
}

impl KeyType {
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            KeyType::Ed25519 => &["-t", "ed25519"],
            KeyType::Ecdsa => &["-t", "ecdsa", "-b", "256"],
            KeyType::Rsa => &["-t", "rsa", "-b", "3072"],
        }
    }
}

/// One running (or stopped, or killed) sshd builder.
pub struct Sshd {
    /// Owns every file of this builder; removed when the test ends.
    pub dir: tempfile::TempDir,
    /// The port sshd listens on (127.0.0.1 only).
    pub port: u16,
    /// The client private key (OpenSSH format) the coordinator authenticates with.
    pub client_key: PathBuf,
    /// The host's public key file (`hostkey.pub`).
    pub host_key_pub: PathBuf,
    /// A `known_hosts` file with exactly this builder's `[127.0.0.1]:<port>` entry.
    pub known_hosts: PathBuf,
    /// The builder's disk: ports tree, package cache, build outputs live below it.
    pub work: PathBuf,
    child: Option<Child>,
}

fn keygen(path: &Path, key: KeyType) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-N", ""])
        .args(key.keygen_args())
        .arg("-f")
        .arg(path)
        .status()
        .expect("run ssh-keygen (install openssh-client: scripts/install-test-tools.sh)");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The name of the user the tests run as (sshd logs in as this user).
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    while StdStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Sshd {
    /// Starts a builder whose client key is ed25519.
    pub fn start() -> Sshd {
        Sshd::start_with(KeyType::Ed25519)
    }

    /// Starts a builder accepting a client key of the given type.
    pub fn start_with(client: KeyType) -> Sshd {
        let subsystem = format!("{SFTP_SERVER} -P {SFTP_DENIED_REQUESTS}");
        Sshd::start_with_subsystem(client, &subsystem)
    }

    /// Starts a builder whose `sftp` subsystem is `subsystem` (a command line for sshd), e.g. a fake
    /// SFTP server lacking an extension.
    pub fn start_with_subsystem(client: KeyType, subsystem: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run scripts/install-test-tools.sh"
        );
        assert!(
            Path::new(SFTP_SERVER).exists(),
            "{SFTP_SERVER} is missing: apt-get install openssh-sftp-server (scripts/install-test-tools.sh)"
        );
        std::fs::create_dir_all("/run/sshd").expect("create the privilege-separation dir /run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        keygen(&root.join("hostkey"), KeyType::Ed25519);
        keygen(&root.join("clientkey"), client);
        std::fs::copy(root.join("clientkey.pub"), root.join("authorized_keys")).unwrap();
        let work = root.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {root}/hostkey\nPidFile {root}/sshd.pid\n\
             AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             Subsystem sftp {subsystem}\nMaxSessions 64\nMaxStartups 64\n\
             SetEnv HOME={root}\n",
            root = root.display()
        );
        std::fs::write(root.join("sshd_config"), config).unwrap();
        let host_pub = std::fs::read_to_string(root.join("hostkey.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let (alg, blob) = (fields.next().unwrap(), fields.next().unwrap());
        let mut kh = std::fs::File::create(root.join("known_hosts")).unwrap();
        writeln!(kh, "[127.0.0.1]:{port} {alg} {blob}").unwrap();
        let mut sshd = Sshd {
            client_key: root.join("clientkey"),
            host_key_pub: root.join("hostkey.pub"),
            known_hosts: root.join("known_hosts"),
            work,
            port,
            dir,
            child: None,
        };
        sshd.spawn();
        sshd
    }

    fn spawn(&mut self) {
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("sshd.log"))
                    .unwrap(),
            )
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// How a builder reaches this sshd: 127.0.0.1, the test user, the client key, the host key pinned
    /// through this sshd's `known_hosts`.
    pub fn target(&self) -> buildmaster::builders::config::SshTarget {
        self.target_pinned(buildmaster::builders::config::HostKeyPin::KnownHosts(
            self.known_hosts.clone(),
        ))
    }

    /// As [`Sshd::target`], with the host key pinned by `pin` instead.
    pub fn target_pinned(
        &self,
        pin: buildmaster::builders::config::HostKeyPin,
    ) -> buildmaster::builders::config::SshTarget {
        buildmaster::builders::config::SshTarget {
            host: "127.0.0.1".into(),
            port: self.port,
            user: current_user(),
            private_key: std::fs::read_to_string(&self.client_key).unwrap(),
            host_key: pin,
            jump: None,
        }
    }

    /// The host's public key line (`ssh-ed25519 AAAA… comment`).
    pub fn host_key_line(&self) -> String {
        std::fs::read_to_string(&self.host_key_pub)
            .unwrap()
            .trim()
            .to_string()
    }

    /// The listener's process id, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The listener and every process below it (connections, sessions, the commands they run).
    pub fn process_tree(&self) -> Vec<u32> {
        let Some(root) = self.pid() else { return Vec::new() };
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(children_of(parent));
            i += 1;
        }
        tree
    }

    fn signal_tree(&self, signal: &str) {
        for pid in self.process_tree() {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// SIGKILLs sshd and everything below it: the builder is dead (its TCP connections close).
    pub fn kill(&mut self) {
        // Stop first so that no process forks a new child between listing the tree and killing it.
        self.signal_tree("-STOP");
        self.signal_tree("-KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// SIGSTOPs sshd and everything below it: the builder hangs with its connections open.
    pub fn stop(&self) {
        self.signal_tree("-STOP");
    }

    /// SIGCONTs what [`Sshd::stop`] stopped.
    pub fn cont(&self) {
        self.signal_tree("-CONT");
    }

    /// Starts sshd again on the same port with the same keys (after [`Sshd::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart only a killed sshd");
        self.spawn();
    }

    /// The daemon's log (`-e`), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.cont();
        self.signal_tree("-KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// The direct children of `pid`, from `/proc/*/stat`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(candidate) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Field 4 is the parent pid; the command name (field 2) may contain spaces, so parse after ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(candidate);
        }
    }
    out
}

/// What the proxy does with traffic right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ProxyMode {
    /// Forward bytes both ways.
    Pass = 0,
    /// Keep connections open but forward nothing (a silent, hung link).
    Stall = 1,
    /// Accept new connections and close them at once; existing ones keep forwarding.
    Drop = 2,
}

/// A loopback TCP proxy in front of a builder, owned by the test.
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    mode: Arc<AtomicU8>,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<new port> to 127.0.0.1:`target`. Must run inside a tokio runtime.
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(ProxyMode::Pass as u8));
        let (cut, cut_rx) = tokio::sync::watch::channel(0u64);
        let target: SocketAddr = ([127, 0, 0, 1], target).into();
        let accept_mode = mode.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if accept_mode.load(Ordering::SeqCst) == ProxyMode::Drop as u8 {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                tokio::spawn(forward_pair(client, server, accept_mode.clone(), cut_rx.clone()));
            }
        });
        Proxy {
            port,
            mode,
            cut,
            task,
        }
    }

    /// Switches what the proxy does with traffic.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Closes every open connection at once (a cut link).
    pub fn cut(&self) {
        self.cut.send_modify(|generation| *generation += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn forward_pair(
    client: TcpStream,
    server: TcpStream,
    mode: Arc<AtomicU8>,
    mut cut: tokio::sync::watch::Receiver<u64>,
) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = forward(cr, sw, mode.clone());
    let down = forward(sr, cw, mode);
    cut.borrow_and_update();
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.changed() => {}
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // A stalled link holds the bytes it has (like a black-holed route) until it passes again.
        while mode.load(Ordering::SeqCst) == ProxyMode::Stall as u8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
