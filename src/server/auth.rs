//! Bearer-token authentication for the mutating endpoints.
//!
//! The token comes from `BUILDMASTER_API_TOKEN` or `[serve] token_file`. Only its SHA-256 is kept in
//! memory, and a presented token is compared by hashing it and comparing the digests in constant time, so
//! neither the token's bytes nor its length leak through timing. With no token configured every mutating
//! endpoint refuses (403) and says how to configure one: a daemon that anyone on the network could steer is
//! never the default.

use std::path::{Path, PathBuf};

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;

/// The environment variable that holds the API token; it takes precedence over `[serve] token_file`.
pub const TOKEN_ENV: &str = "BUILDMASTER_API_TOKEN";

/// What a 403 says when no token is configured.
const NO_TOKEN_CONFIGURED: &str = "mutating endpoints are disabled because no API token is configured: \
     set BUILDMASTER_API_TOKEN or `[serve] token_file` in buildmaster.toml and restart the daemon";

/// The configured API token (only its digest).
#[derive(Clone)]
pub struct ApiToken {
    /// SHA-256 of the token.
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// Why the API token could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read.
    #[error("reading the API token file {path} (`[serve] token_file`): {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The token is empty (after trimming whitespace).
    #[error(
        "the API token from {origin} is empty; put a long random string there (e.g. `openssl rand -hex 32`)"
    )]
    Empty {
        /// Where it came from: the environment variable or the file.
        origin: String,
    },
}

impl ApiToken {
    /// A token from its secret text (surrounding whitespace, such as a file's trailing newline, is not part
    /// of it). `origin` names where it came from, for the error.
    pub fn new(secret: &str, origin: &str) -> Result<Self, TokenError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(TokenError::Empty {
                origin: origin.to_string(),
            });
        }
        Ok(Self {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    /// The configured token: `env_value` (the value of [`TOKEN_ENV`], if set) first, else the contents of
    /// `token_file`, else none.
    pub fn load(env_value: Option<String>, token_file: Option<&Path>) -> Result<Option<Self>, TokenError> {
        if let Some(value) = env_value {
            return Self::new(&value, TOKEN_ENV).map(Some);
        }
        let Some(path) = token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        crate::config::secrets::warn_if_readable_by_others(path, "the API token file");
        Self::new(&text, &path.display().to_string()).map(Some)
    }

    /// Whether `presented` is the token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// Proof that the request carried the configured bearer token. Handlers of mutating endpoints take it as
/// their first argument, so that no body is parsed before the caller is known.
#[derive(Debug)]
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = app.token() else {
            return Err(ApiError::Forbidden(NO_TOKEN_CONFIGURED.into()));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        if token.matches(presented.trim()) {
            Ok(Authorized)
        } else {
            tracing::warn!("API request with a wrong bearer token refused");
            Err(ApiError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_token() {
        let token = ApiToken::new("s3cret\n", "test").unwrap();
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret2"));
        assert!(!token.matches(""));
    }

    #[test]
    fn empty_tokens_are_refused_naming_the_origin() {
        let err = ApiToken::new("  \n", "/etc/token").unwrap_err();
        assert!(err.to_string().contains("/etc/token"), "{err}");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let token = ApiToken::load(Some("from-env".into()), Some(&file))
            .unwrap()
            .unwrap();
        assert!(token.matches("from-env"));
        let token = ApiToken::load(None, Some(&file)).unwrap().unwrap();
        assert!(token.matches("from-file"));
        assert!(ApiToken::load(None, None).unwrap().is_none());
        let missing = ApiToken::load(None, Some(&dir.path().join("nope"))).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = ApiToken::new("hunter2", "test").unwrap();
        assert!(!format!("{token:?}").contains("hunter2"));
    }
}
