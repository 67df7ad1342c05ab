//! What is Debian's and what is RPM's in planning a foreign tree ([`super::foreign`]): reading the
//! tree with the toolchain's reader, the served packages as the toolchain's planner takes them, the
//! base (Debian's build root), and the split into sources already in the repository and sources to
//! build. Each `served` package keeps its index: the planners' `Satisfier::Repository(i)` is
//! `served[i]`.

use std::path::Path;
use std::process::Command;

use super::foreign::{relative_dir, ForeignPlanError, TreeSource};
use crate::config::instance::InstanceConfig;
use crate::formats::debian::version::Version;
use crate::formats::rpm::entry::{Dep, DepFlag, RpmEntry};
use crate::repos::records::PoolPackage;
use crate::toolchains::debian::plan::{installed_from_dpkg_status, AvailableBinary, TreePlan};
use crate::toolchains::{debian, rpm};

/// A tree split and planned: `plan` orders `unbuilt` (its source indices are into `unbuilt`).
#[derive(Debug)]
pub struct FormatPlan {
    /// Sources with a result the repository does not link yet.
    pub unbuilt: Vec<TreeSource>,
    /// Sources whose every result the repository links already.
    pub built: Vec<TreeSource>,
    /// The order and satisfiers of `unbuilt`.
    pub plan: TreePlan,
}

/// Where the build root's dpkg status file is inside its tarball (`mmdebstrap --format=tar`).
const DPKG_STATUS_IN_TARBALL: &str = "./var/lib/dpkg/status";

/// Plans a Debian tree at `root`: sources resolved against each other, the build root's packages
/// (`[ports.debian] base_tarball`) and `served`, for `[ports.debian] architecture`.
pub fn plan_debian(
    config: &InstanceConfig,
    root: &Path,
    served: &[PoolPackage],
    is_built: &dyn Fn(&[String]) -> bool,
) -> Result<FormatPlan, ForeignPlanError> {
    let Some(settings) = &config.ports.debian else {
        return Err(ForeignPlanError::Setting {
            key: "debian.base_tarball",
            what: "kind = \"debian\" needs [ports.debian] base_tarball, the build root tarball the \
                   builders use (its packages satisfy build dependencies)"
                .into(),
        });
    };
    let tree_error = |message: String| ForeignPlanError::Tree {
        kind: "debian",
        root: root.to_owned(),
        message,
    };
    let sources = debian::tree::read_tree(root).map_err(|e| tree_error(e.to_string()))?;
    let arch = &settings.architecture;
    let (unbuilt, built): (Vec<_>, Vec<_>) = sources
        .into_iter()
        .partition(|s| !is_built(&s.expected_debs(arch)));
    let base = base_packages(&settings.base_tarball)?;
    let repositories = served
        .iter()
        .map(|p| {
            Version::parse(&p.package.version)
                .map(|version| AvailableBinary {
                    name: p.package.name.clone(),
                    version,
                })
                .map_err(|e| served_error(p, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let plan = debian::plan::plan_tree(&unbuilt, arch, &base, &repositories).map_err(|e| {
        ForeignPlanError::Resolve {
            kind: "debian",
            message: e.to_string(),
        }
    })?;
    let describe = |s: &debian::tree::SourcePackage| TreeSource {
        name: s.name.clone(),
        version: s.version.to_string(),
        dir: relative_dir(root, &s.dir),
        recipe: Path::new(&relative_dir(root, &s.dir)).join("debian/control"),
        results: s.expected_debs(arch),
    };
    Ok(FormatPlan {
        unbuilt: unbuilt.iter().map(describe).collect(),
        built: built.iter().map(describe).collect(),
        plan,
    })
}

/// Plans an RPM tree at `root` (read by the master's `rpmspec`) against `served`.
pub fn plan_rpm(
    root: &Path,
    served: &[PoolPackage],
    is_built: &dyn Fn(&[String]) -> bool,
) -> Result<FormatPlan, ForeignPlanError> {
    let sources = rpm::tree::read_tree(root).map_err(|e| ForeignPlanError::Tree {
        kind: "rpm",
        root: root.to_owned(),
        message: e.to_string(),
    })?;
    let (unbuilt, built): (Vec<_>, Vec<_>) = sources
        .into_iter()
        .partition(|s| !is_built(&s.spec.expected_rpms()));
    let repositories = served
        .iter()
        .map(|p| {
            RpmEntry::from_stored(&p.package.file_name, &p.package.entry)
                .map(|entry| rpm::plan::AvailableRpm {
                    file_name: p.package.file_name.clone(),
                    provides: with_own_name(&entry),
                })
                .map_err(|e| served_error(p, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let plan = rpm::plan::plan_tree(&unbuilt, &repositories).map_err(|e| ForeignPlanError::Resolve {
        kind: "rpm",
        message: e.to_string(),
    })?;
    let describe = |s: &rpm::tree::RpmSource| {
        let dir = relative_dir(root, &s.dir);
        TreeSource {
            name: s.spec.name.clone(),
            version: format!("{}-{}", s.spec.version, s.spec.release),
            recipe: Path::new(&dir).join(format!("{}.spec", s.spec.name)),
            dir,
            results: s.spec.expected_rpms(),
        }
    };
    Ok(FormatPlan {
        unbuilt: unbuilt.iter().map(describe).collect(),
        built: built.iter().map(describe).collect(),
        plan,
    })
}

/// A package's Provides with its own `name = EVR` (rpm adds it at build time; an entry lists it,
/// but one written by an older packager might not).
fn with_own_name(entry: &RpmEntry) -> Vec<Dep> {
    let mut provides = entry.provides.clone();
    if !provides.iter().any(|p| p.name == entry.name) {
        provides.push(Dep {
            name: entry.name.clone(),
            flags: Some(DepFlag::EQ),
            epoch: Some(entry.epoch),
            ver: entry.version.clone(),
            rel: Some(entry.release.clone()),
            pre: false,
        });
    }
    provides
}

fn served_error(package: &PoolPackage, error: impl std::fmt::Display) -> ForeignPlanError {
    ForeignPlanError::Resolve {
        kind: package.format.as_str(),
        message: format!(
            "the served package {} has a version or entry that cannot be read: {error}",
            package.package.file_name
        ),
    }
}

/// The packages installed in the build root, read from its tarball's dpkg status file (`tar`
/// reads the archive once; the file is near its start in mmdebstrap's archives but tar cannot know).
fn base_packages(tarball: &Path) -> Result<Vec<AvailableBinary>, ForeignPlanError> {
    let setting = |what: String| ForeignPlanError::Setting {
        key: "debian.base_tarball",
        what,
    };
    let out = Command::new("tar")
        .args(["-x", "-O", "-f"])
        .arg(tarball)
        .arg(DPKG_STATUS_IN_TARBALL)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| setting(format!("running tar on {}: {e}", tarball.display())))?;
    if !out.status.success() {
        return Err(setting(format!(
            "{} holds no {DPKG_STATUS_IN_TARBALL} (is it an mmdebstrap --format=tar root?): {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    installed_from_dpkg_status(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| setting(format!("{}: {DPKG_STATUS_IN_TARBALL}: {e}", tarball.display())))
}
