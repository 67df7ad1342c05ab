//! What every build needs on the builder besides its recipe's own requirements — HaikuPorter adds
//! these itself, so the master must ship them like any BUILD_PREREQUIRES entry.
//!
//! - **Scriptlet prerequirements.** HaikuPorter runs its own shell scriptlets around every build
//!   (setting up the build environment, stripping, `xres`, packaging): `ShellScriptlets.py`'s
//!   `scriptletPrerequirements`. Its resolver adds them to every build's prerequirements
//!   (`Port.buildRequiresTypes` includes `SCRIPTLET_PREREQUIRES`, on the master and on the builder), so
//!   a builder whose PACKAGES_PATH lacks a provider of one of them refuses the build:
//!   `scriptlet-prerequires "cmd:find" of package "…" could not be resolved`. A native build uses no
//!   machine-prefixed variant (HaikuPorter only prefixes them for cross-build repositories).
//! - **The build platform's `haiku` package.** Run with `--no-system-packages`, as the master runs it,
//!   HaikuPorter on a Haiku builder (`BuildPlatformHaiku.init`) looks for `haiku.hpkg` or
//!   `haiku-*.hpkg` in PACKAGES_PATH to learn the architecture and exits with `Failed to find Haiku
//!   system package` without one. `cmd:xres` usually brings it in (the `haiku` system package provides
//!   it), but nothing guarantees that, so it is required here by name.

use std::sync::LazyLock;

use crate::haiku::resolvable::ResolvableExpression;

/// HaikuPorter 1.4.0's scriptlet prerequirements (`ShellScriptlets.scriptletPrerequirements`, with no
/// target-machine prefix), in its order.
pub const SCRIPTLET_PREREQUIRES: [&str; 9] = [
    "coreutils",
    "cmd:bash",
    "cmd:find",
    "cmd:grep",
    "cmd:objcopy",
    "cmd:readelf",
    "cmd:sed",
    "cmd:strip",
    "cmd:xres",
];

/// The package HaikuPorter's build platform needs in PACKAGES_PATH (`BuildPlatformHaiku.init`).
pub const PLATFORM_PACKAGE: &str = "haiku";

/// The scriptlet prerequirements, then the platform package: what every build of a HaikuPorts tree
/// needs on its builder.
pub static HAIKUPORTER_BUILDER_PREREQUIRES: LazyLock<Vec<ResolvableExpression>> = LazyLock::new(|| {
    SCRIPTLET_PREREQUIRES
        .iter()
        .chain(std::iter::once(&PLATFORM_PACKAGE))
        .map(|name| ResolvableExpression {
            name: (*name).to_owned(),
            operator: None,
            version: None,
            base: false,
        })
        .collect()
});
