//! Installability of a Debian or RPM tree's scratch packages: each checked on its own, with its
//! format's resolver, against the tree's `[ports] repository` as it would be if they were promoted —
//! what it links now, its policy's base repositories, and the other packages of the same scratch
//! build — exactly as a push's pipeline is ([`crate::gate::installability::evaluate`], with the
//! scratch build as the one open pipeline). The records read are the scratch build's snapshot of the
//! instance's (`<scratch>/state/buildmaster.sqlite`): nothing of the instance is written.

use std::collections::BTreeSet;
use std::path::Path;

use super::gate_check::{Installability, Unmet};
use super::ScratchError;
use crate::gate::installability::{evaluate, OpenPipeline};
use crate::gate::store::StagedPackage;
use crate::repos::config::Repository;
use crate::repos::records::Records;
use crate::repos::Formats;

fn failed(e: impl std::fmt::Display) -> ScratchError {
    ScratchError::Check(format!("installability in the tree's repository: {e}"))
}

/// Checks `packages` (staged for their target, the tree's repository) against that repository and
/// its bases in the records of `database`, `repositories` being the instance's.
pub fn in_repository(
    database: &Path,
    repositories: &[Repository],
    packages: &[StagedPackage],
) -> Result<Installability, ScratchError> {
    let records = Records::open(database).map_err(failed)?;
    let open = [OpenPipeline {
        id: 0,
        packages,
        eligible: true,
        waived: BTreeSet::new(),
    }];
    let evaluation = evaluate(&records, &Formats::available(), repositories, &open).map_err(failed)?;
    let targets: BTreeSet<&str> = packages
        .iter()
        .flat_map(|p| p.targets.iter().map(String::as_str))
        .collect();
    let mut against = 0;
    for id in targets {
        let bases = repositories
            .iter()
            .find(|r| r.id() == id)
            .map(|r| r.policy.base.clone())
            .unwrap_or_default();
        for counted in std::iter::once(id.to_owned()).chain(bases) {
            against += records.count_linked(&counted).map_err(failed)? as usize;
        }
    }
    let unresolved = evaluation
        .unresolved
        .into_iter()
        .flat_map(|((_, file_name), problems)| {
            problems.into_iter().map(move |(_, u)| Unmet {
                package: file_name.clone(),
                requires: u.dependency,
            })
        })
        .collect();
    Ok(Installability {
        packages: packages.len(),
        against,
        unresolved,
    })
}
