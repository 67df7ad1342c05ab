//! The repository index, rendered by the repository's format from the database alone (no package
//! file, real or stub, is read), written locally to `<state>/repository/` and uploaded in the order
//! the format gives — packages are already in storage, the root of trust goes last (Haiku:
//! `package.list`, `repo.info`, `repo`, `repo.sha256`) — all with `Cache-Control: no-cache`.

use std::path::Path;
use std::time::SystemTime;

use buildmaster_storage::{PutOptions, StorageBackend};

use super::crashpoint::crash_point;
use super::repository::ImplicitRepository;
use super::{keys, PublishError};
use crate::formats::{IndexFile, IndexedPackage, InspectedPackage};
use crate::fsutil::write_atomically;

/// The index files of one publish.
#[derive(Debug)]
pub struct IndexFiles {
    /// The files, in upload order (root of trust last).
    pub files: Vec<IndexFile>,
    /// The index's identity ([`crate::formats::RepositoryFormat::index_digest`]; Haiku: the SHA-256
    /// of `repo`).
    pub digest: String,
    /// Canonical file names of the packages the index names, sorted.
    pub file_names: Vec<String>,
}

/// The packages an index names, from the `stored` packages it may name (the format's choice: Haiku
/// names the newest version of each package name; obsolete versions leave the index).
pub fn select<'a>(repo: &ImplicitRepository, stored: &[&'a InspectedPackage]) -> Vec<&'a InspectedPackage> {
    repo.format.indexed(stored)
}

/// Renders the index of `chosen` packages (from [`select`]). A package the format's checks refuse
/// refuses the whole index, naming what to fix (see [`super::guard`]).
pub fn build(repo: &ImplicitRepository, chosen: &[&InspectedPackage]) -> Result<IndexFiles, PublishError> {
    let indexed: Vec<IndexedPackage> = chosen
        .iter()
        .map(|package| IndexedPackage {
            href: repo
                .format
                .fixed_path(package)
                .unwrap_or_else(|| format!("{}{}", keys::PACKAGES, package.file_name)),
            package: (*package).clone(),
        })
        .collect();
    let files = repo
        .format
        .render(&repo.target, &indexed, None, SystemTime::now())
        .map_err(ImplicitRepository::failed)?;
    let mut file_names: Vec<String> = chosen.iter().map(|p| p.file_name.clone()).collect();
    file_names.sort_unstable();
    Ok(IndexFiles {
        digest: repo.format.index_digest(&files),
        files,
        file_names,
    })
}

/// Writes the index files to `<state>/repository/`, each atomically; a file whose local copy already
/// has these bytes (`repo.info`, which the index is made from) is left alone.
pub fn write_local(dir: &Path, files: &IndexFiles) -> Result<(), PublishError> {
    for file in &files.files {
        let path = dir.join(&file.path);
        if std::fs::read(&path).is_ok_and(|local| local == file.bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PublishError::io(parent, e))?;
        }
        write_atomically(&path, &file.bytes).map_err(|e| PublishError::io(&path, e))?;
    }
    Ok(())
}

/// Uploads the index files in their order. Each is served `no-cache`, as text when it is UTF-8 and as
/// `application/octet-stream` otherwise (HPKR `repo`). Crash point `after-upload-<path>` after each,
/// `.` and `/` spelled `-` (`after-upload-repo-sha256`).
pub async fn upload(storage: &dyn StorageBackend, files: &IndexFiles) -> Result<(), PublishError> {
    let text = PutOptions::index("text/plain; charset=utf-8");
    let binary = PutOptions::index("application/octet-stream");
    for file in &files.files {
        let key = buildmaster_storage::ObjectKey::new(&file.path)
            .map_err(|e| PublishError::Refused(format!("index file {}: {e}", file.path)))?;
        let options = if std::str::from_utf8(&file.bytes).is_ok() {
            &text
        } else {
            &binary
        };
        storage.put_bytes(&key, &file.bytes, options).await?;
        crash_point(&format!("after-upload-{}", file.path.replace(['.', '/'], "-")));
    }
    Ok(())
}
