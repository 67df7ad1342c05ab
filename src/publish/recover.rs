//! `buildmaster recover`: rebuild the database from a published index — the bucket's `repo` when the
//! state directory was lost, or an existing HaikuPorter instance's `repository/repo` when taking one
//! over — so that stubs have metadata again and nothing already in storage is uploaded again.
//!
//! Sizes come from one paged listing of `packages/` (the index does not record them); each package's
//! digest, identity and entry are read back from the index by the repository's format (Haiku: the
//! `checksum` attribute, approved licence texts from the embedded repository info). A zero-byte stub is created in `packages/` for every
//! recovered package that has no local file, as HaikuPorter's layout expects. From the bucket,
//! `repo.info` is restored too ([`super::recover_info`]), so the next publish needs nothing re-created.

use std::collections::HashMap;

use buildmaster_storage::{ErrorKind, ObjectKey};
use futures::TryStreamExt;

use super::recover_info::{self, RepoInfoPlan, RepoInfoRecovery};
use super::repository::ImplicitRepository;
use super::{keys, now, PublishError, Publisher};
use crate::state::{PackageState, Record};

/// Where to read the index from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecoverSource {
    /// The bucket's published `repo` (state directory lost).
    Bucket,
    /// `<state>/repository/repo` (taking over a HaikuPorter instance).
    Local,
}

/// What recover did.
#[derive(Debug)]
pub struct RecoverReport {
    /// What happened to `<state>/repository/repo.info`.
    pub repo_info: RepoInfoRecovery,
    /// Packages recorded.
    pub recovered: usize,
    /// Packages the index names that storage does not hold (their local real files, if any, will be
    /// uploaded by the next publish).
    pub missing_in_storage: Vec<String>,
    /// Names in `package.list` that the index does not contain, or the reverse.
    pub package_list_mismatches: Vec<String>,
    /// Stubs created.
    pub stubs_created: usize,
}

/// Rebuilds the database from a published index. Refuses when the database already has records, or
/// (from the bucket) when the local `repo.info` differs from the published one; either refusal comes
/// before anything is changed.
pub async fn recover(p: &mut Publisher, source: RecoverSource) -> Result<RecoverReport, PublishError> {
    if p.db.package_count()? > 0 {
        return Err(PublishError::Refused(format!(
            "the state database {} already has {} package records; recover only fills an empty database",
            p.state.database().display(),
            p.db.package_count()?
        )));
    }
    let repo_info = match source {
        RecoverSource::Bucket => recover_info::plan(p).await?,
        RecoverSource::Local => RepoInfoPlan::local(),
    };
    p.state
        .create()
        .map_err(|e| PublishError::io(p.state.root(), e))?;
    let (repo_bytes, package_list) = match source {
        RecoverSource::Bucket => (
            p.storage
                .get_bytes(&keys::top(keys::REPO), super::prune::MAX_REPO_BYTES)
                .await
                .map_err(|e| match e.kind {
                    ErrorKind::NotFound => PublishError::Refused(format!(
                        "{} holds no published index ('{}'); nothing to recover from",
                        p.storage.describe(),
                        keys::REPO
                    )),
                    _ => e.into(),
                })?,
            optional_bytes(p, keys::PACKAGE_LIST).await?,
        ),
        RecoverSource::Local => {
            let dir = p.state.repository();
            let repo =
                std::fs::read(dir.join(keys::REPO)).map_err(|e| PublishError::io(dir.join(keys::REPO), e))?;
            (repo, std::fs::read(dir.join(keys::PACKAGE_LIST)).ok())
        }
    };
    let indexed = ImplicitRepository::of(&p.state)
        .format
        .indexed_packages(&repo_bytes)
        .map_err(|e| {
            PublishError::Refused(format!(
                "the index cannot be decoded ({e}); cannot recover from it"
            ))
        })?;

    let prefix = ObjectKey::prefix(keys::PACKAGES).expect("valid prefix");
    let sizes: HashMap<String, u64> = p
        .storage
        .list(&prefix)
        .try_filter_map(
            |m| async move { Ok(keys::package_file_name(&m.key).map(|n| (n.to_owned(), m.size))) },
        )
        .try_collect()
        .await?;

    let mut report = RecoverReport {
        repo_info: RepoInfoRecovery::Local,
        recovered: 0,
        missing_in_storage: Vec::new(),
        package_list_mismatches: Vec::new(),
        stubs_created: 0,
    };
    let mut records = Vec::new();
    for mut package in indexed {
        let file_name = package.file_name.clone();
        let local = p.state.packages().join(&file_name);
        let local_size = std::fs::metadata(&local).map(|m| m.len()).ok();
        let (size, state) = match (sizes.get(&file_name), local_size) {
            (Some(size), _) => (*size, PackageState::Stubbed),
            (None, Some(size)) if size > 0 => {
                report.missing_in_storage.push(file_name.clone());
                (size, PackageState::Spooled)
            }
            (None, _) => {
                report.missing_in_storage.push(file_name.clone());
                continue;
            }
        };
        if local_size.is_none() {
            std::fs::File::create(&local).map_err(|e| PublishError::io(&local, e))?;
            report.stubs_created += 1;
        }
        package.size = size;
        records.push(Record {
            package,
            state,
            added_at: now(),
            last_indexed_at: Some(now()),
        });
    }
    if let Some(list) = package_list {
        let listed: std::collections::HashSet<String> = String::from_utf8_lossy(&list)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let indexed: std::collections::HashSet<String> =
            records.iter().map(|r| r.package.file_name.clone()).collect();
        report.package_list_mismatches = listed.symmetric_difference(&indexed).cloned().collect();
        report.package_list_mismatches.sort();
    }
    // Before the records: once they exist, recover refuses to run again, so a crash in between must not
    // leave the state directory without its `repo.info`.
    report.repo_info = repo_info.apply()?;
    p.db.upsert(&records)?;
    report.recovered = records.len();
    Ok(report)
}

async fn optional_bytes(p: &Publisher, name: &str) -> Result<Option<Vec<u8>>, PublishError> {
    match p.storage.get_bytes(&keys::top(name), 256 << 20).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
