//! Build results: fetched to a local staging directory, verified, then committed as a set or not at
//! all (reference report §9.6 — HaikuPorter wrote results one by one into the repository, so a failure
//! on the second of three left a partial set that later blocked the port).
//!
//! Verification of each expected file: it exists (exit 0 without it is a build failure, never a
//! transient error — HaikuPorter's #330 loop); its bytes arrive with the size and SHA-256 the builder
//! computed for them ([`BuilderHost::fetch`]: `sha256sum` on an SSH builder, compared while
//! streaming); and the package's own name, version and architecture, as the toolchain reads them
//! ([`Toolchain::result_identity`]), give exactly its file name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use buildmaster_storage::Sha256Digest;

use super::error::BuilderError;
use super::exec::ExecLimits;
use super::host::BuilderHost;
use crate::toolchains::Toolchain;

/// A verified result, committed into the results directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultFile {
    /// Canonical file name.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: Sha256Digest,
    /// Where it is now.
    pub path: PathBuf,
}

/// Makes staging directory names unique within this process (the pid makes them unique across).
static STAGING_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Removes the staging directory on every exit path, including cancellation (dropping the future).
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where things are, for one build's results.
pub struct ResultPlaces<'a> {
    /// The builder's directory the build tool writes results to.
    pub remote_dir: &'a str,
    /// Local parent of per-build staging directories (same file system as `commit_dir`).
    pub staging_root: &'a Path,
    /// Local directory the verified set is committed to.
    pub commit_dir: &'a Path,
}

/// Fetches, verifies and commits `expected` (canonical file names) of the build of `port`.
pub async fn fetch_verify_commit(
    host: &dyn BuilderHost,
    toolchain: &Arc<dyn Toolchain>,
    port: &str,
    expected: &[String],
    places: &ResultPlaces<'_>,
    limits: &ExecLimits,
) -> Result<Vec<ResultFile>, BuilderError> {
    let builder = host.builder();
    for name in expected {
        if host
            .size(&format!("{}/{name}", places.remote_dir))
            .await?
            .is_none()
        {
            return Err(BuilderError::MissingResult {
                builder: builder.into(),
                port: port.into(),
                file: name.clone(),
            });
        }
    }
    let local_err = |op, path: &Path| {
        let path = path.to_path_buf();
        move |e| BuilderError::Local { op, path, source: e }
    };
    std::fs::create_dir_all(places.staging_root).map_err(local_err("create", places.staging_root))?;
    std::fs::create_dir_all(places.commit_dir).map_err(local_err("create", places.commit_dir))?;
    let staging = StagingDir(places.staging_root.join(format!(
        "{}-{}-{}",
        port.replace('/', "_"),
        std::process::id(),
        STAGING_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )));
    std::fs::create_dir(&staging.0).map_err(local_err("create", &staging.0))?;

    let mut staged = Vec::new();
    for name in expected {
        let remote = format!("{}/{name}", places.remote_dir);
        let local = staging.0.join(name);
        let got = host.fetch(&remote, &local, limits).await?;
        verify_identity(builder, toolchain, name, &local).await?;
        staged.push(ResultFile {
            file_name: name.clone(),
            size: got.size,
            sha256: got.sha256,
            path: local,
        });
    }
    commit(&mut staged, places.commit_dir)?;
    Ok(staged)
}

/// The result's own identity (name, version, architecture, as `toolchain` reads it) must give its
/// file name `name`.
pub async fn verify_identity(
    builder: &str,
    toolchain: &Arc<dyn Toolchain>,
    name: &str,
    path: &Path,
) -> Result<(), BuilderError> {
    let (tool, path_owned) = (Arc::clone(toolchain), path.to_path_buf());
    let read = tokio::task::spawn_blocking(move || tool.result_identity(&path_owned))
        .await
        .map_err(|e| BuilderError::Local {
            op: "read package",
            path: path.into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let canonical = read.unwrap_or_else(|e| format!("<not a valid package: {e}>"));
    if canonical != name {
        return Err(BuilderError::Verify {
            builder: builder.into(),
            file: name.into(),
            what: "package identity (name-version-arch)",
            expected: name.into(),
            got: canonical,
            is_result: true,
        });
    }
    Ok(())
}

/// Moves every staged file into `dir`; if one move fails, the ones already moved are taken back out,
/// so `dir` holds the whole set or none of it.
pub fn commit(staged: &mut [ResultFile], dir: &Path) -> Result<(), BuilderError> {
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    for file in staged.iter() {
        let to = dir.join(&file.file_name);
        if let Err(e) = std::fs::rename(&file.path, &to) {
            for (from, to) in moved.iter().rev() {
                let _ = std::fs::rename(to, from);
            }
            return Err(BuilderError::Local {
                op: "commit result",
                path: to,
                source: e,
            });
        }
        moved.push((file.path.clone(), to));
    }
    for (file, (_, to)) in staged.iter_mut().zip(moved) {
        file.path = to;
    }
    Ok(())
}
