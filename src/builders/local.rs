//! The local builder: HaikuPorter's builder contract with processes on the master and no SSH — the
//! embedded default for trying buildmaster out. Same steps, same guarantees as a remote builder: only
//! missing dependencies are copied into the cache (streamed from the spool, or straight from storage
//! for stubs) through `<name>.upload` with size and SHA-256 checked, stale uploads are removed, system
//! packages are never pruned, exactly the dependencies are visible, output streams live with idle and
//! total timeouts, cancellation kills the whole process group, and results are verified and committed
//! all-or-nothing.
//!
//! The build's environment is not the daemon's: the daemon holds secrets (`BUILDMASTER_API_TOKEN`,
//! `AWS_SECRET_ACCESS_KEY`, …) and a build's output is served by the read-only API. A build starts
//! from an empty environment plus [`BUILD_ENV_PASSED`], the variables an SSH session gets from sshd
//! (see docs/security.md).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use buildmaster_storage::{Sha256Digest, StorageBackend};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::build::{expand_template, BuildOutcome, BuildRequest, ResultDirs};
use super::builder_conf::{self, BuilderConfValues};
use super::cache::{CacheListing, TransferReport, PACKAGE_EXTENSION};
use super::config::BuilderSpec;
use super::error::BuilderError;
use super::exec::{Exit, OutputSink, Stream};
use super::package::{PackageSource, WantedPackage};
use super::results::{self, ResultFile};
use super::sftp::{self, Expected, Transferred, CHUNK_BYTES, UPLOAD_SUFFIX};

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

/// A builder running on the master itself.
pub struct LocalBuilder {
    spec: BuilderSpec,
    storage: Option<Arc<dyn StorageBackend>>,
    conf: BuilderConfValues,
    dirs: ResultDirs,
}

fn local(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuilderError {
    let path = path.to_path_buf();
    move |source| BuilderError::Local { op, path, source }
}

impl LocalBuilder {
    /// A local builder; `spec.paths` are local paths.
    pub fn new(
        spec: BuilderSpec,
        storage: Option<Arc<dyn StorageBackend>>,
        conf: BuilderConfValues,
        dirs: ResultDirs,
    ) -> Self {
        Self {
            spec,
            storage,
            conf,
            dirs,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        PathBuf::from(&self.spec.paths.cache)
    }

    fn visible_dir(&self) -> PathBuf {
        PathBuf::from(&self.spec.paths.packages)
    }

    /// Writes the builder config, creates the directories, lists the cache and removes stale uploads.
    pub async fn setup(&self) -> Result<CacheListing, BuilderError> {
        let (cache, visible) = (self.cache_dir(), self.visible_dir());
        tokio::fs::create_dir_all(&cache)
            .await
            .map_err(local("create", &cache))?;
        tokio::fs::create_dir_all(&visible)
            .await
            .map_err(local("create", &visible))?;
        let conf_path = PathBuf::from(&self.spec.paths.builder_config);
        let text = builder_conf::render(&self.spec.name, &self.spec.paths, &self.conf);
        tokio::fs::write(&conf_path, text)
            .await
            .map_err(local("write", &conf_path))?;
        let mut listing = CacheListing::default();
        let mut entries = tokio::fs::read_dir(&cache).await.map_err(local("list", &cache))?;
        while let Some(entry) = entries.next_entry().await.map_err(local("list", &cache))? {
            let name = entry.file_name().to_string_lossy().to_string();
            let meta = entry.metadata().await.map_err(local("stat", &entry.path()))?;
            if name.ends_with(UPLOAD_SUFFIX) {
                tokio::fs::remove_file(entry.path())
                    .await
                    .map_err(local("remove", &entry.path()))?;
                listing.removed_uploads.push(name);
            } else if meta.is_file() && name.ends_with(PACKAGE_EXTENSION) {
                listing.packages.insert(name, meta.len());
            }
        }
        Ok(listing)
    }

    /// Copies what the cache lacks, verified.
    pub async fn ensure(
        &self,
        listing: &mut CacheListing,
        wanted: &[WantedPackage],
    ) -> Result<TransferReport, BuilderError> {
        let mut report = TransferReport::default();
        for package in wanted {
            if listing.holds(package) {
                report.already_cached.push(package.file_name.clone());
                continue;
            }
            let dest = self.cache_dir().join(&package.file_name);
            match package.source() {
                Some(PackageSource::Spool(path)) => {
                    let mut file = tokio::fs::File::open(&path).await.map_err(local("open", &path))?;
                    self.copy_verified(&mut file, &dest, package.expected()).await?;
                }
                Some(PackageSource::Storage(key)) => {
                    let storage = self.storage.as_ref().ok_or_else(|| self.no_bytes(package))?;
                    let mut object = storage.get(&key).await.map_err(|source| BuilderError::Storage {
                        builder: self.spec.name.clone(),
                        file: package.file_name.clone(),
                        source,
                    })?;
                    self.copy_verified(&mut object.body, &dest, package.expected())
                        .await?;
                }
                None => return Err(self.no_bytes(package)),
            }
            listing.packages.insert(package.file_name.clone(), package.size);
            report.sent.push(package.file_name.clone());
            report.bytes += package.size;
        }
        Ok(report)
    }

    fn no_bytes(&self, package: &WantedPackage) -> BuilderError {
        BuilderError::Sftp {
            builder: self.spec.name.clone(),
            op: "find the bytes of",
            path: package.file_name.clone(),
            reason: "neither a real spool file nor a storage object".into(),
        }
    }

    async fn copy_verified(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        dest: &Path,
        expected: Expected,
    ) -> Result<(), BuilderError> {
        let temp = PathBuf::from(format!("{}{UPLOAD_SUFFIX}", dest.display()));
        let result = async {
            let mut out = tokio::fs::File::create(&temp)
                .await
                .map_err(local("create", &temp))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; CHUNK_BYTES];
            let mut size = 0u64;
            loop {
                let n = source
                    .read(&mut buf)
                    .await
                    .map_err(local("read source for", dest))?;
                if n == 0 || size > expected.size {
                    break;
                }
                size += n as u64;
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).await.map_err(local("write", &temp))?;
            }
            out.flush().await.map_err(local("write", &temp))?;
            let got = Transferred {
                size,
                sha256: Sha256Digest(hasher.finalize().into()),
            };
            sftp::verify(&self.spec.name, &dest.to_string_lossy(), expected, got, false)?;
            tokio::fs::rename(&temp, dest)
                .await
                .map_err(local("rename", &temp))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    /// Exactly `deps` visible: every other package in the visible directory is removed.
    pub async fn make_visible(&self, deps: &[WantedPackage]) -> Result<(), BuilderError> {
        self.clear_visible().await?;
        for dep in deps {
            let link = self.visible_dir().join(&dep.file_name);
            tokio::fs::symlink(self.cache_dir().join(&dep.file_name), &link)
                .await
                .map_err(local("symlink", &link))?;
        }
        Ok(())
    }

    async fn clear_visible(&self) -> Result<(), BuilderError> {
        let visible = self.visible_dir();
        let mut entries = tokio::fs::read_dir(&visible)
            .await
            .map_err(local("list", &visible))?;
        while let Some(entry) = entries.next_entry().await.map_err(local("list", &visible))? {
            if entry.file_name().to_string_lossy().ends_with(PACKAGE_EXTENSION) {
                tokio::fs::remove_file(entry.path())
                    .await
                    .map_err(local("remove", &entry.path()))?;
            }
        }
        Ok(())
    }

    /// Removes cached packages neither in `keep` nor system packages.
    pub async fn prune(
        &self,
        listing: &mut CacheListing,
        keep: &HashSet<String>,
        system: &HashSet<String>,
    ) -> Result<Vec<String>, BuilderError> {
        let stale = listing.stale(keep, system);
        for name in &stale {
            let path = self.cache_dir().join(name);
            tokio::fs::remove_file(&path)
                .await
                .map_err(local("remove", &path))?;
            listing.packages.remove(name);
        }
        Ok(stale)
    }

    /// Runs a build (the ports tree is the master's own checkout: no sync step).
    pub async fn build(
        &self,
        listing: &mut CacheListing,
        req: &BuildRequest,
        sink: OutputSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, BuilderError> {
        let transfer = self.ensure(listing, &req.dependencies).await?;
        self.make_visible(&req.dependencies).await?;
        let argv = expand_template(&self.spec.build_command, &self.spec, &req.port);
        let exit = self.run_process(&argv, sink, cancel).await?;
        if exit.status != 0 {
            let _ = self.clear_visible().await;
            return Err(BuilderError::BuildFailed {
                builder: self.spec.name.clone(),
                port: req.port.clone(),
                status: exit.status,
            });
        }
        let results = self.collect_results(req).await;
        if results.is_err() {
            let _ = self.clear_visible().await;
        }
        let results = results?;
        for r in &results {
            // The committed copy is the verified one; the build's own file joins the cache.
            let from = self.visible_dir().join(&r.file_name);
            let to = self.cache_dir().join(&r.file_name);
            tokio::fs::rename(&from, &to)
                .await
                .map_err(local("rename", &from))?;
            listing.packages.insert(r.file_name.clone(), r.size);
        }
        self.clear_visible().await?;
        Ok(BuildOutcome {
            results,
            transfer,
            exit,
        })
    }

    async fn collect_results(&self, req: &BuildRequest) -> Result<Vec<ResultFile>, BuilderError> {
        let staging = self
            .dirs
            .staging
            .join(format!("{}-local-{}", req.port.replace('/', "_"), req.number));
        tokio::fs::create_dir_all(&staging)
            .await
            .map_err(local("create", &staging))?;
        tokio::fs::create_dir_all(&self.dirs.commit)
            .await
            .map_err(local("create", &self.dirs.commit))?;
        let collected = async {
            let mut staged = Vec::new();
            for name in &req.results {
                let src = self.visible_dir().join(name);
                let mut file = match tokio::fs::File::open(&src).await {
                    Ok(f) => f,
                    Err(_) => {
                        return Err(BuilderError::MissingResult {
                            builder: self.spec.name.clone(),
                            port: req.port.clone(),
                            file: name.clone(),
                        })
                    }
                };
                let size = file.metadata().await.map_err(local("stat", &src))?.len();
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes).await.map_err(local("read", &src))?;
                let path = staging.join(name);
                tokio::fs::write(&path, &bytes)
                    .await
                    .map_err(local("write", &path))?;
                results::verify_identity(&self.spec.name, name, &path).await?;
                staged.push(ResultFile {
                    file_name: name.clone(),
                    size: bytes.len() as u64,
                    sha256: Sha256Digest::of(&bytes),
                    path,
                });
            }
            results::commit(&mut staged, &self.dirs.commit)?;
            Ok(staged)
        }
        .await;
        let _ = tokio::fs::remove_dir_all(&staging).await;
        collected
    }

    /// Runs `argv` in the ports tree in its own process group, streaming output, with the timeouts.
    async fn run_process(
        &self,
        argv: &[String],
        sink: OutputSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<Exit, BuilderError> {
        let t = &self.spec.timeouts;
        let shown = super::quote::command_line(argv);
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .envs(build_environment(std::env::vars_os()))
            .current_dir(&self.spec.paths.ports_tree)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(local("start", Path::new(&argv[0])))?;
        let pgid = child.id();
        let (mut out, mut err) = (
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let (mut obuf, mut ebuf) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
        let (mut out_open, mut err_open) = (true, true);
        // No limit configured (the default, as in HaikuPorter): a deadline that never comes.
        let forever = std::time::Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = Instant::now() + t.build.unwrap_or(forever);
        let timeout = |what, after| BuilderError::Timeout {
            builder: self.spec.name.clone(),
            command: shown.clone(),
            what,
            after,
            is_build: true,
        };
        while out_open || err_open {
            let idle = t
                .idle_output
                .map_or(deadline, |d| (Instant::now() + d).min(deadline));
            tokio::select! {
                _ = cancel.cancelled() => {
                    kill_group(pgid).await;
                    return Err(BuilderError::Cancelled { builder: self.spec.name.clone(), what: shown });
                }
                _ = tokio::time::sleep_until(idle) => {
                    kill_group(pgid).await;
                    return Err(if Instant::now() >= deadline {
                        timeout("ran too long", t.build.unwrap_or_default())
                    } else {
                        timeout("printed nothing", t.idle_output.unwrap_or_default())
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
            .map_err(local("wait for", Path::new(&argv[0])))?;
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
