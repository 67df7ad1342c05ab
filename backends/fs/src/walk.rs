//! Listing the tree: every regular file below the root whose key starts with a prefix, in key order,
//! skipping the backend's reserved directories.

use std::path::Path;

use crate::RESERVED_PREFIX;

/// One file found by [`files_with_prefix`].
#[derive(Debug)]
pub struct Found {
    /// The key (`/`-separated path relative to the root).
    pub key: String,
    /// The file's metadata.
    pub meta: std::fs::Metadata,
}

/// All regular files whose key starts with `prefix`, sorted by key (byte order, as S3 lists).
///
/// The walk starts at the deepest directory the prefix names, so listing `packages/` does not visit
/// the rest of the tree.
pub fn files_with_prefix(root: &Path, prefix: &str) -> std::io::Result<Vec<Found>> {
    let start_dir = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    };
    let mut out = Vec::new();
    let start = if start_dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(start_dir)
    };
    match std::fs::metadata(&start) {
        Ok(m) if m.is_dir() => walk(&start, start_dir, prefix, &mut out)?,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn walk(dir: &Path, rel: &str, prefix: &str, out: &mut Vec<Found>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if rel.is_empty() && name.starts_with(RESERVED_PREFIX) {
            continue;
        }
        let key = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        // Prune subtrees that cannot contain a match: the key (as a directory) must be a prefix of the
        // wanted prefix or start with it.
        let as_dir = format!("{key}/");
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(&entry.path(), &key, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            let meta = entry.metadata()?;
            out.push(Found { key, meta });
        }
    }
    Ok(())
}
