//! Real Debian tools for tests/debian_apt.rs: `dpkg-deb --build` for packages, a static HTTP
//! server on 127.0.0.1 that logs what apt asked for, and Debian's own `apt-get` run with private
//! state, cache and source lists (never the host's, never the host's dpkg database: only
//! `update`, `download` and `install -s`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// Fails the test with a clear message when a Debian tool is missing.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{tool} is needed for this test (apt-get install apt dpkg)");
}

/// The host's dpkg architecture (`amd64`).
pub fn host_architecture() -> String {
    let out = Command::new("dpkg").arg("--print-architecture").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Builds a binary package with `dpkg-deb --build` from `control`, compressed with `compression`
/// (`xz`, `gzip`, `zstd`), holding one documentation file. Returns the `.deb`'s path.
pub fn build_deb(dir: &Path, control: &str, compression: &str) -> PathBuf {
    let name = control.lines().find_map(|l| l.strip_prefix("Package: ")).unwrap();
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join(format!("usr/share/doc/{name}"))).unwrap();
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    std::fs::write(
        root.join(format!("usr/share/doc/{name}/README")),
        format!("{name}\n"),
    )
    .unwrap();
    let out = dir.join(format!("{name}.deb"));
    let result = Command::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{compression}"), "--build"])
        .arg(&root)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// A static file server on 127.0.0.1 (one thread per connection, `Connection: close`), recording
/// every request path.
pub struct HttpServer {
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    /// Paths requested so far, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    /// Serves `root` until the test process ends.
    pub fn serve(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (root, log) = (root.to_owned(), requests.clone());
        std::thread::Builder::new()
            .name("debian-http".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (root, log) = (root.clone(), log.clone());
                    std::thread::spawn(move || {
                        let _ = answer(stream, &root, &log);
                    });
                }
            })
            .unwrap();
        Self { url, requests }
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Answers one request (GET or HEAD) with the file or a 404.
fn answer(stream: TcpStream, root: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = percent_decode(target.split('?').next().unwrap_or("/"));
    log.lock().unwrap().push(path.clone());
    let file = (!path.contains(".."))
        .then(|| root.join(path.trim_start_matches('/')))
        .filter(|p| p.is_file());
    let mut stream = stream;
    match file {
        Some(file) => {
            let body = std::fs::read(file)?;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if method != "HEAD" {
                stream.write_all(&body)?;
            }
        }
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    stream.flush()
}

/// `%2b` → `+` (apt quotes `+` and `~` in URLs).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Debian's `apt-get` with its own state under one directory.
pub struct Apt {
    /// Holds `state/`, `cache/`, `etc/`.
    dir: PathBuf,
}

impl Apt {
    /// Private apt directories under `dir`, with one source: `deb [signed-by=<key>] <url> <codename> main`.
    pub fn new(dir: &Path, url: &str, codename: &str, key: &Path) -> Self {
        for sub in [
            "state/lists/partial",
            "cache/archives/partial",
            "etc/parts",
            "etc/trusted.gpg.d",
            "download",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(
            dir.join("etc/sources.list"),
            format!("deb [signed-by={}] {url} {codename} main\n", key.display()),
        )
        .unwrap();
        Self { dir: dir.to_owned() }
    }

    /// Runs `apt-get <args>` in the download directory; returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let options = [
            format!("Dir::State={}", d("state")),
            format!("Dir::Cache={}", d("cache")),
            format!("Dir::Etc::SourceList={}", d("etc/sources.list")),
            format!("Dir::Etc::SourceParts={}", d("etc/parts")),
            format!("Dir::Etc::Parts={}", d("etc/parts")),
            format!("Dir::Etc::Trusted={}", d("etc/trusted.gpg")),
            format!("Dir::Etc::TrustedParts={}", d("etc/trusted.gpg.d")),
            "Debug::NoLocking=1".into(),
            // The test directories are private to root; apt's download sandbox user could not
            // write there.
            "APT::Sandbox::User=root".into(),
            "Acquire::Languages=none".into(),
            "Acquire::http::Proxy=DIRECT".into(),
            "Acquire::Retries=0".into(),
        ];
        let mut command = Command::new("apt-get");
        command.current_dir(self.dir.join("download")).arg("-q");
        for option in &options {
            command.arg("-o").arg(option);
        }
        command
            .args(args)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap()
    }

    /// Where `apt-get download` puts files.
    pub fn download_dir(&self) -> PathBuf {
        self.dir.join("download")
    }
}

/// stdout and stderr of a tool, for assertion messages.
pub fn output_text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
