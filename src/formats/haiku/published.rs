//! The packages a published HPKR `repo` names, read back: what `buildmaster recover` rebuilds records
//! from (each package's attributes and checksum, and the licence texts the repository embeds for an
//! APPROVE_LICENSE package) and what `buildmaster prune` keeps.

use std::collections::HashMap;

use super::entry::HaikuEntry;
use crate::formats::{FormatError, InspectedPackage};
use crate::haiku::hpkr_reader::read_repository_bytes;

/// Every package `repo` (the HPKR bytes) names, in index order, `size` 0 (the index does not record
/// it). A `repo` that cannot be decoded is [`FormatError::Entry`], naming it.
pub fn packages(repo: &[u8]) -> Result<Vec<InspectedPackage>, FormatError> {
    let repository = read_repository_bytes(repo).map_err(|e| FormatError::Entry {
        package: "the published 'repo'".into(),
        reason: e.to_string(),
    })?;
    let licenses: HashMap<String, &str> = repository
        .info
        .licenses
        .iter()
        .map(|l| (l.name.to_ascii_lowercase(), l.text.as_str()))
        .collect();
    repository
        .packages
        .into_iter()
        .map(|info| {
            let approved = if info.approve_license() {
                info.licenses
                    .iter()
                    .filter_map(|name| {
                        licenses
                            .get(&name.to_ascii_lowercase())
                            .map(|text| (name.clone(), text.to_string()))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            HaikuEntry {
                info,
                licenses: approved,
            }
            .inspected(0)
        })
        .collect()
}
