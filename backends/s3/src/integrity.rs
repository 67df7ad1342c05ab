//! How an upload's bytes are protected on the way to the server.
//!
//! SigV4 can sign the payload (`x-amz-content-sha256` = SHA-256 of the body): the client hashes every
//! byte once more (on top of the SHA-256 we record as metadata) and the server hashes it again to check.
//! On a machine where the S3 server shares the cores with us, that second and third SHA-256 pass is a
//! large part of the cost of an upload. Instead, with `upload_checksums` on (the default), each
//! PutObject / UploadPart carries `x-amz-checksum-crc32c`, which the server verifies before storing the
//! part (a corrupted body is rejected), and the payload itself is sent as `UNSIGNED-PAYLOAD` (the
//! headers are still signed). CRC32C runs in hardware (SSE 4.2 / ARMv8 CRC) at many GB/s on both ends.
//! The multipart upload is created with `ChecksumAlgorithm: CRC32C` and completed with every part's
//! checksum, which servers such as garage require to be consistent.
//!
//! One refinement: the temporary upload of a body whose SHA-256 is only known at the end (see `put.rs`)
//! is later copied to its key, and a multipart object that *has* a checksum must be re-read and rewritten
//! by the server when it is copied (AWS's rule, which garage follows: its copy otherwise only adds
//! references to the stored blocks; 1 GiB took ~11 s instead of ~8 s that way). So that upload is
//! created *without* a checksum algorithm and completed without part checksums, while each UploadPart
//! still carries its CRC32C, which the server verifies on receipt ([`PartProtection::VerifiedOnly`]).
//! Not every server takes that combination: AWS S3 refuses a part checksum on an upload created without
//! one ("Checksum Type mismatch occurred, expected checksum Type: null"). A refused part is sent again
//! with a signed payload, and the backend signs every later temporary upload's parts
//! ([`refused_unlisted_checksum`]).
//!
//! With `upload_checksums` off (servers that reject checksum headers), payloads are signed as before:
//! the signature covers the body.
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>

/// How the parts of one multipart upload are protected on their way to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PartProtection {
    /// CRC32C per part, verified by the server; the upload is created with `ChecksumAlgorithm: CRC32C`
    /// and completed with every part's checksum, so the object keeps a checksum.
    Listed,
    /// CRC32C per part, verified by the server on receipt; the upload has no checksum algorithm and is
    /// completed without part checksums, so the object has none and a copy of it stays cheap.
    VerifiedOnly,
    /// SigV4-signed payloads: the signature covers each part's body.
    Signed,
}

impl PartProtection {
    /// Whether each UploadPart carries `x-amz-checksum-crc32c` (and an unsigned payload).
    pub(crate) fn sends_crc32c(self) -> bool {
        self != Self::Signed
    }

    /// Whether the upload is created with, and completed listing, CRC32C checksums.
    pub(crate) fn lists_crc32c(self) -> bool {
        self == Self::Listed
    }
}

/// Whether a server error answers a [`PartProtection::VerifiedOnly`] part with "this upload takes no
/// checksums" (AWS S3: `InvalidRequest`, "Checksum Type mismatch occurred, expected checksum Type:
/// null, actual checksum Type: crc32c"), as opposed to a checksum that did not match (`BadDigest`) or
/// any other failure.
pub(crate) fn refused_unlisted_checksum(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("InvalidRequest")
        && message.is_some_and(|m| m.to_ascii_lowercase().contains("checksum type"))
}

/// The `x-amz-checksum-crc32c` value of `data`: base64 of the big-endian CRC32C (Castagnoli).
pub(crate) fn crc32c_base64(data: &[u8]) -> String {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32;
    base64(&crc.to_be_bytes())
}

/// Standard base64 with padding (RFC 4648 §4) of a short value.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_reference_value() {
        // RFC 3720 (iSCSI) check value: CRC32C("123456789") = 0xE3069283.
        assert_eq!(crc32c_base64(b"123456789"), base64(&0xE306_9283u32.to_be_bytes()));
        assert_eq!(base64(&[0xE3, 0x06, 0x92, 0x83]), "4waSgw==");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn only_a_checksum_type_refusal_switches_temporary_uploads_to_signed_payloads() {
        let aws =
            "Checksum Type mismatch occurred, expected checksum Type: null, actual checksum Type: crc32c";
        assert!(refused_unlisted_checksum(Some("InvalidRequest"), Some(aws)));
        // A corrupted part is not a refusal of the scheme: it must fail (and be retried) as it is.
        assert!(!refused_unlisted_checksum(
            Some("BadDigest"),
            Some("The CRC32C you specified did not match the calculated checksum.")
        ));
        assert!(!refused_unlisted_checksum(
            Some("InvalidRequest"),
            Some("Invalid part number")
        ));
        assert!(!refused_unlisted_checksum(Some("InvalidRequest"), None));
        assert!(!refused_unlisted_checksum(None, Some(aws)));
    }
}
