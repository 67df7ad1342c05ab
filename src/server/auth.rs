//! Bearer-token authentication for the mutating endpoints: who is calling ([`Caller`]) and what they
//! may do.
//!
//! Two kinds of token. The operator's **admin token** comes from `BUILDMASTER_API_TOKEN` or
//! `[serve] token_file` and has every right. **Named tokens** come from the tokens file
//! ([`super::tokens`]): each may push only to its repositories, and waive or start builds only when
//! its entry says so; the audit log names the caller `api:<name>` (`api:admin` for the admin token).
//! Only SHA-256 digests are kept, and a presented token is compared by hashing it and comparing the
//! digests in constant time, so neither its bytes nor its length leak through timing. With no token
//! configured at all every mutating endpoint refuses (403) and says how to configure one: a daemon that
//! anyone on the network could steer is never the default.

use std::path::{Path, PathBuf};

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;
use super::tokens::{Rights, ADMIN_NAME};

/// The environment variable that holds the API token; it takes precedence over `[serve] token_file`.
pub const TOKEN_ENV: &str = "BUILDMASTER_API_TOKEN";

/// What a 403 says when no token is configured.
const NO_TOKEN_CONFIGURED: &str = "mutating endpoints are disabled because no API token is configured: \
     set BUILDMASTER_API_TOKEN or `[serve] token_file` in buildmaster.toml and restart the daemon, \
     or add a named token with `buildmaster token add`";

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

/// One right a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    /// Push packages.
    Push,
    /// Promote by hand.
    Promote,
    /// Waive a failing check.
    Waive,
    /// Start buildruns and steer the daemon.
    Build,
}

impl Right {
    fn held_in(self, rights: &Rights) -> bool {
        match self {
            Self::Push => rights.push,
            Self::Promote => rights.promote,
            Self::Waive => rights.waive,
            Self::Build => rights.build,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Promote => "promote",
            Self::Waive => "waive",
            Self::Build => "build",
        }
    }
}

/// Where a caller may push.
#[derive(Clone, Debug)]
enum Scope {
    /// Everywhere (the admin token).
    All,
    /// The repositories whose ids match one of these globs.
    Only(Vec<glob::Pattern>),
}

/// Who made a request, proven by its bearer token. Handlers of mutating endpoints take it (or
/// [`Authorized`]) as their first argument, so that no body is parsed before the caller is known.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name (`admin` for the operator's token).
    name: String,
    /// What it may do.
    rights: Rights,
    /// Where it may push, waive and promote.
    scope: Scope,
}

impl Caller {
    /// The admin token's caller: every right, every repository.
    pub fn admin() -> Self {
        Self {
            name: ADMIN_NAME.into(),
            rights: Rights::ALL,
            scope: Scope::All,
        }
    }

    /// The token's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The audit log's "who": `api:<name>`.
    pub fn who(&self) -> String {
        format!("api:{}", self.name)
    }

    /// Refuses (403, naming the token and the right) unless the caller holds `right`.
    pub fn require(&self, right: Right) -> Result<(), ApiError> {
        if right.held_in(&self.rights) {
            return Ok(());
        }
        tracing::warn!(token = %self.name, right = right.as_str(), "API request refused: right not held");
        Err(ApiError::Forbidden(format!(
            "token {:?} may not {} (its rights: {})",
            self.name,
            right.as_str(),
            self.rights.describe()
        )))
    }

    /// Refuses (403, naming the token and the right or the repository) unless the caller holds `right`
    /// and `repository` is in its scope: pushing, waiving and promoting are scoped alike.
    pub fn require_on(&self, right: Right, repository: &str) -> Result<(), ApiError> {
        self.require(right)?;
        let Scope::Only(patterns) = &self.scope else {
            return Ok(());
        };
        if patterns.iter().any(|p| p.matches(repository)) {
            return Ok(());
        }
        tracing::warn!(token = %self.name, right = right.as_str(), repository, "API request refused: repository out of the token's scope");
        let allowed: Vec<&str> = patterns.iter().map(glob::Pattern::as_str).collect();
        Err(ApiError::Forbidden(format!(
            "token {:?} may not {} in {repository} (its repositories: {})",
            self.name,
            right.as_str(),
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        )))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let named = app.token_registry().map(|registry| registry.tokens());
        let any_named = named.as_ref().is_some_and(|tokens| !tokens.is_empty());
        if app.token().is_none() && !any_named {
            return Err(ApiError::Forbidden(NO_TOKEN_CONFIGURED.into()));
        }
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        if app.token().is_some_and(|admin| admin.matches(presented)) {
            return Ok(Self::admin());
        }
        if let Some(token) = app.token_registry().and_then(|registry| registry.find(presented)) {
            return Ok(Self {
                name: token.name,
                rights: token.rights,
                scope: Scope::Only(token.repositories),
            });
        }
        tracing::warn!("API request with a wrong or revoked bearer token refused");
        Err(ApiError::Unauthorized)
    }
}

/// Proof that the request carried a token with the `build` right (the admin token has it): the
/// daemon's control endpoints take it.
#[derive(Debug)]
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, app)
            .await?
            .require(Right::Build)
            .map(|()| Authorized)
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
