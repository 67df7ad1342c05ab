//! The source cache: a lookaside cache of recipe sources in the instance's storage, addressed by
//! content (`sources/sha256/<hex>`), so that builders never download anything themselves.
//!
//! The master fetches each source of a port's active recipe once — from its `SOURCE_URI` (HTTP(S),
//! a git repository at a pinned commit, or a file in the port's directory), verified against the
//! recipe's `CHECKSUM_SHA256` while it streams — and stores it; likewise the lookaside archives of
//! an RPM tree (by the `sources` file's SHA-512) and the `.orig` tarballs of a Debian tree (by the
//! SHA-256 the tree pins); operators can upload one by hand
//! instead. A source whose bytes do not match is refused with both digests and never stored. A
//! source with no `CHECKSUM_SHA256` (a git source pinned at a commit) is pinned to the digest of
//! what was made the first time: later fetches of the same URI must give the same bytes.
//!
//! # Layout
//! - [`recipe`]: a recipe's sources ([`RecipeSource`]) as HaikuPorter's `Source` reads them, and the
//!   kinds of `SOURCE_URI` ([`Origin`]).
//! - [`key`]: the content key of a source in storage.
//! - [`index`]: the `source_files` table of the state database — which recipe source has which digest.
//! - [`spool`]: a local temporary file that hashes and bounds what is written to it.
//! - [`http`]: downloading an HTTP(S) source (redirects, timeouts, a size bound).
//! - [`git`]: a git source at a pinned commit, archived as HaikuPorter archives it.
//! - [`lookaside`]: an RPM dist-git directory's `sources` file as sources, fetched from a lookaside
//!   cache and verified by their SHA-512.
//! - [`debian_orig`]: a Debian source package's upstream tarballs, pinned in the tree
//!   (`debian/source/orig-checksums`, a `.dsc`'s `Checksums-Sha256`) and fetched from an archive's pool.
//! - [`trees`]: the sources of every (or the named) package of a Debian or RPM tree.
//! - [`cache`]: [`SourceCache`] — fetch, add, check, list.
//! - [`error`]: [`SourceError`], naming the port, the source, the URI and what to do.

pub mod cache;
pub mod debian_orig;
pub mod error;
pub mod git;
pub mod http;
pub mod index;
pub mod key;
pub mod lookaside;
pub mod recipe;
pub mod spool;
pub mod trees;

pub use cache::{FetchSettings, Fetched, SourceCache, SourceStatus};
pub use error::SourceError;
pub use index::{SourceIndex, SourceRow};
pub use recipe::{Origin, RecipeSource};
