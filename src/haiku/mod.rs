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
//! - [`driver_settings`]: Haiku's driver-settings text syntax (`repo.info`).
//! - [`bmessage`]: the flattened `BMessage` (repository-info section), encoder and decoder.
//! - [`repo_info`]: `RepositoryInfo` from `repo.info` and to/from the repository-info BMessage.
//! - [`section_writer`]: LEB128, string-table and attribute-tree writing for one section.
//! - [`package_attributes_writer`]: `PackageInfo` → attribute tree in Haiku's canonical order.
//! - [`heap_writer`]: the chunked, compressed heap (zlib/zstd, batches compressed in parallel), streamed.
//! - [`package_info_lexer`], [`package_info_file`]: `.PackageInfo` files → `PackageInfo`.
//! - [`format_error`]: `FormatError`: what is malformed, in which file, at which byte offset.
//! - [`leb128`]: unsigned LEB128 numbers.
//! - [`header`]: the HPKG and HPKR headers, their checks and Haiku's section size limits.
//! - [`heap`]: random access to the chunked, compressed heap (none, zlib, zstd).
//! - [`section`]: a section's string table and attribute-entry cursor.
//! - [`package_attributes_reader`]: package attributes in file order, folded into `PackageInfo`.
//! - [`toc`]: the HPKG table of contents: entries, attributes, data references.
//! - [`hpkg_reader`]: `read_package`, `PackageFile` (file data, licence files), `PackageReader`
//!   (the same from an open file, with positional reads).
//! - [`hpkr_reader`]: `read_repository`, the raw repository-info section.
//! - [`listing`]: `package list` / `package_repo list` output, byte-identical to Haiku's tools.
//! - [`parallel`]: mapping a function over items on all cores, results in order.
//! - [`toc_writer`]: an HPKG table of contents from a directory tree.
//! - [`hpkg_writer`]: `.hpkg` packages (`package create`), streamed to the output file.
//! - [`system_licenses`]: Haiku's system licence names, which packages need not ship.
//! - [`hpkr_writer`]: HPKR repository files from `RepositoryInfo` and packages.
//! - [`output_file`]: atomic replacement of output files.
//! - [`package_scan`]: hashing (streaming) and decoding packages for a repository, in parallel.
//! - [`repo_checks`]: `package_repo`'s per-package checks, in Haiku's order.
//! - [`repo_tool`]: `package_repo create|update`, `repo.sha256`, `package.list`.

pub mod attributes;
pub mod bmessage;
pub mod driver_settings;
pub mod format_error;
pub mod header;
pub mod heap;
pub mod heap_writer;
pub mod hpkg_reader;
pub mod hpkg_writer;
pub mod hpkr_reader;
pub mod hpkr_writer;
pub mod leb128;
pub mod listing;
pub mod output_file;
pub mod package_attributes_reader;
pub mod package_attributes_writer;
pub mod package_info;
pub mod package_info_file;
pub mod package_info_lexer;
pub mod package_scan;
pub mod parallel;
pub mod repo_checks;
pub mod repo_info;
pub mod repo_tool;
pub mod resolvable;
pub mod section;
pub mod section_writer;
pub mod system_licenses;
pub mod toc;
pub mod toc_writer;
pub mod version;
