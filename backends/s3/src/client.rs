//! Building the aws-sdk-s3 client from [`S3Settings`].
//!
//! Two settings matter for S3-compatible servers: path-style addressing (self-hosted servers have no
//! wildcard DNS) and checksum mode "when required". Since aws-sdk-s3 1.69 the SDK sends CRC checksums by
//! default, which several servers reject (garage wants a matching `ChecksumAlgorithm` at
//! CreateMultipartUpload, R2 and older MinIO refuse some of them); we keep the SHA-256 as object
//! metadata instead. The SDK's own retries are switched off: retries happen in one place, the
//! storage crate's `RetryPolicy`, so attempts never multiply.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::Client;

use crate::settings::S3Settings;

/// Region used when neither the settings nor the AWS chain name one. garage and MinIO default to it.
const FALLBACK_REGION: &str = "us-east-1";

/// How long to wait for a TCP (and TLS) connection. A server that does not accept within this is down
/// or unreachable; the error is transient and `RetryPolicy` decides about another attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a response to start. Generous because a busy server may take a
/// while to start answering a large CompleteMultipartUpload or CopyObject.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the client. Static credentials when the settings carry keys, else the AWS default chain.
pub(crate) async fn build_client(settings: &S3Settings) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region_name {
        loader = loader.region(Region::new(region.clone()));
    }
    if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.expose(),
            None,
            None,
            "buildmaster-storage-config",
        ));
    }
    if settings.endpoint_url.as_deref().is_some_and(is_plain_http) {
        loader = loader.http_client(aws_smithy_http_client::Builder::new().build_http());
    }
    let shared = loader.load().await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(settings.force_path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .build(),
        );
    // The SDK's stalled-stream protection stays on (its default): `READ_TIMEOUT` only bounds the wait
    // for a response's first byte, and it is what notices a server that stops mid-body.
    if shared.region().is_none() {
        builder = builder.region(Region::new(FALLBACK_REGION));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        builder = builder.endpoint_url(endpoint.clone());
    }
    Client::from_conf(builder.build())
}

/// Whether `endpoint` is a plain `http://` URL (a server on loopback, as garage is in every test and
/// bench here). Such an endpoint gets an HTTP client without TLS: the SDK's default client reads and
/// parses the platform's whole root certificate store when it is built (~10–14 ms of every short command
/// such as a push, measured with strace), and none of it can be used over plain HTTP.
fn is_plain_http(endpoint: &str) -> bool {
    endpoint
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::is_plain_http;

    #[test]
    fn only_http_endpoints_skip_tls() {
        assert!(is_plain_http("http://127.0.0.1:3900"));
        assert!(is_plain_http("HTTP://localhost"));
        assert!(!is_plain_http("https://s3.example.com"));
        assert!(!is_plain_http("http"));
        assert!(!is_plain_http(""));
    }
}
