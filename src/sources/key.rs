//! Where a source lives in storage: `sources/sha256/<64 hex digits>`, by content alone, so that two
//! recipes with the same tarball share one object and a changed URI never changes the key. (No `+`
//! or other characters that S3 clients and web servers treat differently in keys.)

use buildmaster_storage::{KeyError, ObjectKey, Sha256Digest};

/// The prefix every source object is under.
pub const SOURCES_PREFIX: &str = "sources/sha256/";

/// The storage key of the source with `digest`.
pub fn source_key(digest: &Sha256Digest) -> Result<ObjectKey, KeyError> {
    ObjectKey::new(format!("{SOURCES_PREFIX}{}", digest.to_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_hex_digest() {
        let digest = Sha256Digest::of(b"abc");
        assert_eq!(
            source_key(&digest).unwrap().as_str(),
            "sources/sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
