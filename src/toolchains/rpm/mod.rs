//! RPM builds: a recipe tree laid out like Fedora's dist-git (a directory per package with
//! `NAME.spec`, a `sources` file, local source files), read by the real `rpmspec` on the master,
//! planned against the tree and the served repositories, and built on a Linux builder by the real
//! `rpmbuild` — the SRPM as `rpmbuild -bs` makes it, then `rpmbuild --rebuild` without network,
//! with the job's dependency RPMs installed into a throwaway rpmdb root. Conventions and what a
//! builder needs: docs/toolchains.md.
//!
//! # Layout
//! - [`spec`]: what `rpmspec -q` says about a spec (EVR, BuildRequires, binary packages).
//! - [`sources_file`]: Fedora's `sources` file (`SHA512 (FILE) = HEX`).
//! - [`tree`]: a tree read into [`tree::RpmSource`]s.
//! - [`plan`]: BuildRequires resolved, build order, the scheduler's graph.
//! - [`procedure`]: the build and purge argument vectors on a builder (`build.sh`, a constant
//!   script given its inputs as parameters).
//! - [`toolchain`]: [`toolchain::Rpmbuild`], the [`crate::toolchains::Toolchain`] for RPM.

pub mod plan;
pub mod procedure;
pub mod sources_file;
pub mod spec;
pub mod toolchain;
pub mod tree;
