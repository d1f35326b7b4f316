//! `POST /v1.0/users/{id | userPrincipalName}/sendMail`: what Graph checks (the `Mail.Send`
//! application permission, a mailbox user that exists, a message with at least one recipient
//! and a subject or body) and its answer, 202 Accepted with no body. Sent messages are kept for
//! tests ([`crate::RunningEmulator::sent_mail`]); nothing is delivered.

use std::sync::{Arc, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::access::Caller;
use super::reply::GraphError;
use super::state::Shared;

/// One accepted message: the sender as addressed and the request's `message` object.
pub(crate) fn record(shared: &Shared, from: &str, message: &Value) {
    shared
        .sent_mail
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(json!({"from": from, "message": message}));
}

pub(crate) async fn send_mail(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(key): Path<String>,
    body: Option<Json<Value>>,
) -> Result<StatusCode, GraphError> {
    if !caller.has_permission("Mail.Send") {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ));
    }
    if shared.tenant.read().await.user(&key).is_none() {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            format!("The requested user '{key}' is invalid."),
        ));
    }
    let Some(Json(body)) = body else {
        return Err(GraphError::bad_request(
            "Empty Payload. JSON content expected.",
        ));
    };
    let message = &body["message"];
    let recipients = message["toRecipients"].as_array().map_or(0, |r| {
        r.iter()
            .filter(|x| {
                x["emailAddress"]["address"]
                    .as_str()
                    .is_some_and(|a| a.contains('@'))
            })
            .count()
    });
    if recipients == 0 {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid., Recipient is missing.",
        ));
    }
    record(&shared, &key, message);
    Ok(StatusCode::ACCEPTED)
}
