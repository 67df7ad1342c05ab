//! Debian builds: a recipe tree of source packages (a directory per source, each with `debian/`),
//! planned against the tree, the build root's packages and the served repositories, and built by
//! real `dpkg-buildpackage` in a per-build root unpacked from an `mmdebstrap --variant=buildd`
//! tarball, without network. Conventions and what a builder needs: docs/toolchains.md.
//!
//! # Layout
//! - [`changelog`]: name and version from `debian/changelog`'s first line.
//! - [`control`]: `debian/control` — build dependencies (parsed by [`crate::formats::debian::relation`])
//!   and binary packages with their architectures.
//! - [`tree`]: a tree read into [`tree::SourcePackage`]s; the `.deb` names a build must produce.
//! - [`plan`]: build dependencies resolved, build order, the scheduler's graph.
//! - [`procedure`]: the build and purge argument vectors on a builder (`build.sh`, a constant
//!   script given its inputs as parameters).
//! - [`toolchain`]: [`toolchain::DpkgBuildpackage`], the [`crate::toolchains::Toolchain`] for Debian.

pub mod changelog;
pub mod control;
pub mod plan;
pub mod procedure;
pub mod toolchain;
pub mod tree;

#[cfg(test)]
mod plan_tests;
