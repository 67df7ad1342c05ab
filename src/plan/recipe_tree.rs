//! Which kind of recipe tree an instance builds (`[ports] kind`) and the settings a foreign tree
//! needs: a HaikuPorts ports tree (the default), a Debian tree of source packages, or an RPM
//! dist-git tree. HaikuPorts trees are planned by [`crate::plan::planner`] and published through
//! [`crate::publish`]; Debian and RPM trees are planned by [`super::foreign`] with their toolchains'
//! planners and their results pushed into the `[[repositories]]` entry named by `[ports] repository`.
//! Every kind runs through the same buildrun (executor, scheduler, builders).

use std::path::PathBuf;

use serde::Deserialize;

use crate::builders::config::ToolchainChoice;
use crate::formats::FormatKind;

/// `[ports] kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TreeKind {
    /// A HaikuPorts ports tree (`category/port/port-version.recipe`), built by HaikuPorter.
    #[default]
    Haikuports,
    /// One directory per Debian source package (each with `debian/`), built by `dpkg-buildpackage`.
    Debian,
    /// One dist-git directory per RPM package (`NAME/NAME.spec` and `sources`), built by `rpmbuild`.
    Rpm,
}

impl TreeKind {
    /// The word the config uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TreeKind::Haikuports => "haikuports",
            TreeKind::Debian => "debian",
            TreeKind::Rpm => "rpm",
        }
    }

    /// The `[[builders]] toolchain` value that builds this kind of tree.
    pub fn toolchain(self) -> &'static str {
        match self {
            TreeKind::Haikuports => "haikuporter",
            TreeKind::Debian => "dpkg",
            TreeKind::Rpm => "rpm",
        }
    }

    /// Whether a builder with `choice` can build this kind of tree.
    pub fn built_by(self, choice: &ToolchainChoice) -> bool {
        matches!(
            (self, choice),
            (TreeKind::Haikuports, ToolchainChoice::HaikuPorter)
                | (TreeKind::Debian, ToolchainChoice::Dpkg { .. })
                | (TreeKind::Rpm, ToolchainChoice::Rpm { .. })
        )
    }

    /// The repository format its results are published in.
    pub fn format(self) -> FormatKind {
        match self {
            TreeKind::Haikuports => FormatKind::Haiku,
            TreeKind::Debian => FormatKind::Debian,
            TreeKind::Rpm => FormatKind::Rpm,
        }
    }
}

/// `[ports.debian]`: what planning a Debian tree needs on the master.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianTreeSection {
    /// The build root tarball the builders unpack (the same file, a copy on the master): its
    /// `var/lib/dpkg/status` lists the base packages build dependencies may be satisfied by.
    /// Required for `kind = "debian"`.
    pub base_tarball: PathBuf,
    /// The builders' Debian architecture (`amd64`, `arm64`): which binaries a source builds and what
    /// their `.deb`s are called. Default `amd64`.
    #[serde(default = "default_debian_architecture")]
    pub architecture: String,
}

fn default_debian_architecture() -> String {
    "amd64".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::instance::InstanceConfig;

    #[test]
    fn the_kind_defaults_to_haikuports_and_an_unknown_one_is_named() {
        let config: InstanceConfig = toml::from_str("").unwrap();
        assert_eq!(config.ports.kind, TreeKind::Haikuports);
        let config: InstanceConfig = toml::from_str(
            "[ports]\nkind = \"debian\"\nrepository = \"debian/bookworm\"\n\
             [ports.debian]\nbase_tarball = \"/r.tar\"\n",
        )
        .unwrap();
        assert_eq!(config.ports.kind, TreeKind::Debian);
        assert_eq!(config.ports.debian.unwrap().architecture, "amd64");
        let err = toml::from_str::<InstanceConfig>("[ports]\nkind = \"arch\"\n").unwrap_err();
        assert!(
            err.to_string().contains("kind") && err.to_string().contains("debian"),
            "{err}"
        );
    }
}
