//! The repository index, regenerated from the database alone (no package file, real or stub, is
//! read), written locally to `<state>/repository/` and uploaded in the order that keeps clients safe:
//! packages are already in storage, then `package.list`, `repo.info`, `repo`, and `repo.sha256` last, all
//! with `Cache-Control: no-cache`.

use std::path::Path;

use buildmaster_storage::{PutOptions, StorageBackend};

use super::crashpoint::crash_point;
use super::{keys, PublishError};
use crate::formats::haiku::index::{build_index, newest_per_name, Candidate};
use crate::haiku::output_file::write_atomically;
use crate::haiku::repo_checks::PackageRejected;
use crate::haiku::repo_info::RepositoryInfo;
use crate::state::{PackageRecord, StateDir};

/// The index files of one publish.
#[derive(Debug)]
pub struct IndexFiles {
    /// The HPKR `repo` file.
    pub repo: Vec<u8>,
    /// Lowercase hex SHA-256 of `repo` (the whole content of `repo.sha256`).
    pub repo_sha256: String,
    /// The text of `repo.info`.
    pub repo_info_text: Vec<u8>,
    /// Canonical file names in the index, in index order.
    pub file_names: Vec<String>,
}

impl IndexFiles {
    /// `package.list`: one canonical file name per line.
    pub fn package_list(&self) -> Vec<u8> {
        crate::formats::haiku::index::package_list(&self.file_names)
    }
}

/// The packages an index names, from the `stored` records it may name: every package, except
/// versions superseded by a newer version of the same package name (obsolete versions leave the
/// index). Ordered by file name.
pub fn select<'a>(stored: &[&'a PackageRecord]) -> Vec<&'a PackageRecord> {
    newest_per_name(stored.iter().copied(), |r| &r.info, |r| &r.file_name)
}

/// `<state>/repository/repo.info`.
pub fn repo_info_path(state: &StateDir) -> std::path::PathBuf {
    state.repository().join(keys::REPO_INFO)
}

/// Reads `<state>/repository/repo.info`, which describes the repository.
pub fn load_repo_info(state: &StateDir) -> Result<(RepositoryInfo, Vec<u8>), PublishError> {
    let path = repo_info_path(state);
    let text = std::fs::read(&path).map_err(|e| {
        PublishError::Refused(format!(
            "cannot read {} ({e}); create it (name, vendor, summary, priority, identifier, architecture; see \
             docs/publishing.md)",
            path.display()
        ))
    })?;
    let info = RepositoryInfo::load(&path).map_err(|e| PublishError::Index(e.to_string()))?;
    Ok((info, text))
}

/// Builds the index of `chosen` packages. Packages that fail `package_repo`'s checks are left out and
/// returned with the reason (the caller refuses to publish such an index: see `guard`).
pub fn build(
    info: RepositoryInfo,
    repo_info_text: Vec<u8>,
    chosen: &[&PackageRecord],
) -> Result<(IndexFiles, Vec<PackageRejected>), PublishError> {
    let candidates: Vec<Candidate<'_>> = chosen
        .iter()
        .map(|r| Candidate {
            file_name: &r.file_name,
            info: &r.info,
            licenses: &r.licenses,
        })
        .collect();
    let built = build_index(info, &candidates).map_err(PublishError::Index)?;
    Ok((
        IndexFiles {
            repo: built.repo,
            repo_sha256: built.repo_sha256,
            repo_info_text,
            file_names: built.file_names,
        },
        built.rejected,
    ))
}

/// Writes the index files to `<state>/repository/`, each atomically.
pub fn write_local(dir: &Path, files: &IndexFiles) -> Result<(), PublishError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        write_atomically(&path, bytes).map_err(|e| PublishError::io(&path, e))
    };
    write(keys::PACKAGE_LIST, &files.package_list())?;
    write(keys::REPO, &files.repo)?;
    write(keys::REPO_SHA256, files.repo_sha256.as_bytes())
}

/// Uploads the index files, `repo.sha256` last.
pub async fn upload(storage: &dyn StorageBackend, files: &IndexFiles) -> Result<(), PublishError> {
    let text = PutOptions::index("text/plain; charset=utf-8");
    let binary = PutOptions::index("application/octet-stream");
    storage
        .put_bytes(&keys::top(keys::PACKAGE_LIST), &files.package_list(), &text)
        .await?;
    crash_point("after-upload-package-list");
    storage
        .put_bytes(&keys::top(keys::REPO_INFO), &files.repo_info_text, &text)
        .await?;
    crash_point("after-upload-repo-info");
    storage
        .put_bytes(&keys::top(keys::REPO), &files.repo, &binary)
        .await?;
    crash_point("after-upload-repo");
    storage
        .put_bytes(&keys::top(keys::REPO_SHA256), files.repo_sha256.as_bytes(), &text)
        .await?;
    crash_point("after-upload-repo-sha256");
    Ok(())
}
