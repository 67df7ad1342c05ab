//! Haiku's package formats, implemented natively: `.hpkg` packages (read and write), the HPKR
//! repository index (read and write), the repository-info BMessage, `repo.info`, `repo.sha256`,
//! `package.list`, versions and resolvables. Facts: `../shared/docs/haiku-formats.md`; oracle:
//! `../shared/vectors/expected/`.
//!
//! # Layout
//! Reading (container, sections, model, listings) and writing (driver-settings text, heap and section
//! writers, repository tool) are split one concern per file; see each module's docs.
//! - [`attributes`]: attribute IDs, types, encodings, tag arithmetic, architectures, operators.
//! - [`version`]: `Version`, Haiku's natural version ordering and text form.
//! - [`resolvable`]: provides / requires expressions and Haiku's matching rule.
//! - [`package_info`]: the `PackageInfo` model of every package attribute; canonical file names.

pub mod attributes;
pub mod package_info;
pub mod resolvable;
pub mod version;
