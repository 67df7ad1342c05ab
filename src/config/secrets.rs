//! Where secrets may live, and keeping them there: one place for the checks every secret-holding
//! file gets (the API token file, the storage JSON, SSH private keys) and for removing credentials
//! from URLs before they reach a state file, a log or an API answer. See `docs/security.md`.

use std::path::Path;

/// Warns when `path` (a file holding `what`, e.g. "the API token file") can be read by users other
/// than its owner. A warning rather than a refusal: container volumes often have loose modes, and
/// HaikuPorter kept credentials in world-readable files that an adopting operator still has.
pub fn warn_if_readable_by_others(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o044 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "{what} is readable by other users; chmod 600 it"
            );
        }
    }
}

/// Whether `path` can be read by users other than its owner (the check behind
/// [`warn_if_readable_by_others`]).
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

/// `text` without the userinfo (`user:password@`) of the URL it is, or `None` if it is not a URL
/// with userinfo. A ports tree cloned with a token in its origin URL must not put the token into
/// the database, status.json or the API.
pub fn strip_url_credentials(text: &str) -> Option<String> {
    let scheme_end = text.find("://")? + 3;
    let rest = &text[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some(format!("{}{}", &text[..scheme_end], &rest[at + 1..]))
}

/// `url` with any userinfo removed (unchanged if it has none).
pub fn without_credentials(url: &str) -> String {
    strip_url_credentials(url).unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_and_nothing_else() {
        assert_eq!(
            without_credentials("https://user:tok3n@github.com/haikuports/haikuports.git"),
            "https://github.com/haikuports/haikuports.git"
        );
        assert_eq!(without_credentials("ssh://git@host/x"), "ssh://host/x");
        assert_eq!(without_credentials("http://host/path@x"), "http://host/path@x");
        assert_eq!(without_credentials("/local/tree"), "/local/tree");
    }

    #[test]
    fn group_or_world_readable_files_are_noticed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!readable_by_others(&path));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(readable_by_others(&path));
    }
}
