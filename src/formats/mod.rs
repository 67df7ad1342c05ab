//! Repository formats: the seam between format-neutral publishing (records, the shared pool, links
//! into many repositories, index upload order, prune) and what one kind of package repository is.
//!
//! A format inspects a package file in one streaming pass ([`RepositoryFormat::inspect`]: identity,
//! size, SHA-256 and the entry its index needs, kept with the package's record so that a publish never
//! reads a package again), renders a repository's index files from those entries
//! ([`RepositoryFormat::render`]: an ordered set, root of trust last) and checks that a repository's
//! packages are installable ([`RepositoryFormat::check`]). Everything else — where objects live, which
//! repositories a package is linked into, when an index goes live, what prune may delete — is the same
//! for every format and lives outside this module.
//!
//! - [`chunks`]: compressed indexes made of stable, cached chunks (a publish compresses what changed).
//! - [`debian`]: `.deb` packages, `Packages`/`Release`/`InRelease`, by-hash (apt).
//! - [`haiku`]: `.hpkg` packages, the HPKR `repo`, `repo.info`, `repo.sha256` (pkgman).
//! - [`parallel`]: per-package rendering work spread over the cores.
//! - [`rpm`]: `.rpm` packages, `repodata/` (dnf).
//! - [`signing`]: OpenPGP signing of index roots (Debian's `InRelease`, RPM's `repomd.xml.asc`).

pub mod chunks;
pub mod debian;
pub mod haiku;
pub mod parallel;
pub mod rpm;
pub mod signing;

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Every format implementation, for the publisher's registry. `cache_dir` (in the instance's state)
/// keeps the compressed index chunks of earlier publishes ([`chunks`]); `None` compresses every
/// index whole each time (callers that never publish, tests).
pub fn all(cache_dir: Option<&Path>) -> Vec<std::sync::Arc<dyn RepositoryFormat>> {
    let cached = |name: &str| cache_dir.map(|dir| dir.join(name));
    vec![
        std::sync::Arc::new(
            cached("debian").map_or_else(debian::DebianFormat::default, debian::DebianFormat::with_cache),
        ),
        std::sync::Arc::new(haiku::HaikuFormat),
        std::sync::Arc::new(cached("rpm").map_or_else(rpm::RpmFormat::default, rpm::RpmFormat::with_cache)),
    ]
}

/// The implementation of `kind` (from [`all`]).
pub fn for_kind(kind: FormatKind, cache_dir: Option<&Path>) -> std::sync::Arc<dyn RepositoryFormat> {
    all(cache_dir)
        .into_iter()
        .find(|format| format.kind() == kind)
        .expect("every kind has an implementation")
}

/// Which format a repository has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatKind {
    /// Debian `.deb` packages (`apt`).
    Debian,
    /// RPM packages (`dnf`).
    Rpm,
    /// Haiku `.hpkg` packages (`pkgman`).
    Haiku,
}

impl FormatKind {
    /// The lowercase name used in config files, keys and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debian => "debian",
            Self::Rpm => "rpm",
            Self::Haiku => "haiku",
        }
    }

    /// The name people know the format by, in messages (`Debian`, `RPM`, `Haiku`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Debian => "Debian",
            Self::Rpm => "RPM",
            Self::Haiku => "Haiku",
        }
    }

    /// How the file names of this format's packages end (`.deb`, `.rpm`, `.hpkg`): what a spool
    /// listing or a bucket listing takes for a package file.
    pub const fn package_suffix(self) -> &'static str {
        match self {
            Self::Debian => ".deb",
            Self::Rpm => ".rpm",
            Self::Haiku => ".hpkg",
        }
    }

    /// Every format.
    pub const ALL: [Self; 3] = [Self::Debian, Self::Rpm, Self::Haiku];

    /// The format whose package files end like `file_name` ([`FormatKind::package_suffix`]).
    pub fn of_file_name(file_name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| file_name.ends_with(kind.package_suffix()))
    }

    /// The kind named `name` (as [`FormatKind::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// What one streaming pass over a package file found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectedPackage {
    /// Package name, as the format's index names it.
    pub name: String,
    /// Version in the format's own spelling (Debian `[epoch:]upstream[-revision]`, RPM
    /// `[epoch:]version-release`).
    pub version: String,
    /// Architecture as the package states it (`amd64`, `all`, `x86_64`, `noarch`).
    pub architecture: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// The canonical file name the pool stores it under (`hello_2.10-3_amd64.deb`,
    /// `hello-2.10-3.el9.x86_64.rpm`).
    pub file_name: String,
    /// The format's index entry for this package, opaque to everything but the format (a Debian
    /// control stanza without `Filename`, RPM's primary/filelists/other fragments, …). Stored with the
    /// record; [`RepositoryFormat::render`] and [`RepositoryFormat::check`] read it back.
    pub entry: String,
}

/// One package as a repository's index names it: its inspection, and where clients fetch it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedPackage {
    /// What inspection found (the entry included).
    pub package: InspectedPackage,
    /// The package's location relative to the repository's client root ([`RepositoryTarget`]): Debian's
    /// `Filename`, RPM's `location href`. The publisher computes it from the shared pool's key.
    pub href: String,
}

/// The repository an index is rendered for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryTarget {
    /// The repository's id in the config (`debian-bookworm`, `el9-x86_64`).
    pub id: String,
    /// Format settings.
    pub settings: FormatSettings,
}

/// Per-format repository settings (`[[repositories]]` in buildmaster.toml).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase", deny_unknown_fields)]
pub enum FormatSettings {
    /// A Debian distribution (suite) inside an apt repository root shared with the other suites.
    Debian(DebianSettings),
    /// One RPM repository (one distro/release/arch).
    Rpm(RpmSettings),
    /// One Haiku repository (one architecture), described by its `repo.info`.
    Haiku(HaikuSettings),
}

impl FormatSettings {
    /// The format these settings are for.
    pub fn kind(&self) -> FormatKind {
        match self {
            Self::Debian(_) => FormatKind::Debian,
            Self::Rpm(_) => FormatKind::Rpm,
            Self::Haiku(_) => FormatKind::Haiku,
        }
    }
}

/// A Debian distribution: `dists/<codename>/` under the apt root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianSettings {
    /// `Codename` and the directory under `dists/` (`bookworm`).
    pub codename: String,
    /// `Suite` (`stable`); default: the codename.
    #[serde(default)]
    pub suite: Option<String>,
    /// Components (`main`); default `["main"]`.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Architectures (`amd64`, `arm64`; `all` is added to `Release` by the format).
    pub architectures: Vec<String>,
    /// `Origin` and `Label`; default: none.
    #[serde(default)]
    pub origin: Option<String>,
    /// Which files each `Packages` index is published as (`Release` always names the uncompressed
    /// one); default `["gz"]`. Why, and what `xz` costs: docs/formats-debian.md.
    #[serde(default = "default_compressions")]
    pub compressions: Vec<DebianCompression>,
}

fn default_components() -> Vec<String> {
    vec!["main".into()]
}

fn default_compressions() -> Vec<DebianCompression> {
    vec![DebianCompression::Gz]
}

/// One form of a Debian `Packages` index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DebianCompression {
    /// `Packages.gz`, one gzip member per stable chunk: a publish compresses only what changed.
    Gz,
    /// `Packages.xz`, the whole index compressed again on every publish (apt reads one xz stream).
    Xz,
    /// `Packages`, uncompressed (apt fetches it only when no compressed form is listed).
    None,
}

/// An RPM repository: one distribution, release and architecture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpmSettings {
    /// `el`, `fedora`, `opensuse`.
    pub distro: String,
    /// `9`, `40`.
    pub release: String,
    /// `x86_64`, `aarch64` (`noarch` packages are linked into every architecture).
    pub arch: String,
}

/// A Haiku repository: `repo`, `repo.info`, `repo.sha256`, `package.list` and `packages/` under its
/// root, as HaikuPorter's buildmaster lays it out and `pkgman` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaikuSettings {
    /// The repository's `repo.info` (HaikuPorter's driver-settings file: name, vendor, summary,
    /// priority, identifier, architecture, …); its architecture is the repository's.
    pub repo_info: std::path::PathBuf,
}

/// How an index file may be served and when it goes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexRole {
    /// Named by its content (apt's by-hash): never overwritten, uploaded first, kept for the retention
    /// window after it stops being current.
    ContentAddressed,
    /// An index under its plain name (`Packages.xz`, `repodata/<sha>-primary.xml.gz`), uploaded after
    /// the content-addressed files and before the root.
    Data,
    /// The root of trust (`InRelease`, `Release`, `repomd.xml`, `repomd.xml.asc`), uploaded last, in
    /// the order given.
    Root,
}

/// One rendered index file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFile {
    /// Path relative to the repository's client root (`dists/bookworm/InRelease`,
    /// `repodata/repomd.xml`).
    pub path: String,
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// When it goes live and how it is cached.
    pub role: IndexRole,
}

/// A package of a repository listed without its stored entry ([`InspectedPackage::entry`] empty): what
/// a format needs to find which parts of its index are unchanged before it reads any entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPackage {
    /// The package and its href, `entry` empty.
    pub indexed: IndexedPackage,
    /// The length in bytes of the stored entry.
    pub entry_len: usize,
}

/// Where a publish reads a repository's packages from (its records): all of them with their entries,
/// or a listing without entries and then the entries of the few packages a format must render again.
pub trait PackageSource {
    /// Every package of the repository, with its entry.
    fn packages(&mut self) -> Result<Vec<IndexedPackage>, FormatError>;
    /// Every package of the repository, without its entry.
    fn listing(&mut self) -> Result<Vec<ListedPackage>, FormatError>;
    /// The stored entries of `packages` (from [`PackageSource::listing`]), in the same order.
    fn entries(&mut self, packages: &[&IndexedPackage]) -> Result<Vec<String>, FormatError>;
}

/// Signs the root of trust. Implemented by [`signing::OpenPgpSigner`]; a trait so that formats can be
/// tested without a key.
pub trait Sign: Send + Sync {
    /// A clear-signed document (Debian's `InRelease`).
    fn clear_sign(&self, text: &str) -> Result<String, FormatError>;
    /// An ASCII-armoured detached signature (`Release.gpg`, `repomd.xml.asc`).
    fn detached_sign(&self, data: &[u8]) -> Result<String, FormatError>;
}

/// A problem `check` found: a package whose dependency nothing in the repository (or the base
/// repositories) satisfies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// `name_version_arch` of the package.
    pub package: String,
    /// The dependency as the package states it.
    pub dependency: String,
}

/// How [`Unresolved::package`] names `package`: `name_version_arch`.
pub fn unresolved_label(package: &InspectedPackage) -> String {
    format!("{}_{}_{}", package.name, package.version, package.architecture)
}

/// Why a format could not inspect, render or sign.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid package of this format; the message names what is wrong.
    #[error("{path}: not a valid {format} package: {reason}")]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// `debian`, `rpm`, `haiku`.
        format: &'static str,
        /// What is wrong, in words an operator can act on.
        reason: String,
    },
    /// A stored entry could not be read back (written by another version?).
    #[error("the stored index entry of {package} is unreadable: {reason}")]
    Entry {
        /// The package.
        package: String,
        /// Why.
        reason: String,
    },
    /// The records a publish reads packages from failed ([`PackageSource`]); names the database.
    #[error("reading the repository's packages: {0}")]
    Records(String),
    /// The file is a valid package, but its file name is not the one its own identity gives it (the
    /// format fixes file names, as Haiku's `name-version-arch.hpkg` does).
    #[error("{path}: its file name does not match the package's own name, version and architecture (expected {expected}); rename or rebuild it")]
    Misnamed {
        /// The file.
        path: std::path::PathBuf,
        /// The name its identity gives it.
        expected: String,
    },
    /// The format cannot do this (yet); the message names the operation.
    #[error("{format} repositories do not support {operation}")]
    Unsupported {
        /// `debian`, `rpm`, `haiku`.
        format: &'static str,
        /// What was asked for.
        operation: &'static str,
    },
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
    /// The repository's settings do not fit this format.
    #[error("repository {id}: {reason}")]
    Settings {
        /// The repository id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// One kind of package repository.
pub trait RepositoryFormat: Send + Sync {
    /// Which format this is.
    fn kind(&self) -> FormatKind;

    /// Inspects the package file at `path` in one streaming pass (it is read once; the SHA-256 is
    /// computed while it is parsed).
    fn inspect(&self, path: &Path) -> Result<InspectedPackage, FormatError>;

    /// Whether packages of `architecture` belong in every architecture (`all`, `noarch`, `any`).
    fn is_arch_independent(&self, architecture: &str) -> bool;

    /// Whether a package of `architecture` belongs in repository `target` (its own architecture, or
    /// architecture-independent).
    fn accepts(&self, target: &RepositoryTarget, architecture: &str) -> bool;

    /// Further checks a package must pass to enter `target`, made before anything is uploaded (Haiku:
    /// the vendor must be the repository's, as `package_repo` requires). The error says why, in words
    /// an operator can act on.
    fn admit(&self, _target: &RepositoryTarget, _package: &InspectedPackage) -> Result<(), String> {
        Ok(())
    }

    /// [`RepositoryFormat::admit`] of each of `packages`, in order; `Err` when `target` itself is unusable
    /// (its settings cannot be read). Formats whose checks read the repository's settings override it
    /// to read them once for a whole publish.
    fn admit_all(
        &self,
        target: &RepositoryTarget,
        packages: &[&InspectedPackage],
    ) -> Result<Vec<Result<(), String>>, FormatError> {
        Ok(packages.iter().map(|p| self.admit(target, p)).collect())
    }

    /// Checks that `target`'s settings are usable (a file they name exists and parses), so that a
    /// publish can refuse before it changes anything. By default there is nothing to check.
    fn check_settings(&self, _target: &RepositoryTarget) -> Result<(), FormatError> {
        Ok(())
    }

    /// [`RepositoryFormat::inspect`] of a file whose size and SHA-256 are already known (a build
    /// verified them while the file streamed in): a format that can decode without hashing overrides it
    /// so that the upload stays the file's one full read. By default the file is inspected (hashed)
    /// and must have that digest.
    fn inspect_verified(
        &self,
        path: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<InspectedPackage, FormatError> {
        let package = self.inspect(path)?;
        if package.size != size || !package.sha256.eq_ignore_ascii_case(sha256) {
            return Err(FormatError::Invalid {
                path: path.to_path_buf(),
                format: self.kind().as_str(),
                reason: format!(
                    "its bytes (size {}, sha256 {}) are not the verified ones (size {size}, sha256 {sha256})",
                    package.size, package.sha256
                ),
            });
        }
        Ok(package)
    }

    /// The packages an index rendered from `packages` names, in the order given: by default all of
    /// them; Haiku names only the newest version of each package name (older ones stay downloadable
    /// until pruned).
    fn indexed<'a>(&self, packages: &[&'a InspectedPackage]) -> Vec<&'a InspectedPackage> {
        packages.to_vec()
    }

    /// The packages a published index names, read back from the bytes of the file that lists them
    /// (Haiku: `repo`), each with its identity, SHA-256 and entry; `size` is 0 (indexes need not record
    /// it). What recovery rebuilds records from and what prune keeps.
    fn indexed_packages(&self, _index: &[u8]) -> Result<Vec<InspectedPackage>, FormatError> {
        Err(FormatError::Unsupported {
            format: self.kind().as_str(),
            operation: "reading packages back from a published index",
        })
    }

    /// The package name a file name of this format gives, when the format fixes file names (Haiku:
    /// `name-version-arch.hpkg`, names without `-`): how a publish names a package it has no record
    /// of. `None` by default.
    fn package_name_of_file<'a>(&self, _file_name: &'a str) -> Option<&'a str> {
        None
    }

    /// A short identity of one rendered index, for reports and the publish history: by default the
    /// lowercase hex SHA-256 of its root of trust (the root files' bytes, in order).
    fn index_digest(&self, files: &[IndexFile]) -> String {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        for file in files.iter().filter(|f| f.role == IndexRole::Root) {
            hasher.update(&file.bytes);
        }
        hex::encode(hasher.finalize())
    }

    /// Where, under a repository's root, clients fetch `package` when the format fixes it (Haiku:
    /// `packages/<canonical file name>`, the only place `pkgman` looks). `None` (Debian, RPM): the
    /// index names the package's pool key by an href, and the package is never copied.
    fn fixed_path(&self, _package: &InspectedPackage) -> Option<String> {
        None
    }

    /// The index files of `target` listing exactly `packages`, in upload order (content-addressed
    /// files, then data, then the root of trust last). `signer` signs the root when the repository
    /// has a key; `now` dates it.
    fn render(
        &self,
        target: &RepositoryTarget,
        packages: &[IndexedPackage],
        signer: Option<&dyn Sign>,
        now: SystemTime,
    ) -> Result<Vec<IndexFile>, FormatError>;

    /// [`RepositoryFormat::render`] of the packages `source` holds. A format that keeps unchanged
    /// parts of its index between publishes overrides it to read only the entries it renders again
    /// (RPM); by default every entry is read.
    fn render_from(
        &self,
        target: &RepositoryTarget,
        source: &mut dyn PackageSource,
        signer: Option<&dyn Sign>,
        now: SystemTime,
    ) -> Result<Vec<IndexFile>, FormatError> {
        let packages = source.packages()?;
        self.render(target, &packages, signer, now)
    }

    /// Every dependency of `packages` that neither they nor `base` satisfy.
    fn check(
        &self,
        packages: &[IndexedPackage],
        base: &[IndexedPackage],
    ) -> Result<Vec<Unresolved>, FormatError>;
}
