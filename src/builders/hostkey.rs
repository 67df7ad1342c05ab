//! Host-key pinning. The server's key is checked inside the handshake, before authentication, so a
//! refused builder never sees our key signature, a command or a byte of a package. There is no "accept
//! unknown keys" mode: a key is trusted only if it is the per-builder pinned key or the `known_hosts`
//! entry for `[host]:port`. A key marked `@revoked` anywhere in `known_hosts` is refused before
//! anything else is looked at, as OpenSSH does (we do not match the line's host patterns: a revoked
//! key is refused for every host, which is stricter than OpenSSH and never weaker).

use std::path::Path;

use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

use super::config::HostKeyPin;
use super::error::HostKeyProblem;

/// The verdict on a presented host key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The key is the pinned one.
    Trusted,
    /// Refused; the fingerprint is what the server presented.
    Refused {
        /// Unknown or changed.
        problem: HostKeyProblem,
        /// `SHA256:…` of the presented key.
        fingerprint: String,
    },
}

/// `SHA256:<base64>` as printed by `ssh-keygen -l`.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses a pinned key in `.pub` or `known_hosts` form (an optional leading host pattern is skipped).
pub fn parse_pinned_key(text: &str) -> Option<PublicKey> {
    let text = text.trim();
    if let Ok(key) = PublicKey::from_openssh(text) {
        return Some(key);
    }
    // `known_hosts` form: `<patterns> <algorithm> <base64> [comment]`.
    let (_, rest) = text.split_once(char::is_whitespace)?;
    PublicKey::from_openssh(rest.trim()).ok()
}

/// Checks `presented` for `host:port` against `pin`.
pub fn verify(pin: &HostKeyPin, host: &str, port: u16, presented: &PublicKeyOrCertificate) -> Verdict {
    let key = match presented {
        PublicKeyOrCertificate::PublicKey { key, .. } => key,
        // Host certificates need a trusted CA, which builders do not configure: refuse them, naming
        // the certified key so the operator can pin it instead.
        PublicKeyOrCertificate::Certificate(cert) => {
            let key = PublicKey::from(cert.public_key().clone());
            return Verdict::Refused {
                problem: HostKeyProblem::Unknown,
                fingerprint: fingerprint(&key),
            };
        }
    };
    let refused = |problem| Verdict::Refused {
        problem,
        fingerprint: fingerprint(key),
    };
    match pin {
        HostKeyPin::Key(text) => match parse_pinned_key(text) {
            Some(pinned) if pinned.key_data() == key.key_data() => Verdict::Trusted,
            Some(_) => refused(HostKeyProblem::Changed),
            None => refused(HostKeyProblem::Unknown),
        },
        HostKeyPin::KnownHosts(path) => check_known_hosts(path, host, port, key, refused),
    }
}

fn check_known_hosts(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
    refused: impl Fn(HostKeyProblem) -> Verdict,
) -> Verdict {
    if let Some(line) = revoked_line(path, key) {
        return refused(HostKeyProblem::Revoked { line });
    }
    // Compare key material only: russh's own check also compares comments, which differ between a
    // `known_hosts` line and the key a server presents.
    match russh::keys::known_hosts::known_host_keys_path(host, port, path) {
        Ok(recorded) if recorded.iter().any(|(_, k)| k.key_data() == key.key_data()) => Verdict::Trusted,
        Ok(recorded) if recorded.iter().any(|(_, k)| k.algorithm() == key.algorithm()) => {
            refused(HostKeyProblem::Changed)
        }
        Ok(_) => refused(HostKeyProblem::Unknown),
        // An unreadable or missing file trusts nothing (HaikuPorter rejects such builders too).
        Err(err) => {
            tracing::warn!(file = %path.display(), %err, "cannot read known_hosts");
            refused(HostKeyProblem::Unknown)
        }
    }
}

/// The 1-based line of a `@revoked <patterns> <algorithm> <base64>` entry for `key` in `path`, if any.
/// An unreadable file is left to the caller, which trusts nothing then.
fn revoked_line(path: &Path, key: &PublicKey) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.trim_start().strip_prefix("@revoked")?;
        // `@revoked` must be a whole word followed by the host patterns and the key.
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let revoked = parse_pinned_key(rest)?;
        (revoked.key_data() == key.key_data()).then_some(i + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ a";
    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG/XabxhWC0f2qXH0J1X6QJJS94aGbWST9H6R34xQPL8 b";

    fn presented(text: &str) -> PublicKeyOrCertificate {
        parse_pinned_key(text).unwrap().into()
    }

    #[test]
    fn pinned_key_trusts_only_itself() {
        let pin = HostKeyPin::Key(KEY_A.into());
        assert_eq!(verify(&pin, "h", 22, &presented(KEY_A)), Verdict::Trusted);
        let Verdict::Refused { problem, fingerprint } = verify(&pin, "h", 22, &presented(KEY_B)) else {
            panic!("a different key was trusted");
        };
        assert_eq!(problem, HostKeyProblem::Changed);
        assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    }

    #[test]
    fn known_hosts_distinguishes_unknown_changed_and_ports() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(&kh, format!("[127.0.0.1]:2222 {KEY_A}\n")).unwrap();
        let pin = HostKeyPin::KnownHosts(kh.clone());
        assert_eq!(
            verify(&pin, "127.0.0.1", 2222, &presented(KEY_A)),
            Verdict::Trusted
        );
        assert!(matches!(
            verify(&pin, "127.0.0.1", 2222, &presented(KEY_B)),
            Verdict::Refused {
                problem: HostKeyProblem::Changed,
                ..
            }
        ));
        assert!(matches!(
            verify(&pin, "127.0.0.1", 2223, &presented(KEY_A)),
            Verdict::Refused {
                problem: HostKeyProblem::Unknown,
                ..
            }
        ));
        // A revoked key is refused even though a plain line for the same host lists it.
        std::fs::write(
            &kh,
            format!("# comment\n[127.0.0.1]:2222 {KEY_A}\n@revoked * {KEY_A}\n"),
        )
        .unwrap();
        assert_eq!(
            verify(&pin, "127.0.0.1", 2222, &presented(KEY_A)),
            Verdict::Refused {
                problem: HostKeyProblem::Revoked { line: 3 },
                fingerprint: fingerprint(&parse_pinned_key(KEY_A).unwrap()),
            }
        );
        let missing = HostKeyPin::KnownHosts(dir.path().join("absent"));
        assert!(matches!(
            verify(&missing, "127.0.0.1", 2222, &presented(KEY_A)),
            Verdict::Refused { .. }
        ));
    }
}
