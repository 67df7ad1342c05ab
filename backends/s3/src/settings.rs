//! The S3 section of the storage config: HaikuPorter's keys plus documented tuning knobs.
//!
//! The key names (`endpoint_url`, `region_name`, `access_key_id`, `secret_access_key`, `bucket_name`,
//! `prefix`) are exactly those of HaikuPorter's storage JSON, so operators' existing files load
//! unchanged. `backend_type` is consumed by the caller's tagged enum before this struct sees the object.

use std::fmt;

use buildmaster_storage::{ErrorKind, KeyPrefix, Operation, StorageError};
use serde::Deserialize;

const MIB: u64 = 1024 * 1024;

/// Smallest part S3 accepts for every part but the last, in bytes (5 MiB).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>
pub const MIN_PART_SIZE: u64 = 5 * MIB;

/// Largest part S3 accepts, in bytes (5 GiB).
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;

/// Most parts one multipart upload may have.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>
pub const MAX_UPLOAD_PARTS: u64 = 10_000;

/// Upper bound on `parts_in_flight`: each part in flight is a buffer of `part_size` bytes, so this caps
/// the memory a typo in the config can claim (64 × the default part size = 1 GiB).
pub const MAX_PARTS_IN_FLIGHT: usize = 64;

/// A secret string (the S3 secret key). Its `Debug` and `Display` print `<redacted>`, so it cannot leak
/// through logs, status output or error messages by accident; [`Secret::expose`] is the one way out.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to the SDK's credentials provider and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Settings of the S3 backend, as found in the storage JSON next to `"backend_type": "s3"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Endpoint URL of an S3-compatible server (`https://s3.example.org`, `http://127.0.0.1:3900`).
    /// Default: none, i.e. AWS S3 for `region_name`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Region to sign requests for. Default: the AWS default chain's region, else `us-east-1` (which
    /// garage and MinIO use unless configured otherwise).
    #[serde(default)]
    pub region_name: Option<String>,
    /// Access key id. Default: none; when both keys are absent the AWS default credential chain
    /// (environment, profile files, SSO, container/instance roles) is used.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key; never printed. Must be given together with `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// The bucket holding the repository.
    pub bucket_name: String,
    /// Key prefix inside the bucket (`"master/x86_64/current"`); joined to keys with exactly one `/`.
    /// Default: `""` (the bucket root).
    #[serde(default)]
    pub prefix: String,
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`. Default: `true`
    /// ([`default_force_path_style`]), which self-hosted servers need; AWS accepts both.
    #[serde(default = "default_force_path_style")]
    pub force_path_style: bool,
    /// Bodies of at least this many bytes go up as multipart uploads; smaller ones in one PutObject
    /// (buffered in memory, so keep it modest). Default: 16 MiB ([`default_multipart_threshold`]).
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold: u64,
    /// Size of each multipart part and of each ranged GET of a large download, in bytes; at least
    /// [`MIN_PART_SIZE`] (5 MiB). Grown automatically when a body would need more than
    /// [`MAX_UPLOAD_PARTS`] parts. Default: 16 MiB ([`default_part_size`]).
    #[serde(default = "default_part_size")]
    pub part_size: u64,
    /// Parts uploaded (or ranges downloaded) concurrently by one transfer. Peak memory of a transfer is
    /// about `parts_in_flight × part_size`. Default: 4 ([`default_parts_in_flight`]).
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
    /// Attempts per request (including the first) for transient failures, with exponential backoff and
    /// jitter. Default: 5 ([`default_max_attempts`]).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Protect uploads with an `x-amz-checksum-crc32c` header that the server verifies, and send the
    /// payload unsigned; `false` signs the payload with SHA-256 instead (much more CPU on both ends)
    /// for servers that reject checksum headers. Default: `true` ([`default_upload_checksums`]).
    #[serde(default = "default_upload_checksums")]
    pub upload_checksums: bool,
}

/// Default of [`S3Settings::force_path_style`]: `true`.
pub fn default_force_path_style() -> bool {
    true
}

/// Default of [`S3Settings::multipart_threshold`]: 16 MiB.
pub fn default_multipart_threshold() -> u64 {
    16 * MIB
}

/// Default of [`S3Settings::part_size`]: 16 MiB. On loopback garage (`docs/performance.md`) 8 MiB × 8 and
/// 32 MiB × 3 downloaded no faster than 16 MiB × 4; larger parts only raise the memory bound.
pub fn default_part_size() -> u64 {
    16 * MIB
}

/// Default of [`S3Settings::parts_in_flight`]: 4 — enough to keep a connection's pipe full while
/// another part is being hashed, and a 64 MiB memory bound per transfer with the default part size.
pub fn default_parts_in_flight() -> usize {
    4
}

/// Default of [`S3Settings::max_attempts`]: 5 (the storage crate's `RetryPolicy` default).
pub fn default_max_attempts() -> u32 {
    5
}

/// Default of [`S3Settings::upload_checksums`]: `true`.
pub fn default_upload_checksums() -> bool {
    true
}

impl S3Settings {
    /// Settings for `bucket_name` with every optional key at its default.
    pub fn new(bucket_name: impl Into<String>) -> Self {
        Self {
            endpoint_url: None,
            region_name: None,
            access_key_id: None,
            secret_access_key: None,
            bucket_name: bucket_name.into(),
            prefix: String::new(),
            force_path_style: default_force_path_style(),
            multipart_threshold: default_multipart_threshold(),
            part_size: default_part_size(),
            parts_in_flight: default_parts_in_flight(),
            max_attempts: default_max_attempts(),
            upload_checksums: default_upload_checksums(),
        }
    }

    /// Checks the values serde cannot: ranges, pairs of keys, the prefix. Returns the normalised prefix.
    pub fn validate(&self) -> Result<KeyPrefix, StorageError> {
        let invalid = |message: String| {
            Err(StorageError::new(
                Operation::Connect,
                None,
                ErrorKind::Permanent,
                format!("invalid S3 settings: {message}"),
            ))
        };
        if self.bucket_name.trim().is_empty() {
            return invalid("`bucket_name` is empty".into());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return invalid(
                "`access_key_id` and `secret_access_key` must be given together (or both left out to use \
                 the AWS credential chain)"
                    .into(),
            );
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return invalid(format!(
                "`part_size` is {} bytes; S3 needs {MIN_PART_SIZE}..={MAX_PART_SIZE}",
                self.part_size
            ));
        }
        if !(1..=MAX_PARTS_IN_FLIGHT).contains(&self.parts_in_flight) {
            return invalid(format!(
                "`parts_in_flight` is {}; allowed 1..={MAX_PARTS_IN_FLIGHT}",
                self.parts_in_flight
            ));
        }
        if self.max_attempts == 0 {
            return invalid("`max_attempts` must be at least 1".into());
        }
        KeyPrefix::new(&self.prefix).or_else(|e| invalid(format!("`prefix`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn haikuporter_json() -> String {
        format!(
            r#"{{"endpoint_url": "http://127.0.0.1:3900", "region_name": "garage",
                 "access_key_id": "GK0123456789abcdef01234567", "secret_access_key": "{SECRET}",
                 "bucket_name": "packages", "prefix": "master/x86_64/current"}}"#
        )
    }

    #[test]
    fn parses_haikuporter_keys_with_defaults() {
        let settings: S3Settings = serde_json::from_str(&haikuporter_json()).unwrap();
        assert_eq!(settings.bucket_name, "packages");
        assert_eq!(settings.secret_access_key.as_ref().unwrap().expose(), SECRET);
        assert!(settings.force_path_style);
        assert_eq!(settings.part_size, default_part_size());
        assert_eq!(settings.parts_in_flight, default_parts_in_flight());
        assert_eq!(settings.validate().unwrap().as_str(), "master/x86_64/current/");
    }

    #[test]
    fn debug_and_display_never_print_the_secret() {
        let settings: S3Settings = serde_json::from_str(&haikuporter_json()).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let secret = settings.secret_access_key.unwrap();
        assert_eq!(secret.to_string(), "<redacted>");
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = serde_json::from_str::<S3Settings>(r#"{"bucket_name": "b", "bucket": "typo"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bucket"), "{err}");
        // The caller's tagged enum strips `backend_type`; reaching this struct it is unknown.
        assert!(serde_json::from_str::<S3Settings>(r#"{"bucket_name": "b", "backend_type": "s3"}"#).is_err());
    }

    #[test]
    fn invalid_values_are_explained() {
        let mut settings = S3Settings::new("b");
        settings.part_size = MIN_PART_SIZE - 1;
        assert!(settings.validate().unwrap_err().message.contains("part_size"));
        let mut settings = S3Settings::new("b");
        settings.access_key_id = Some("GK1".into());
        assert!(settings.validate().unwrap_err().message.contains("together"));
        let mut settings = S3Settings::new("b");
        settings.prefix = "a/../b".into();
        assert!(settings.validate().unwrap_err().message.contains("prefix"));
        let mut settings = S3Settings::new("b");
        settings.parts_in_flight = 0;
        assert!(settings.validate().is_err());
    }
}
