//! Each port's active version: HaikuPorter's `Repository.getActiveVersionOf` — the highest version
//! (by Haiku's version order) whose status on the target architecture is buildable (stable, or
//! untested when untested ports are allowed). A port with no buildable version has no active version.
//! Secondary-architecture ports (`name_x86`) are separate ports with their own active version.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::haiku::version::{natural_compare, Version};
use crate::ports::model::{ArchStatus, Port};

/// The name a port is looked up by: `name`, or `name_<secondary arch>`.
pub fn lookup_name(port: &Port) -> String {
    match &port.secondary_arch {
        Some(arch) => format!("{}_{arch}", port.name),
        None => port.name.clone(),
    }
}

/// Whether a port with `status` is built (HaikuPorter's `isBuildableOnTargetArchitecture`).
pub fn is_buildable(status: ArchStatus, allow_untested: bool) -> bool {
    status == ArchStatus::Stable || (status == ArchStatus::Untested && allow_untested)
}

/// Orders two `portVersion`s as HaikuPorter's `versionCompare` does (Haiku's version order; text
/// that is no version compares naturally).
pub fn compare_port_versions(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Some(a), Some(b)) => a.compare(&b),
        _ => natural_compare(a, b),
    }
}

/// Lookup name → index into `ports` of the active version.
pub fn choose_active(ports: &[Port], allow_untested: bool) -> HashMap<String, usize> {
    let mut best: HashMap<String, usize> = HashMap::new();
    for (index, port) in ports.iter().enumerate() {
        if !is_buildable(port.status, allow_untested) {
            continue;
        }
        let name = lookup_name(port);
        match best.get(&name) {
            Some(&current)
                if compare_port_versions(&ports[current].version, &port.version) != Ordering::Less => {}
            _ => {
                best.insert(name, index);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_like_haiku() {
        assert_eq!(compare_port_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_port_versions("2.0~beta1", "2.0"), Ordering::Less);
        assert_eq!(compare_port_versions("20230101", "20221231"), Ordering::Greater);
    }
}
