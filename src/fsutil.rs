//! File helpers every part shares, whatever the format: replacing an output file atomically
//! (packages, index files and checksum files are fetched by clients and uploaded by the coordinator,
//! so nobody may ever see a half-written one) and hashing a stream once.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Writes `bytes` to a temporary file beside `output` (same directory, so the rename cannot cross
/// file systems), then renames it over `output`. On failure the temporary file is removed and
/// `output` is untouched.
pub fn write_atomically(output: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = temp_path(output);
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        std::fs::rename(&temp, output)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// `.<name>.tmp-<pid>` beside `output`: hidden, and distinct per process.
fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Bytes hashed per read: large enough that the syscalls cost nothing next to SHA-256, small enough
/// that one scan per core stays far below any memory budget.
const HASH_BUFFER_BYTES: usize = 1024 * 1024;

/// Length and lowercase hex SHA-256 of everything `reader` yields, read in [`HASH_BUFFER_BYTES`]
/// blocks.
pub fn sha256_stream(mut reader: impl Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_BUFFER_BYTES];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("repo");
        std::fs::write(&out, b"old").unwrap();
        write_atomically(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing-dir").join("repo");
        assert!(write_atomically(&out, b"x").is_err());
        assert!(!out.exists());
    }
}
