//! The mutating endpoints: each checks the bearer token, validates its body, hands the daemon's own
//! [`Request`] to it through the `mpsc` channel in [`AppState`] and answers 202 Accepted. The daemon
//! decides when to act (one job at a time, identical pending requests collapse); the effect shows up in
//! `/api/events`, `/api/daemon` and `/api/buildruns`.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::error::TrySendError;

use super::auth::Authorized;
use super::error::ApiError;
use super::state::AppState;
use crate::daemon::control::Request;
use crate::plan::instance::Wanted;

/// Most ports one request may name; a larger list is almost certainly a client bug.
pub const MAX_PORTS_PER_REQUEST: usize = 10_000;

/// The body of `POST /api/buildruns`: exactly one of the three keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildrunBody {
    /// `{"ports": ["name", ...]}`.
    ports: Option<Vec<String>>,
    /// `{"everything": true}`.
    #[serde(default)]
    everything: bool,
    /// `{"update": true}`.
    #[serde(default)]
    update: bool,
}

impl BuildrunBody {
    fn selection(self) -> Result<Wanted, ApiError> {
        let usage = "the body must be exactly one of {\"ports\": [\"name\", ...]}, {\"everything\": true}, \
                     {\"update\": true}";
        match (self.ports, self.everything, self.update) {
            (Some(ports), false, false) => {
                validate_ports(&ports)?;
                Ok(Wanted::Ports(ports))
            }
            (None, true, false) => Ok(Wanted::Everything),
            (None, false, true) => Ok(Wanted::Update),
            _ => Err(ApiError::BadRequest(usage.into())),
        }
    }
}

/// Port names are what recipe file names allow: letters, digits and `_ . + -`, and a version after a `-`.
fn validate_ports(ports: &[String]) -> Result<(), ApiError> {
    if ports.is_empty() {
        return Err(ApiError::BadRequest(
            "\"ports\" is empty: name at least one port".into(),
        ));
    }
    if ports.len() > MAX_PORTS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "\"ports\" names {} ports; at most {MAX_PORTS_PER_REQUEST} per request",
            ports.len()
        )));
    }
    for port in ports {
        let valid = !port.is_empty()
            && port.len() <= 256
            && !port.starts_with(['.', '-'])
            && port
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-' | '~'));
        if !valid {
            return Err(ApiError::BadRequest(format!(
                "port name {} is not valid: use letters, digits and _ . + - ~ (at most 256)",
                super::error::echo(port)
            )));
        }
    }
    Ok(())
}

/// The 202 body: what was queued.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// The request as the daemon received it.
    pub accepted: Request,
}

/// What a mutating endpoint answers.
pub type AcceptedResponse = Result<(StatusCode, Json<Accepted>), ApiError>;

/// Hands `request` to the daemon without waiting: a full queue means the daemon is busy, a closed one that
/// it is shutting down; both are worth a retry later.
fn submit(app: &AppState, request: Request) -> AcceptedResponse {
    match app.control().try_send(request.clone()) {
        Ok(()) => {
            tracing::info!(?request, "control request accepted");
            Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: request })))
        }
        Err(TrySendError::Full(_)) => Err(ApiError::Unavailable(
            "the daemon has too many pending requests; retry in a moment".into(),
        )),
        Err(TrySendError::Closed(_)) => Err(ApiError::Unavailable(
            "the daemon is not accepting requests (shutting down)".into(),
        )),
    }
}

/// `POST /api/buildruns`.
pub async fn start_buildrun(
    _auth: Authorized,
    State(app): State<AppState>,
    body: Result<Json<BuildrunBody>, JsonRejection>,
) -> AcceptedResponse {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(format!("request body: {}", e.body_text())))?;
    submit(&app, Request::Buildrun(body.selection()?))
}

/// `POST /api/publish`.
pub async fn publish(_auth: Authorized, State(app): State<AppState>) -> AcceptedResponse {
    submit(&app, Request::Publish)
}

/// `POST /api/pause`.
pub async fn pause(_auth: Authorized, State(app): State<AppState>) -> AcceptedResponse {
    submit(&app, Request::Pause)
}

/// `POST /api/resume`.
pub async fn resume(_auth: Authorized, State(app): State<AppState>) -> AcceptedResponse {
    submit(&app, Request::Resume)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Wanted, String> {
        let body: BuildrunBody = serde_json::from_str(json).map_err(|e| e.to_string())?;
        body.selection().map_err(|e| e.to_string())
    }

    #[test]
    fn exactly_one_selection() {
        assert_eq!(
            parse(r#"{"ports": ["bash", "zlib-1.3"]}"#).unwrap(),
            Wanted::Ports(vec!["bash".into(), "zlib-1.3".into()])
        );
        assert_eq!(parse(r#"{"everything": true}"#).unwrap(), Wanted::Everything);
        assert_eq!(parse(r#"{"update": true}"#).unwrap(), Wanted::Update);
        assert!(parse(r#"{}"#).is_err());
        assert!(parse(r#"{"update": true, "everything": true}"#).is_err());
        assert!(parse(r#"{"ports": []}"#).is_err());
        assert!(parse(r#"{"port": ["x"]}"#).unwrap_err().contains("port"));
    }

    #[test]
    fn port_names_cannot_smuggle_paths_or_options() {
        for bad in ["../etc", "-rf", "a b", "a/b", ".hidden", "x;y"] {
            assert!(parse(&format!(r#"{{"ports": ["{bad}"]}}"#)).is_err(), "{bad}");
        }
    }
}
