//! A scratch build's verdict, POSTed as JSON to `[scratch] webhook_url` in the shape of a commit status
//! (GitHub's `POST /repos/…/statuses/{sha}` takes `state`, `context`, `description`; GitLab's
//! `POST /projects/…/statuses/{sha}` takes `state`, `name`, `ref`, `description`) that a small relay or
//! a generic CI can pass on. A failed call is logged and never fails the scratch build.

use serde::Serialize;

/// The commit-status context scratch builds report under.
pub const CONTEXT: &str = "buildmaster/scratch";

/// The JSON body of the webhook call.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Verdict {
    /// `success`, `failure` (a build or a blocking check failed) or `error` (the scratch build could
    /// not run).
    pub state: String,
    /// The commit that was built.
    pub sha: String,
    /// The ref as asked for.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Always [`CONTEXT`].
    pub context: String,
    /// One line: what was built and what failed.
    pub description: String,
    /// The scratch build's number.
    pub pipeline: u64,
}

/// POSTs `verdict` to `url`; the status code, or why the call failed (for the log).
pub async fn post(url: &str, verdict: &Verdict) -> Result<u16, String> {
    let body = serde_json::to_vec(verdict).map_err(|e| e.to_string())?;
    crate::daemon::webhook::post(url, Some(body)).await
}

/// Calls the webhook, logging the outcome (the URL only as [`crate::daemon::webhook::redacted`]).
pub async fn report(url: Option<&str>, verdict: &Verdict) {
    let Some(url) = url else {
        return;
    };
    let shown = crate::daemon::webhook::redacted(url);
    match post(url, verdict).await {
        Ok(status) if (200..300).contains(&status) => {
            tracing::info!(url = %shown, status, pipeline = verdict.pipeline, "scratch verdict reported")
        }
        Ok(status) => {
            tracing::warn!(url = %shown, status, pipeline = verdict.pipeline, "scratch webhook refused the verdict")
        }
        Err(err) => tracing::warn!(url = %shown, %err, pipeline = verdict.pipeline, "scratch webhook failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Verdict {
        Verdict {
            state: "success".into(),
            sha: "0123".into(),
            reference: "feature/x".into(),
            context: CONTEXT.into(),
            description: "built".into(),
            pipeline: 3,
        }
    }

    #[test]
    fn the_body_has_the_commit_status_fields() {
        let body = serde_json::to_value(verdict()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"state": "success", "sha": "0123", "ref": "feature/x",
                "context": "buildmaster/scratch", "description": "built", "pipeline": 3})
        );
    }

    #[tokio::test]
    async fn an_unreachable_webhook_is_an_error_to_log_not_a_panic() {
        // A port just released: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/status");
        assert!(post(&url, &verdict()).await.is_err());
        report(Some(&url), &verdict()).await;
        assert!(post("not a url", &verdict()).await.is_err());
    }
}
