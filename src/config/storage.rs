//! The storage backend config: a JSON file named by `--storage-backend-config` or
//! `STORAGE_BACKEND_CONFIG`.
//!
//! HaikuPorter operators already have files of the form
//! `{"backend_type": "s3", "endpoint_url": …, "region_name": …, "access_key_id": …,
//! "secret_access_key": …, "bucket_name": …, "prefix": …}`; they work unchanged. `"backend_type": "fs"`
//! with a `path` selects the filesystem backend. The per-backend keys and tuning knobs are documented on
//! [`S3Settings`] and [`FsSettings`].

use std::path::{Path, PathBuf};

pub use buildmaster_storage_fs::FsSettings;
pub use buildmaster_storage_s3::S3Settings;

/// A parsed storage config.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(tag = "backend_type", rename_all = "lowercase")]
pub enum StorageConfig {
    /// `"backend_type": "fs"`: a local directory laid out like the bucket.
    Fs(FsSettings),
    /// `"backend_type": "s3"`: an S3-compatible bucket.
    S3(S3Settings),
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid config. serde's message names the offending key (e.g. "unknown field
    /// `bucket`, expected one of …") and never echoes a secret's value.
    #[error("invalid config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl StorageConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        // It holds the storage credentials (HaikuPorter's keys).
        crate::config::secrets::warn_if_readable_by_others(path, "the storage config");
        Self::parse(&text, path)
    }

    /// Parses config text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.into(),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !value.is_object() {
            return Err(invalid("expected a JSON object".into()));
        }
        if value.get("backend_type").is_none() {
            return Err(invalid("missing key `backend_type` (\"s3\" or \"fs\")".into()));
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StorageConfig, ConfigError> {
        StorageConfig::parse(text, Path::new("storage.json"))
    }

    #[test]
    fn haikuporter_config_parses_unchanged() {
        let config = parse(
            r#"{ "backend_type": "s3", "endpoint_url": "https://s3.example.org", "region_name": "us-east-1",
                 "access_key_id": "AKID", "secret_access_key": "s3cr3t-value", "bucket_name": "haikuports",
                 "prefix": "master/riscv64/current" }"#,
        )
        .unwrap();
        let StorageConfig::S3(s3) = config else {
            panic!("expected s3")
        };
        assert_eq!(s3.bucket_name, "haikuports");
        assert_eq!(s3.prefix, "master/riscv64/current");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse(r#"{"backend_type": "s3", "bucket_name": "b", "bucket_nmae": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("bucket_nmae"), "{err}");
        assert!(err.to_string().contains("storage.json"), "{err}");
        let err = parse(r#"{"backend_type": "fs", "path": "/x", "paht": "/y"}"#).unwrap_err();
        assert!(err.to_string().contains("paht"), "{err}");
        let err = parse(r#"{"backend_type": "gcs"}"#).unwrap_err();
        assert!(err.to_string().contains("gcs"), "{err}");
        let err = parse(r#"{"path": "/x"}"#).unwrap_err();
        assert!(err.to_string().contains("backend_type"), "{err}");
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let config = parse(
            r#"{"backend_type": "s3", "bucket_name": "b", "access_key_id": "AKID",
                "secret_access_key": "very-secret-value"}"#,
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret-value"), "{debug}");
    }

    #[test]
    fn fs_config_parses() {
        let StorageConfig::Fs(fs) = parse(r#"{"backend_type": "fs", "path": "/srv/repo"}"#).unwrap() else {
            panic!("expected fs")
        };
        assert_eq!(fs.path, Path::new("/srv/repo"));
    }

    #[test]
    fn sample_config_in_repository_parses() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/config.sample.json");
        StorageConfig::load(Path::new(sample)).unwrap();
    }
}
