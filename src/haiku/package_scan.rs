//! Reading the packages a repository tool must look at, on all cores: each file is read once, hashed
//! (its repository `checksum` is the SHA-256 of the whole file) and decoded from the same bytes, and
//! the licence files of APPROVE_LICENSE packages are extracted. Results keep the input order.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::haiku::format_error::{FormatError, FormatErrorKind};
use crate::haiku::hpkg_reader::{LicenseFile, PackageFile};
use crate::haiku::package_info::PackageInfo;
use crate::haiku::parallel::map_in_order;

/// A package read from disk for a repository.
#[derive(Debug, Clone)]
pub struct ScannedPackage {
    /// The path it was read from.
    pub path: PathBuf,
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

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads one package: hash, decode, licences.
pub fn scan_package(path: &Path) -> Result<ScannedPackage, ScanError> {
    let error = |source: FormatError| ScanError {
        path: path.to_owned(),
        source,
    };
    let bytes = std::fs::read(path).map_err(|e| ScanError {
        path: path.to_owned(),
        source: FormatError::at_file(0, FormatErrorKind::Io(e.to_string())),
    })?;
    let checksum = sha256_hex(&bytes);
    let file = PackageFile::from_bytes(bytes).map_err(error)?;
    let licenses = if file.package.info.approve_license() {
        file.license_files().map_err(error)?
    } else {
        Vec::new()
    };
    let mut info = file.package.info;
    info.checksum = checksum;
    Ok(ScannedPackage {
        path: path.to_owned(),
        info,
        licenses,
    })
}

/// Reads `paths` on all available cores; the first failure (in input order) is returned.
pub fn scan_packages(paths: &[PathBuf]) -> Result<Vec<ScannedPackage>, ScanError> {
    map_in_order(paths, |_, path| scan_package(path))
        .into_iter()
        .collect()
}
