//! The local builder's transport: the master itself as a [`BuilderHost`] — `tokio::fs` for files,
//! `tokio::process` for commands — the embedded default for trying buildmaster out. The builder flow
//! on top is the remote builders' own ([`super::build`], [`super::cache`], [`super::results`]), so the
//! guarantees are the same: verified `.upload`-then-rename writes, exactly the dependencies visible,
//! live output with idle and total timeouts, the whole process group killed on cancel or timeout,
//! results verified and committed all-or-nothing. Commands run on pipes, not a PTY (stderr stays
//! separate); there is no connection to lose.
//!
//! The build's environment is not the daemon's: the daemon holds secrets (`BUILDMASTER_API_TOKEN`,
//! `AWS_SECRET_ACCESS_KEY`, …) and a build's output is served by the read-only API. A build starts
//! from an empty environment plus [`BUILD_ENV_PASSED`], the variables an SSH session gets from sshd
//! (see docs/security.md).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::error::BuilderError;
use super::exec::{ExecLimits, Exit, OutputSink, Stream};
use super::host::{BuilderHost, Command, DirEntry, RunCommand};
use super::sftp::{self, copy_hashed, CopyError, Expected, Transferred, UPLOAD_SUFFIX};

/// Bytes read from a command's stdout or stderr at a time.
const OUTPUT_CHUNK_BYTES: usize = 64 * 1024;

/// The only variables a local build inherits from the daemon (when set): what sshd gives an SSH
/// session (`PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`), the locale and time zone, and the temporary
/// directory, and the two variables that name the build tool's own helpers (`BUILDMASTER`, the binary the
/// HaikuPorter stand-in packages with, and `HAIKUPORTER_DIR`, the HaikuPorter checkout whose resolver it
/// runs: paths, never secrets; without them a master whose binary is not on `PATH` — CI's, with its
/// target directory outside the checkout — fails every local build). Nothing else — in particular no
/// credential — reaches a build.
pub const BUILD_ENV_PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "BUILDMASTER",
    "HAIKUPORTER_DIR",
];

/// The environment a local build runs with: [`BUILD_ENV_PASSED`] taken from `daemon_env`.
pub fn build_environment(
    daemon_env: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    daemon_env
        .into_iter()
        .filter(|(k, _)| BUILD_ENV_PASSED.iter().any(|p| k.as_os_str() == *p))
        .collect()
}

/// The master as a builder host.
pub struct LocalHost {
    /// The builder's name, for errors.
    builder: String,
}

fn local(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuilderError {
    let path = path.to_path_buf();
    move |source| BuilderError::Local { op, path, source }
}

impl LocalHost {
    /// The master, as the builder called `builder`.
    pub fn new(builder: &str) -> Self {
        Self {
            builder: builder.into(),
        }
    }

    /// `cmd` as a process: the empty environment plus [`BUILD_ENV_PASSED`], its own process group,
    /// the setup script sourced first when it exists (as [`super::exec::build_command_line`] does).
    fn command(&self, cmd: Command<'_>) -> tokio::process::Command {
        let script = cmd.setup_script.filter(|s| Path::new(s).exists());
        let mut process = match script {
            Some(script) => {
                let mut p = tokio::process::Command::new("sh");
                p.arg("-c")
                    .arg(". \"$0\" && exec \"$@\"")
                    .arg(script)
                    .args(cmd.argv);
                p
            }
            None => {
                let mut p = tokio::process::Command::new(&cmd.argv[0]);
                p.args(&cmd.argv[1..]);
                p
            }
        };
        if let Some(cwd) = cmd.cwd {
            process.current_dir(cwd);
        }
        process
            .env_clear()
            .envs(build_environment(std::env::vars_os()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        process
    }
}

#[async_trait]
impl RunCommand for LocalHost {
    fn builder(&self) -> &str {
        &self.builder
    }

    async fn run(
        &self,
        cmd: Command<'_>,
        limits: &ExecLimits,
        sink: OutputSink<'_>,
    ) -> Result<Exit, BuilderError> {
        let shown = super::quote::command_line(cmd.argv);
        let Some(program) = cmd.argv.first() else {
            return Err(BuilderError::Command {
                builder: self.builder.clone(),
                command: shown,
                status: "not started".into(),
                output: "empty argument vector".into(),
            });
        };
        let mut child = self
            .command(cmd)
            .spawn()
            .map_err(local("start", Path::new(program)))?;
        let pgid = child.id();
        let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
            kill_group(pgid).await;
            return Err(BuilderError::Local {
                op: "capture the output of",
                path: program.into(),
                source: std::io::Error::other("no pipe"),
            });
        };
        let (mut obuf, mut ebuf) = (vec![0u8; OUTPUT_CHUNK_BYTES], vec![0u8; OUTPUT_CHUNK_BYTES]);
        let (mut out_open, mut err_open) = (true, true);
        // No limit configured (the default, as in HaikuPorter): a deadline that never comes.
        let forever = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = Instant::now() + limits.total.unwrap_or(forever);
        let timeout = |what, after| BuilderError::Timeout {
            builder: self.builder.clone(),
            command: shown.clone(),
            what,
            after,
            is_build: limits.is_build,
        };
        while out_open || err_open {
            let idle = limits
                .idle_output
                .map_or(deadline, |d| (Instant::now() + d).min(deadline));
            tokio::select! {
                _ = limits.cancel.cancelled() => {
                    kill_group(pgid).await;
                    return Err(BuilderError::Cancelled { builder: self.builder.clone(), what: shown });
                }
                _ = tokio::time::sleep_until(idle) => {
                    kill_group(pgid).await;
                    return Err(if Instant::now() >= deadline {
                        timeout("ran too long", limits.total.unwrap_or_default())
                    } else {
                        timeout("printed nothing", limits.idle_output.unwrap_or_default())
                    });
                }
                n = out.read(&mut obuf), if out_open => match n {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => sink(Stream::Stdout, &obuf[..n]),
                },
                n = err.read(&mut ebuf), if err_open => match n {
                    Ok(0) | Err(_) => err_open = false,
                    Ok(n) => sink(Stream::Stderr, &ebuf[..n]),
                },
            }
        }
        let status = child
            .wait()
            .await
            .map_err(local("wait for", Path::new(program)))?;
        use std::os::unix::process::ExitStatusExt as _;
        Ok(Exit {
            status: status
                .code()
                .map(|c| c as u32)
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0) as u32),
            signal: status.signal().map(|s| s.to_string()),
        })
    }
}

/// Copies `source` into the new file `dest`, hashing while streaming; `limit` as in [`copy_hashed`].
async fn copy_to_file(
    source: &mut (dyn AsyncRead + Send + Unpin),
    dest: &Path,
    source_name: &Path,
    limit: u64,
) -> Result<Transferred, BuilderError> {
    let mut out = tokio::fs::File::create(dest)
        .await
        .map_err(local("create", dest))?;
    let got = copy_hashed(source, &mut out, limit).await.map_err(|e| match e {
        CopyError::Read(e) => local("read", source_name)(e),
        CopyError::Write(e) => local("write", dest)(e),
    })?;
    out.flush().await.map_err(local("write", dest))?;
    Ok(got)
}

#[async_trait]
impl BuilderHost for LocalHost {
    fn is_master(&self) -> bool {
        true
    }

    async fn upload(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        dest: &str,
        expected: Expected,
    ) -> Result<Transferred, BuilderError> {
        let temp = PathBuf::from(format!("{dest}{UPLOAD_SUFFIX}"));
        let result = async {
            let got = copy_to_file(source, &temp, Path::new(dest), expected.size).await?;
            sftp::verify(&self.builder, dest, expected, got, false)?;
            tokio::fs::rename(&temp, dest)
                .await
                .map_err(local("rename", &temp))?;
            Ok(got)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    async fn fetch(&self, src: &str, dest: &Path, _limits: &ExecLimits) -> Result<Transferred, BuilderError> {
        // On one machine the copy is the only read of the file: its hash is the file's own.
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(local("open", Path::new(src)))?;
        let part = PathBuf::from(format!("{}.part", dest.display()));
        let got = copy_to_file(&mut file, &part, Path::new(src), u64::MAX).await;
        match got {
            Ok(got) => {
                tokio::fs::rename(&part, dest)
                    .await
                    .map_err(local("rename", &part))?;
                Ok(got)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    async fn sha256(&self, path: &str, _limits: &ExecLimits) -> Result<Option<Transferred>, BuilderError> {
        let mut file = match tokio::fs::File::open(path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(local("open", Path::new(path))(e)),
        };
        let got = copy_hashed(&mut file, &mut tokio::io::sink(), u64::MAX)
            .await
            .map_err(|e| match e {
                CopyError::Read(e) | CopyError::Write(e) => local("read", Path::new(path))(e),
            })?;
        Ok(Some(got))
    }

    async fn list(&self, dir: &str) -> Result<Vec<DirEntry>, BuilderError> {
        let dir = Path::new(dir);
        let mut entries = tokio::fs::read_dir(dir).await.map_err(local("list", dir))?;
        let mut listed = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(local("list", dir))? {
            // Not following links, as SFTP's listing does not.
            let meta = entry.metadata().await.map_err(local("stat", &entry.path()))?;
            listed.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                size: meta.len(),
                is_file: meta.is_file(),
            });
        }
        Ok(listed)
    }

    async fn size(&self, path: &str) -> Result<Option<u64>, BuilderError> {
        match tokio::fs::metadata(path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(local("stat", Path::new(path))(e)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), BuilderError> {
        tokio::fs::rename(from, to)
            .await
            .map_err(local("rename", Path::new(from)))
    }

    async fn remove(&self, path: &str) -> Result<(), BuilderError> {
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(local("remove", Path::new(path))(e)),
            _ => Ok(()),
        }
    }

    async fn mkdir_p(&self, dir: &str) -> Result<(), BuilderError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(local("create", Path::new(dir)))
    }

    async fn symlink(&self, target: &str, link: &str) -> Result<(), BuilderError> {
        tokio::fs::symlink(target, link)
            .await
            .map_err(local("symlink", Path::new(link)))
    }

    async fn write_small(&self, path: &str, bytes: &[u8]) -> Result<(), BuilderError> {
        let temp = PathBuf::from(format!("{path}{UPLOAD_SUFFIX}"));
        tokio::fs::write(&temp, bytes)
            .await
            .map_err(local("write", &temp))?;
        tokio::fs::rename(&temp, path)
            .await
            .map_err(local("rename", &temp))
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, BuilderError> {
        let file = match tokio::fs::File::open(path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(local("open", Path::new(path))(e)),
        };
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(local("read", Path::new(path)))?;
        if bytes.len() as u64 > limit {
            return Err(BuilderError::Local {
                op: "read",
                path: path.into(),
                source: std::io::Error::other(format!("larger than the {limit} bytes expected")),
            });
        }
        Ok(Some(bytes))
    }
}

/// SIGKILLs a process group (the build and everything it started).
async fn kill_group(pgid: Option<u32>) {
    if let Some(pgid) = pgid {
        let _ = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status()
            .await;
    }
}

#[cfg(test)]
mod build_environment_tests {
    use super::build_environment;

    #[test]
    fn tool_locators_pass_and_secrets_do_not() {
        let daemon = [
            ("PATH", "/usr/bin"),
            ("BUILDMASTER", "/opt/bm/buildmaster"),
            ("HAIKUPORTER_DIR", "/opt/haikuporter"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("BUILDMASTER_API_TOKEN", "token"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let passed: Vec<String> = build_environment(daemon)
            .into_iter()
            .map(|(k, _)| k.into_string().unwrap())
            .collect();
        assert_eq!(passed, ["PATH", "BUILDMASTER", "HAIKUPORTER_DIR"]);
    }
}
