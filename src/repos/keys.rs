//! Where pushed packages and index files live in the bucket: a content-addressed pool per format, and
//! each repository's index files under its root; and how a repository's index points from its root to
//! a pool file.

use crate::formats::IndexedPackage;

use super::config::Repository;
use super::records::PoolPackage;

/// The pool key of a file: `<pool>/<first two hex digits>/<sha256>/<file name>`. The digest in the
/// path makes the key content-addressed (a file is stored once, and never overwritten with other
/// bytes); the file name keeps it readable. A `+` (`libstdc++`, `1.0+dfsg`) becomes `_`: AWS S3 reads
/// `+` in a key as a space, and clients verify packages by checksum, not by the name in the URL.
pub fn pool_key(pool: &str, sha256: &str, file_name: &str) -> String {
    format!("{pool}/{}/{sha256}/{}", &sha256[..2], file_name.replace('+', "_"))
}

/// The key of an index file at `path` (relative to the repository's root).
pub fn index_key(repository: &Repository, path: &str) -> String {
    format!("{}/{path}", repository.root)
}

/// `key` relative to the directory `root` (both bucket keys without surrounding slashes), with `..`
/// segments where `key` is outside `root`: RPM repositories reach the shared pool this way.
pub fn relative_href(root: &str, key: &str) -> String {
    let root: Vec<&str> = root.split('/').collect();
    let key: Vec<&str> = key.split('/').collect();
    let common = root
        .iter()
        .zip(&key)
        .take_while(|(a, b)| a == b)
        .count()
        // The file name itself is never a shared directory.
        .min(key.len() - 1);
    let mut parts: Vec<&str> = vec![".."; root.len() - common];
    parts.extend(&key[common..]);
    parts.join("/")
}

/// The packages of `repository` as its index names them.
pub fn indexed(repository: &Repository, linked: Vec<PoolPackage>) -> Vec<IndexedPackage> {
    linked
        .into_iter()
        .map(|pool| indexed_one(repository, pool))
        .collect()
}

/// One package of `repository` as its index names it.
pub fn indexed_one(repository: &Repository, pool: PoolPackage) -> IndexedPackage {
    IndexedPackage {
        href: relative_href(&repository.root, &pool.pool_key),
        package: pool.package,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_are_relative_to_the_root() {
        assert_eq!(
            relative_href("apt", "apt/pool/ab/abcd/x.deb"),
            "pool/ab/abcd/x.deb"
        );
        assert_eq!(
            relative_href("rpm/el/9/x86_64", "rpm-pool/ab/abcd/x.rpm"),
            "../../../../rpm-pool/ab/abcd/x.rpm"
        );
        assert_eq!(
            relative_href("rpm/el/9/x86_64", "rpm/pool/ab/abcd/x.rpm"),
            "../../../pool/ab/abcd/x.rpm"
        );
    }

    #[test]
    fn pool_keys_carry_the_digest() {
        assert_eq!(
            pool_key("apt/pool", "abcdef", "x.deb"),
            "apt/pool/ab/abcdef/x.deb"
        );
    }
}
