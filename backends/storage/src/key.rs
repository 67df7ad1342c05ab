//! Object keys and prefixes.
//!
//! Keys are always relative to the backend's configured prefix and are validated once, at
//! construction, so no backend has to worry about `..`, absolute paths or doubled slashes. HaikuPorter
//! concatenated its prefix without a separator (`prefix + "packages/"`), which silently produced keys like
//! `master/x86_64/currentrepo` when operators left out the trailing `/`; [`KeyPrefix::join`] puts exactly
//! one `/` between the two whatever the operator wrote.

use std::fmt;

/// Why a string is not a valid [`ObjectKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object key {key:?}: {reason}")]
pub struct KeyError {
    /// The rejected input, verbatim.
    pub key: String,
    /// What rule it breaks.
    pub reason: &'static str,
}

/// Longest key we accept, in bytes. S3 limits keys to 1024 bytes; the prefix takes part of that, so we
/// keep the relative key well inside it. (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html>)
pub const MAX_KEY_BYTES: usize = 900;

/// A validated key relative to the backend's prefix: non-empty segments separated by single `/`, no `.`
/// or `..` segment, no leading `/`, no control characters. A trailing `/` is allowed only for listing
/// prefixes (see [`ObjectKey::prefix`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates `key` as the name of an object.
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let key = key.into();
        if key.ends_with('/') {
            return Err(KeyError {
                key,
                reason: "an object key must not end with '/'",
            });
        }
        validate(&key, false)?;
        Ok(Self(key))
    }

    /// Validates `prefix` as a listing prefix: like a key, but it may be empty (everything) and may end
    /// with `/` (everything below a "directory").
    pub fn prefix(prefix: impl Into<String>) -> Result<Self, KeyError> {
        let prefix = prefix.into();
        validate(&prefix, true)?;
        Ok(Self(prefix))
    }

    /// The empty listing prefix: every object under the backend's prefix.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment (the file name).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// `self/child`, validated.
    pub fn child(&self, child: &str) -> Result<Self, KeyError> {
        if self.0.is_empty() {
            Self::new(child)
        } else if self.0.ends_with('/') {
            Self::new(format!("{}{child}", self.0))
        } else {
            Self::new(format!("{}/{child}", self.0))
        }
    }
}

fn validate(key: &str, is_prefix: bool) -> Result<(), KeyError> {
    let fail = |reason| {
        Err(KeyError {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return if is_prefix {
            Ok(())
        } else {
            fail("an object key must not be empty")
        };
    }
    if key.len() > MAX_KEY_BYTES {
        return fail("longer than 900 bytes");
    }
    if key.starts_with('/') {
        return fail("must be relative (no leading '/')");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return fail("contains a control character or a backslash");
    }
    let body = if is_prefix {
        key.strip_suffix('/').unwrap_or(key)
    } else {
        key
    };
    for segment in body.split('/') {
        match segment {
            "" => return fail("contains an empty segment ('//')"),
            "." | ".." => return fail("contains a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl TryFrom<&str> for ObjectKey {
    type Error = KeyError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

/// The operator's configured prefix, normalised: no leading `/`, no empty segments, and either empty or
/// ending in exactly one `/`, so that `prefix + key` always has exactly one separator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Normalises an operator-supplied prefix (`"master/x86_64/current"`, `"/a//b/"`, `""`).
    pub fn new(raw: &str) -> Result<Self, KeyError> {
        let segments: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
        if segments.is_empty() {
            return Ok(Self(String::new()));
        }
        let joined = segments.join("/");
        validate(&joined, false).map_err(|e| KeyError {
            key: raw.to_owned(),
            reason: e.reason,
        })?;
        Ok(Self(format!("{joined}/")))
    }

    /// The normalised prefix: empty, or ending with exactly one `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full backend key for `key`.
    pub fn join(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.0, key.as_str())
    }

    /// The relative key for a full backend key, if it lies under this prefix and is a valid key.
    pub fn strip(&self, full: &str) -> Option<ObjectKey> {
        full.strip_prefix(&self.0)
            .and_then(|rel| ObjectKey::new(rel).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(ObjectKey::new("packages/a-1-x86_64.hpkg").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "..", "./a", "a/", "a\nb", "a\\b"] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(ObjectKey::prefix("").is_ok());
        assert!(ObjectKey::prefix("packages/").is_ok());
        assert!(ObjectKey::prefix("packages//").is_err());
    }

    #[test]
    fn prefix_is_joined_with_exactly_one_slash() {
        let key = ObjectKey::new("repo").unwrap();
        for raw in [
            "master/x86_64/current",
            "master/x86_64/current/",
            "/master//x86_64/current//",
        ] {
            assert_eq!(
                KeyPrefix::new(raw).unwrap().join(&key),
                "master/x86_64/current/repo"
            );
        }
        assert_eq!(KeyPrefix::new("").unwrap().join(&key), "repo");
        assert_eq!(KeyPrefix::new("/").unwrap().join(&key), "repo");
        assert!(KeyPrefix::new("a/../b").is_err());
    }

    #[test]
    fn strip_inverts_join() {
        let prefix = KeyPrefix::new("p/q").unwrap();
        let key = ObjectKey::new("packages/x.hpkg").unwrap();
        assert_eq!(prefix.strip(&prefix.join(&key)), Some(key));
        assert_eq!(prefix.strip("other/packages/x.hpkg"), None);
    }

    #[test]
    fn child_joins_segments() {
        let dir = ObjectKey::prefix("packages/").unwrap();
        assert_eq!(dir.child("a.hpkg").unwrap().as_str(), "packages/a.hpkg");
        let dir = ObjectKey::new("packages").unwrap();
        assert_eq!(dir.child("a.hpkg").unwrap().as_str(), "packages/a.hpkg");
        assert_eq!(ObjectKey::root().child("repo").unwrap().as_str(), "repo");
    }
}
