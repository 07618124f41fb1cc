//! Facilities' webhooks for case-management systems ([`crate::webhooks`]):
//! added, listed and removed by an administrator, with the events each gave
//! up on.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::rights::ApiAction;
use crate::store::audit::AuditRecord;
use crate::store::webhooks::{DeadLetter, NewWebhook, Webhook};
use crate::webhooks::signature;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest webhook URL, in characters.
const MAX_URL_CHARS: usize = 2_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// Where events are posted: `https://…` (or `http://` for a receiver on
    /// the same host or network).
    pub url: String,
}

/// A new webhook with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// The key of the `Parley-Signature` header's HMAC-SHA256: this text
    /// as given (64 hex characters), its bytes the key. Keep it in the
    /// receiving system.
    pub secret: String,
}

/// `url` if it is an http(s) URL with a host, else why not.
fn checked_url(url: &str) -> Result<&str, ApiError> {
    let url = url.trim();
    let bad = |why: &str| ApiError::BadRequest(format!("`url` {why}: {url:?}"));
    if url.chars().count() > MAX_URL_CHARS {
        return Err(bad(&format!("is longer than {MAX_URL_CHARS} characters")));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || host.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("must name a host, without credentials or spaces"));
    }
    Ok(url)
}

#[utoipa::path(post, path = "/v1/facilities/{id}/webhooks", request_body = NewWebhookRequest, security(("bearer" = [])),
    responses((status = 201, body = CreatedWebhook), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(facility_id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    caller.require(ApiAction::ManageWebhooks)?;
    let url = checked_url(&req.url)?;
    let secret = signature::new_secret();
    let mut w = state.store.write().await?;
    w.facility(facility_id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", facility_id))?;
    let from_seq = w.audit_head_seq().await?;
    let id = w
        .insert_webhook(&NewWebhook {
            facility_id,
            url,
            secret: &secret,
            created_by: caller.0.id,
            now: state.now().timestamp(),
            from_seq,
        })
        .await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "webhook.create", "created").details(
                serde_json::json!({"webhook_id": id, "facility_id": facility_id, "url": url}),
            ),
        )
        .await?;
    let webhook = w
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::Internal("the new webhook could not be read back".into()))?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook, secret }),
    ))
}

#[utoipa::path(get, path = "/v1/facilities/{id}/webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(facility_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Webhook>>> {
    caller.require(ApiAction::ManageWebhooks)?;
    let mut read = state.store.read();
    read.facility(facility_id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", facility_id))?;
    let hooks = read.webhooks(Some(facility_id), false).await?;
    Ok(Json(hooks.into_iter().map(|(h, _)| h).collect()))
}

async fn existing(state: &AppState, caller: &Caller, id: i64) -> ApiResult<Webhook> {
    caller.require(ApiAction::ManageWebhooks)?;
    state
        .store
        .read()
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook", id))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/dead-letters", security(("bearer" = [])),
    responses((status = 200, body = Vec<DeadLetter>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<DeadLetter>>> {
    existing(&state, &caller, id).await?;
    Ok(Json(state.store.read().dead_letters(id).await?))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let hook = existing(&state, &caller, id).await?;
    let mut w = state.store.write().await?;
    w.deactivate_webhook(id).await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "webhook.remove", "removed")
                .details(serde_json::json!({"webhook_id": id, "facility_id": hook.facility_id})),
        )
        .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_taken() {
        assert!(checked_url(" https://cms.example/hooks/parley ").is_ok());
        assert!(checked_url("http://127.0.0.1:9000/in").is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https:///path",
            "https://user:pw@host/",
            "https://host/a b",
            "javascript:alert(1)",
        ] {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
        assert!(checked_url(&format!("https://h/{}", "a".repeat(2_000))).is_err());
    }
}
