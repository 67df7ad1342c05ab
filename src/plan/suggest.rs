//! "Did you mean …?" for a requested port the tree does not have: the closest active port name (by
//! Jaro–Winkler similarity, as clap suggests subcommands), or, when the name exists and only the
//! version is wrong, that port at its active version.

use crate::ports::tree::PortsTree;

/// How similar a name must be to be suggested (clap uses 0.7 for subcommands; port names are
/// many and short, so a little stricter).
const MIN_SIMILARITY: f64 = 0.8;

/// A suggestion for `requested` (`name` or `name-version`), if the tree has a plausible one.
pub fn did_you_mean(tree: &PortsTree, requested: &str) -> Option<String> {
    let name = match requested.rsplit_once('-') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => name,
        _ => requested,
    };
    if let Some(port) = tree.active(name) {
        return Some(format!("{}-{}", port.name, port.version));
    }
    tree.active_names()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(similarity, _)| *similarity >= MIN_SIMILARITY)
        // Highest similarity; ties broken by name so the answer does not depend on hash order.
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, candidate)| candidate.to_string())
}
