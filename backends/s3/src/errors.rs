//! Turning aws-sdk-s3 errors into [`StorageError`]s: the right [`ErrorKind`], a message that names the
//! bucket and endpoint and says what to do, and never a secret.
//!
//! The SDK's plain `Display` says only "service error"; [`DisplayErrorContext`] prints the whole chain
//! (HTTP status, S3 error code, server message, connector error). That text comes from the server and
//! the network stack, so as a second line of defence the configured secret key is scrubbed from it
//! before it goes anywhere. The SDK error itself is not attached as `source`, so nothing unscrubbed can
//! be printed through an error chain either.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use buildmaster_storage::{ErrorKind, ObjectKey, Operation, StorageError};

use crate::settings::Secret;

/// S3 error codes that mean the request was fine but the server could not serve it now.
/// <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList>
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
];

/// S3 error codes that mean the credentials are wrong or lack permission.
const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
];

/// What every error message needs to name: where the bucket is, and what must never be printed.
#[derive(Clone)]
pub(crate) struct ErrorContext {
    /// `s3://bucket/prefix at endpoint`, the same text as `describe()`.
    pub(crate) location: String,
    /// The bucket name, for "bucket does not exist" and "access denied" advice.
    pub(crate) bucket: String,
    /// The configured secret key, scrubbed from every message.
    pub(crate) secret: Option<Secret>,
}

impl ErrorContext {
    /// Maps an SDK error of any operation.
    pub(crate) fn sdk<E>(&self, op: Operation, key: Option<&ObjectKey>, err: &SdkError<E>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (kind, advice) = self.classify(err);
        let detail = match err {
            // The server's own words are the useful part; `DisplayErrorContext` would add a Debug dump
            // of the raw response (headers, XML body) that buries them.
            SdkError::ServiceError(service) => format!(
                "HTTP {} {}: {}",
                service.raw().status().as_u16(),
                err.code().unwrap_or("(no error code)"),
                err.message().unwrap_or("(no message)")
            ),
            // Connector, timeout and construction failures: the whole source chain (connection
            // refused, DNS, TLS) is what explains them.
            _ => DisplayErrorContext(err).to_string(),
        };
        let detail = self.scrub(&detail);
        StorageError::new(op, key, kind, format!("{advice} ({}): {detail}", self.location))
    }

    /// An error of our own making (a protocol surprise), scrubbed like the others.
    pub(crate) fn other(
        &self,
        op: Operation,
        key: Option<&ObjectKey>,
        kind: ErrorKind,
        message: &str,
    ) -> StorageError {
        StorageError::new(
            op,
            key,
            kind,
            format!("{} ({})", self.scrub(message), self.location),
        )
    }

    fn classify<E>(&self, err: &SdkError<E>) -> (ErrorKind, String)
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let bucket = &self.bucket;
        match err {
            SdkError::ConstructionFailure(_) => (
                ErrorKind::Permanent,
                "could not build the S3 request (are credentials configured?)".into(),
            ),
            SdkError::TimeoutError(_) => (ErrorKind::Transient, "S3 request timed out".into()),
            // The credential chain fails inside the dispatch step; its error type is not exposed by the
            // SDK, but its message is stable ("an error occurred while loading credentials").
            SdkError::DispatchFailure(_) if DisplayErrorContext(err).to_string().contains("credentials") => (
                ErrorKind::Permanent,
                "no usable S3 credentials: set access_key_id and secret_access_key, or configure the \
                 AWS credential chain (environment, profile, SSO, role)"
                    .into(),
            ),
            SdkError::DispatchFailure(failure) if failure.is_user() => (
                ErrorKind::Permanent,
                "S3 request could not be sent (check endpoint_url and the credential chain)".into(),
            ),
            SdkError::DispatchFailure(_) => (
                ErrorKind::Transient,
                "could not reach the S3 endpoint (connection refused, reset or timed out)".into(),
            ),
            SdkError::ResponseError(_) => (
                ErrorKind::Transient,
                "S3 response was cut short or unreadable".into(),
            ),
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = err.code().unwrap_or_default();
                classify_service(bucket, status, code)
            }
            _ => (ErrorKind::Transient, "unexpected S3 failure".into()),
        }
    }

    /// Removes the secret key from `text`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.secret {
            Some(secret) if !secret.expose().is_empty() => text.replace(secret.expose(), "<redacted>"),
            _ => text.to_owned(),
        }
    }
}

/// Classifies an answer from the server by HTTP status and S3 error code.
fn classify_service(bucket: &str, status: u16, code: &str) -> (ErrorKind, String) {
    if code == "NoSuchBucket" {
        return (
            ErrorKind::Permanent,
            format!("bucket '{bucket}' does not exist: check bucket_name and endpoint_url"),
        );
    }
    if status == 403 || ACCESS_CODES.contains(&code) {
        return (
            ErrorKind::Permanent,
            format!(
                "access to bucket '{bucket}' denied: check access_key_id/secret_access_key (or the AWS \
                 credential chain) and the key's permissions on the bucket"
            ),
        );
    }
    if status == 404 {
        return (ErrorKind::NotFound, "no such object".into());
    }
    if status == 412 {
        // Only sent for our If-Match on ranged downloads: the object was replaced while being read.
        return (
            ErrorKind::Transient,
            "object changed while it was being downloaded; download it again".into(),
        );
    }
    if status == 408 || status == 429 || status >= 500 || TRANSIENT_CODES.contains(&code) {
        return (
            ErrorKind::Transient,
            format!("S3 server answered {status} {code}"),
        );
    }
    (
        ErrorKind::Permanent,
        format!("S3 server refused the request ({status} {code})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_map_to_kinds() {
        let kind = |status, code| classify_service("packages", status, code).0;
        assert_eq!(kind(404, "NoSuchBucket"), ErrorKind::Permanent);
        assert_eq!(kind(404, "NoSuchKey"), ErrorKind::NotFound);
        assert_eq!(kind(404, ""), ErrorKind::NotFound);
        assert_eq!(kind(403, "AccessDenied"), ErrorKind::Permanent);
        assert_eq!(kind(400, "InvalidAccessKeyId"), ErrorKind::Permanent);
        assert_eq!(kind(503, "SlowDown"), ErrorKind::Transient);
        assert_eq!(kind(500, "InternalError"), ErrorKind::Transient);
        assert_eq!(kind(429, ""), ErrorKind::Transient);
        assert_eq!(kind(400, "RequestTimeout"), ErrorKind::Transient);
        assert_eq!(kind(400, "InvalidArgument"), ErrorKind::Permanent);
        assert!(classify_service("packages", 404, "NoSuchBucket")
            .1
            .contains("'packages'"));
    }

    #[test]
    fn secrets_are_scrubbed() {
        let context = ErrorContext {
            location: "s3://b at http://127.0.0.1:1".into(),
            bucket: "b".into(),
            secret: Some(Secret::new("s3cr3t")),
        };
        let err = context.other(Operation::Put, None, ErrorKind::Permanent, "server said s3cr3t!");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        assert!(err.to_string().contains("<redacted>"), "{err}");
    }
}
