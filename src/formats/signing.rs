//! OpenPGP signing of index roots: clear-signed `InRelease`, detached `Release.gpg` / `repomd.xml.asc`.
//!
//! [`OpenPgpSigner`] owns one unprotected OpenPGP secret key read from an armoured file (Ed25519 or
//! RSA, as `gpg --export-secret-keys --armor` or rPGP writes it) and implements [`Sign`]. It signs with
//! the primary key when that key may sign, else with the first signing-capable subkey — what
//! `gpg --quick-gen-key` and most repository keys look like. Clients trust the repository through the
//! public half, which [`OpenPgpSigner::public_key_armored`] / [`OpenPgpSigner::public_key_binary`]
//! export for apt's `signed-by=` and dnf's `gpgkey=`.
//!
//! The key material is never printed: `Debug` shows the file and the fingerprint only, and errors
//! name the file and what is wrong with it, never its contents.

use std::fmt;
use std::path::{Path, PathBuf};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize as _;
use pgp::types::{KeyDetails, KeyVersion, Password, SigningKey, Timestamp};

use super::{FormatError, Sign};

/// The digest every signature uses. SHA-256 is what apt's gpgv/sqv and dnf's rpm-sequoia accept
/// without warnings (SHA-1 is refused by both); key-preferred digests are not consulted so that every
/// key signs the same way.
const SIGNATURE_HASH: HashAlgorithm = HashAlgorithm::Sha256;

/// Why a signing key could not be loaded. Each names the file; none can be fixed by retrying.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// The file could not be read (missing, unreadable).
    #[error("signing key {path}: cannot read it: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an armoured OpenPGP secret key.
    #[error("signing key {path}: not an armoured OpenPGP secret key ({reason})")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// What the parser said (never key material).
        reason: String,
    },
    /// The key is protected by a passphrase; buildmaster signs unattended and takes no passphrase.
    #[error(
        "signing key {path}: the secret key is passphrase-protected; export an unprotected copy \
         (gpg --pinentry-mode loopback --passphrase '' --export-secret-keys --armor) and keep the \
         file mode 0600"
    )]
    Protected {
        /// The key file.
        path: PathBuf,
    },
    /// Neither the primary key nor any subkey may sign.
    #[error("signing key {path}: no key in it is allowed to sign (no primary or subkey with the sign flag)")]
    NoSigningKey {
        /// The key file.
        path: PathBuf,
    },
}

impl From<SigningKeyError> for FormatError {
    fn from(error: SigningKeyError) -> Self {
        FormatError::Signing(error.to_string())
    }
}

/// Which key of the certificate signs.
#[derive(Clone, Copy)]
enum Signer {
    /// The primary key (its self-signature carries the sign flag).
    Primary,
    /// `secret_subkeys[i]`.
    Subkey(usize),
}

/// An OpenPGP secret key that signs repository roots.
pub struct OpenPgpSigner {
    /// Where the key was read from (for messages).
    path: PathBuf,
    /// The whole secret certificate; private: nothing outside this module sees the key material.
    key: SignedSecretKey,
    /// Which of its keys signs.
    signer: Signer,
}

impl fmt::Debug for OpenPgpSigner {
    // Never derive: the derived impl would print the secret key parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenPgpSigner")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl OpenPgpSigner {
    /// Reads an armoured, unprotected secret key from `path`.
    pub fn from_file(path: &Path) -> Result<Self, SigningKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigningKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_armored(path, &text)
    }

    /// Parses an armoured, unprotected secret key; `path` only names it in messages.
    pub fn from_armored(path: &Path, armored: &str) -> Result<Self, SigningKeyError> {
        let invalid = |reason: String| SigningKeyError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let (key, _headers) = SignedSecretKey::from_string(armored).map_err(|e| invalid(e.to_string()))?;
        key.verify_bindings()
            .map_err(|e| invalid(format!("its self-signatures do not verify: {e}")))?;
        let signer = choose_signer(&key).ok_or_else(|| SigningKeyError::NoSigningKey {
            path: path.to_owned(),
        })?;
        let this = Self {
            path: path.to_owned(),
            key,
            signer,
        };
        if this.with_key(|k| k.secret_params().is_encrypted()) {
            return Err(SigningKeyError::Protected {
                path: path.to_owned(),
            });
        }
        Ok(this)
    }

    /// Wraps a key already in memory (tests, key generation); `path` only names it in messages.
    pub fn from_key(path: &Path, key: SignedSecretKey) -> Result<Self, SigningKeyError> {
        let armored =
            key.to_armored_string(ArmorOptions::default())
                .map_err(|e| SigningKeyError::Invalid {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
        Self::from_armored(path, &armored)
    }

    /// The primary key's fingerprint, uppercase hex (what `gpg --list-keys` shows).
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.primary_key.fingerprint().as_bytes())
    }

    /// The public certificate, ASCII-armoured (`signed-by=` accepts it as a `.asc` file).
    pub fn public_key_armored(&self) -> Result<String, FormatError> {
        self.key
            .to_public_key()
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| FormatError::Signing(format!("exporting the public key: {e}")))
    }

    /// The public certificate, binary (a `.gpg` keyring file for `signed-by=`).
    pub fn public_key_binary(&self) -> Result<Vec<u8>, FormatError> {
        self.key
            .to_public_key()
            .to_bytes()
            .map_err(|e| FormatError::Signing(format!("exporting the public key: {e}")))
    }

    /// Runs `f` with the secret key that signs; one place decides primary or subkey.
    fn with_key<T>(&self, f: impl FnOnce(&dyn SecretSigning) -> T) -> T {
        match self.signer {
            Signer::Primary => f(&self.key.primary_key),
            Signer::Subkey(i) => f(&self.key.secret_subkeys[i].key),
        }
    }

    /// The signature settings both signature kinds share: v4, SHA-256, creation time and issuer
    /// fingerprint hashed, issuer key id unhashed (old gpgv looks the key up by it).
    fn config(&self, key: &dyn SecretSigning, typ: SignatureType) -> pgp::errors::Result<SignatureConfig> {
        if key.version() != KeyVersion::V4 {
            // v6 keys need a salted config and are not understood by Debian 12's gpgv.
            return Err(pgp::errors::Error::Unsupported {
                message: format!("key version {:?} (only v4 keys are supported)", key.version()),
                backtrace: None,
            });
        }
        let mut config = SignatureConfig::v4(typ, key.algorithm(), SIGNATURE_HASH);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now()))?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint()))?,
        ];
        config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::IssuerKeyId(
            key.legacy_key_id(),
        ))?];
        Ok(config)
    }
}

/// A secret key that can sign and says whether it is passphrase-protected: the primary key and
/// subkeys have different types in rPGP, this lets one code path handle both.
trait SecretSigning: SigningKey {
    /// Its secret parameters (to tell whether they are encrypted).
    fn secret_params(&self) -> &pgp::types::SecretParams;
}

impl SecretSigning for pgp::packet::SecretKey {
    fn secret_params(&self) -> &pgp::types::SecretParams {
        pgp::packet::SecretKey::secret_params(self)
    }
}

impl SecretSigning for pgp::packet::SecretSubkey {
    fn secret_params(&self) -> &pgp::types::SecretParams {
        pgp::packet::SecretSubkey::secret_params(self)
    }
}

/// The primary key when a self-signature grants it the sign flag, else the first subkey whose
/// binding signature does.
fn choose_signer(key: &SignedSecretKey) -> Option<Signer> {
    let primary_signs = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .any(|s| s.key_flags().sign());
    if primary_signs {
        return Some(Signer::Primary);
    }
    key.secret_subkeys
        .iter()
        .position(|s| s.signatures.iter().any(|sig| sig.key_flags().sign()))
        .map(Signer::Subkey)
}

impl Sign for OpenPgpSigner {
    fn clear_sign(&self, text: &str) -> Result<String, FormatError> {
        let failed = |e: pgp::errors::Error| {
            FormatError::Signing(format!("clear-signing with {}: {e}", self.path.display()))
        };
        self.with_key(|key| {
            let config = self.config(key, SignatureType::Text).map_err(failed)?;
            let signed = CleartextSignedMessage::new(
                text,
                config,
                &Box::new(key as &dyn SigningKey),
                &Password::empty(),
            )
            .map_err(failed)?;
            signed.to_armored_string(ArmorOptions::default()).map_err(failed)
        })
    }

    fn detached_sign(&self, data: &[u8]) -> Result<String, FormatError> {
        let failed = |e: pgp::errors::Error| {
            FormatError::Signing(format!("signing with {}: {e}", self.path.display()))
        };
        self.with_key(|key| {
            let config = self.config(key, SignatureType::Binary).map_err(failed)?;
            let signature = config
                .sign(&Box::new(key as &dyn SigningKey), &Password::empty(), data)
                .map_err(failed)?;
            DetachedSignature::new(signature)
                .to_armored_string(ArmorOptions::default())
                .map_err(failed)
        })
    }
}

/// Generates a new unprotected Ed25519 key (primary key certifies and signs, as
/// `gpg --quick-gen-key` makes it) and returns it armoured, ready to be written to a key file.
pub fn generate_ed25519_armored(user_id: &str) -> Result<String, FormatError> {
    use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder};
    let failed = |e: String| FormatError::Signing(format!("generating a key: {e}"));
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .can_encrypt(EncryptionCaps::None)
        .primary_user_id(user_id.into())
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let key = params
        .generate(rand::thread_rng())
        .map_err(|e| failed(e.to_string()))?;
    key.to_armored_string(ArmorOptions::default())
        .map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> OpenPgpSigner {
        let armored = generate_ed25519_armored("Test <test@example.invalid>").unwrap();
        OpenPgpSigner::from_armored(Path::new("test.asc"), &armored).unwrap()
    }

    #[test]
    fn clear_signature_verifies_and_keeps_the_text() {
        let signer = signer();
        let text = "Origin: x\nDate: Thu, 01 Jan 2026 00:00:00 UTC\n- dash line\n";
        let signed = signer.clear_sign(text).unwrap();
        assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"));
        let (msg, _) = CleartextSignedMessage::from_string(&signed).unwrap();
        msg.verify(&signer.key.to_public_key()).unwrap();
        assert_eq!(msg.signed_text(), text.replace('\n', "\r\n"));
    }

    #[test]
    fn detached_signature_verifies_and_fails_on_other_bytes() {
        let signer = signer();
        let armored = signer.detached_sign(b"Release bytes").unwrap();
        let (sig, _) = DetachedSignature::from_string(&armored).unwrap();
        let public = signer.key.to_public_key();
        sig.verify(&public, b"Release bytes").unwrap();
        assert!(sig.verify(&public, b"Release byteS").is_err());
    }

    /// apt verifies `InRelease` and `Release.gpg` with gpgv (Debian 12): both must pass it, and a
    /// changed byte must not.
    #[test]
    fn gpgv_accepts_both_signatures() {
        let signer = signer();
        let dir = tempfile::tempdir().unwrap();
        let keyring = dir.path().join("key.gpg");
        std::fs::write(&keyring, signer.public_key_binary().unwrap()).unwrap();
        let gpgv = |args: &[&Path]| {
            std::process::Command::new("gpgv")
                .arg("--keyring")
                .arg(&keyring)
                .args(args)
                .output()
                .expect("gpgv (Debian's gpgv package) runs")
        };
        let text = "Codename: test\nSHA256:\n 0123 10 main/binary-all/Packages\n";
        let inrelease = dir.path().join("InRelease");
        std::fs::write(&inrelease, signer.clear_sign(text).unwrap()).unwrap();
        let out = gpgv(&[&inrelease]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let release = dir.path().join("Release");
        let sig = dir.path().join("Release.gpg");
        std::fs::write(&release, text).unwrap();
        std::fs::write(&sig, signer.detached_sign(text.as_bytes()).unwrap()).unwrap();
        let out = gpgv(&[&sig, &release]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        std::fs::write(&release, text.replace("10", "11")).unwrap();
        let out = gpgv(&[&sig, &release]);
        assert!(!out.status.success(), "gpgv accepted changed bytes");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let signer = signer();
        let shown = format!("{signer:?}");
        assert!(shown.contains(&signer.fingerprint()), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.len() < 200, "{shown}");
    }

    #[test]
    fn protected_key_is_refused_by_name() {
        use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder};
        let key = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id("P <p@example.invalid>".into())
            .passphrase(Some("secret".into()))
            .build()
            .unwrap()
            .generate(rand::thread_rng())
            .unwrap();
        let err = OpenPgpSigner::from_key(Path::new("/etc/bm/protected.asc"), key).unwrap_err();
        assert!(matches!(err, SigningKeyError::Protected { .. }), "{err}");
        assert!(err.to_string().contains("/etc/bm/protected.asc"), "{err}");
    }

    #[test]
    fn missing_and_garbage_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.asc");
        let err = OpenPgpSigner::from_file(&missing).unwrap_err();
        assert!(matches!(err, SigningKeyError::Read { .. }));
        assert!(err.to_string().contains("nope.asc"), "{err}");

        let garbage = dir.path().join("garbage.asc");
        std::fs::write(&garbage, "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n").unwrap();
        let err = OpenPgpSigner::from_file(&garbage).unwrap_err();
        assert!(matches!(err, SigningKeyError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("garbage.asc"), "{err}");

        // A public key is not a secret key.
        let public = signer().public_key_armored().unwrap();
        let err = OpenPgpSigner::from_armored(Path::new("pub.asc"), &public).unwrap_err();
        assert!(matches!(err, SigningKeyError::Invalid { .. }), "{err}");
    }
}
