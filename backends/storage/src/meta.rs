//! What a backend knows about a stored object, and what a caller asks of an upload.

use std::fmt;
use std::time::SystemTime;

use crate::key::ObjectKey;

/// A SHA-256 digest. Printed as lowercase hex, the form Haiku's repository `checksum` attribute and
/// `repo.sha256` use, and the form stored as object metadata.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(Self(out))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

/// What a backend reports about one stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key, relative to the backend's prefix.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// The SHA-256 recorded when the object was stored. `head` and `put` return it without downloading
    /// the object; `list` may leave it out (S3 listings carry no user metadata) and then it is `None`.
    pub sha256: Option<Sha256Digest>,
    /// When the object was last written, if the backend knows. Used for grace periods when pruning.
    pub modified: Option<SystemTime>,
    /// Whether this answer vouches that the stored object holds exactly the bytes described. Only a
    /// `put` can say [`Confirmation::StoredAsSent`]; `head`, `get`, `list` and `copy` report what the
    /// store holds and say [`Confirmation::Reported`].
    pub confirmation: Confirmation,
}

impl ObjectMeta {
    /// Whether this (a `put`'s answer) vouches that the object is stored whole with `size` bytes
    /// hashing to `sha256`, so that reading its metadata back with `head` would add nothing.
    pub fn confirms(&self, size: u64, sha256: &Sha256Digest) -> bool {
        self.confirmation == Confirmation::StoredAsSent
            && self.size == size
            && self.sha256.as_ref() == Some(sha256)
    }
}

/// How much an [`ObjectMeta`] vouches for the stored bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Confirmation {
    /// Metadata as the store reports it, or a `put` whose path cannot vouch for what ended up stored
    /// (e.g. an upload to a temporary key and a server-side copy): a caller that must know the object
    /// is whole checks it (`head`: size and recorded SHA-256).
    #[default]
    Reported,
    /// A `put` that succeeded with every byte checked twice on the way in: by the backend, which
    /// counted the body to its declared size and hashed it to the SHA-256 it records (refusing the
    /// upload if `PutOptions::sha256` was given and differs), and by the store, which accepted the
    /// bytes only after checking them itself (S3: the `x-amz-checksum-crc32c` or the signed payload of
    /// each request, then committed the object; filesystem: written, fsynced and renamed into place with
    /// its digest beside it). A `head` right after would only read back the metadata this upload set.
    StoredAsSent,
}

/// How long clients and caches may keep an object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheControl {
    /// No header: the store's default.
    #[default]
    Unspecified,
    /// Content-addressed by name and never rewritten (packages): cache for a year, immutable.
    Immutable,
    /// Rewritten in place (index files `repo`, `repo.info`, `repo.sha256`): always revalidate.
    NoCache,
}

impl CacheControl {
    /// The value a stored `Cache-Control` header stands for: one of ours, else `Unspecified` (a header
    /// this crate did not set is not carried over by a streamed copy).
    pub fn from_header(value: Option<&str>) -> Self {
        [Self::Immutable, Self::NoCache]
            .into_iter()
            .find(|known| value.is_some() && known.header() == value)
            .unwrap_or_default()
    }

    /// The HTTP `Cache-Control` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Unspecified => None,
            Self::Immutable => Some("public, max-age=31536000, immutable"),
            Self::NoCache => Some("no-cache"),
        }
    }
}

/// The content headers an object was stored with: what a copy to another backend must carry along.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentHeaders {
    /// `Content-Type`, if one was stored.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: CacheControl,
}

/// What a caller asks of an upload.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    /// `Content-Type` to store with the object; `application/octet-stream` when absent.
    pub content_type: Option<String>,
    /// `Cache-Control` to store with the object.
    pub cache_control: CacheControl,
    /// The SHA-256 the caller expects the body to have. When given, the backend records it up front
    /// (S3 metadata must be known when the upload starts) and the upload fails, leaving no object, if the
    /// streamed bytes hash differently. When absent the backend computes it while streaming.
    pub sha256: Option<Sha256Digest>,
}

impl PutOptions {
    /// Options for an immutable package file.
    pub fn package(sha256: Option<Sha256Digest>) -> Self {
        Self {
            content_type: Some("application/x-vnd.haiku-package".into()),
            cache_control: CacheControl::Immutable,
            sha256,
        }
    }

    /// Options for an index file that is rewritten in place.
    pub fn index(content_type: &str) -> Self {
        Self {
            content_type: Some(content_type.into()),
            cache_control: CacheControl::NoCache,
            sha256: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_cache_control_headers_map_back() {
        for value in [CacheControl::Immutable, CacheControl::NoCache] {
            assert_eq!(CacheControl::from_header(value.header()), value);
        }
        assert_eq!(CacheControl::from_header(None), CacheControl::Unspecified);
        assert_eq!(
            CacheControl::from_header(Some("max-age=60")),
            CacheControl::Unspecified
        );
    }
}
