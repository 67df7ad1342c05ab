//! Reading the packages a repository tool must look at, on all cores: each file is read once from
//! start to end, streaming, to hash it (its repository `checksum` is the SHA-256 of the whole file),
//! then decoded with positional reads of only the header, the chunk table and the chunks holding its
//! sections; the licence files of APPROVE_LICENSE packages are extracted. No file is ever held in
//! memory whole, so scanning a 1 GiB package costs a hash buffer and a few chunks. Results keep the
//! input order.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::haiku::format_error::{FormatError, FormatErrorKind};
use crate::haiku::hpkg_reader::{LicenseFile, PackageReader};
use crate::haiku::package_info::PackageInfo;
use crate::haiku::parallel::map_in_order;

/// A package read from disk for a repository.
#[derive(Debug, Clone)]
pub struct ScannedPackage {
    /// The path it was read from.
    pub path: PathBuf,
    /// The file's size in bytes, as hashed.
    pub size: u64,
    /// Its attributes, with `checksum` set to the file's lowercase hex SHA-256.
    pub info: PackageInfo,
    /// `data/licenses/*` files, read only for APPROVE_LICENSE packages (empty otherwise).
    pub licenses: Vec<LicenseFile>,
}

/// A package file could not be read or decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot read package {}: {source}", path.display())]
pub struct ScanError {
    /// The package file.
    pub path: PathBuf,
    /// What went wrong (the reader's error names the offset and what to do).
    pub source: FormatError,
}

pub use crate::fsutil::sha256_stream;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads one package: hash (streaming), decode (positional reads), licences.
pub fn scan_package(path: &Path) -> Result<ScannedPackage, ScanError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let (size, checksum) = sha256_stream(&file).map_err(|e| io_error(path, e))?;
    // The header's size is checked against the size hashed: a file that changes size between the
    // two reads is refused; one changed in place is caught when its upload is verified.
    decode_known(path, file, size, checksum)
}

/// Decodes the package open as `file` (read from `path`) whose size and SHA-256 (`checksum`) are
/// already known — hashed by [`scan_package`], or verified by the build that produced it — without
/// reading it whole: the header (checked against `size`), the chunk table and the chunks of its
/// sections, and the licence files of an APPROVE_LICENSE package.
pub fn decode_known(
    path: &Path,
    file: std::fs::File,
    size: u64,
    checksum: String,
) -> Result<ScannedPackage, ScanError> {
    let error = |source: FormatError| ScanError {
        path: path.to_owned(),
        source,
    };
    let reader = PackageReader::new(file, size).map_err(error)?;
    let licenses = if reader.package.info.approve_license() {
        reader.license_files().map_err(error)?
    } else {
        Vec::new()
    };
    let mut info = reader.package.info;
    info.checksum = checksum;
    Ok(ScannedPackage {
        path: path.to_owned(),
        size,
        info,
        licenses,
    })
}

/// A read of `path` that failed.
pub fn io_error(path: &Path, e: std::io::Error) -> ScanError {
    ScanError {
        path: path.to_owned(),
        source: FormatError::at_file(0, FormatErrorKind::Io(e.to_string())),
    }
}

/// Reads `paths` on all available cores; the first failure (in input order) is returned.
pub fn scan_packages(paths: &[PathBuf]) -> Result<Vec<ScannedPackage>, ScanError> {
    map_in_order(paths, |_, path| scan_package(path))
        .into_iter()
        .collect()
}
