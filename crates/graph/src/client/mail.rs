//! Sending e-mail as a mailbox of the tenant (`POST /users/{from}/sendMail`), for the server's
//! notifications. The app needs the `Mail.Send` application permission, best scoped to the
//! one sending mailbox with an Exchange application access policy.

use super::{ApiError, GraphClient, GraphError, send_with_retry};
use reqwest::header::{ACCEPT, CONTENT_TYPE};

impl GraphClient {
    /// Send a plain-text message from `from` (a UPN or user id) to `to`. Graph answers 202
    /// Accepted: delivery itself is Exchange's.
    pub async fn send_mail(
        &self,
        from: &str,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<(), GraphError> {
        let url = self.api_url(&["users", from, "sendMail"], None);
        let body = serde_json::json!({
            "message": {
                "subject": subject,
                "body": {"contentType": "Text", "content": text},
                "toRecipients": to
                    .iter()
                    .map(|a| serde_json::json!({"emailAddress": {"address": a}}))
                    .collect::<Vec<_>>(),
            },
            "saveToSentItems": false,
        });
        let body = serde_json::to_vec(&body).map_err(|e| GraphError::Decode {
            what: "encoding the sendMail request".into(),
            detail: e.to_string(),
        })?;
        let what = format!("POST {}", url.path());
        let mut refreshed = false;
        loop {
            let token = self.inner.tokens.token().await?;
            let resp = send_with_retry(
                &self.inner.options.retry,
                &*self.inner.options.clock,
                &what,
                |_| {
                    self.inner
                        .http
                        .post(url.clone())
                        .bearer_auth(token.expose())
                        .header(ACCEPT, "application/json")
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone())
                },
            )
            .await?;
            if resp.status.is_success() {
                return Ok(());
            }
            let status = resp.status.as_u16();
            if status == 401 && !refreshed {
                self.inner.tokens.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            return Err(GraphError::Api(Box::new(ApiError::from_response(
                status,
                url.path(),
                &resp.body,
                resp.header("request-id"),
                resp.header("location"),
            ))));
        }
    }
}
