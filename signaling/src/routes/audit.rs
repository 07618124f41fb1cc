//! Reading and verifying the audit log through the API.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::model::CallerRole;
use crate::rights::ApiAction;
use crate::routes::MAX_LIST;
use crate::store::audit::{AuditEntry, ChainSummary, VerifyError};
use axum::Json;
use axum::extract::State;
use parley_policy::SessionKind;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries of this session (required for judges and clerks).
    pub session_id: Option<i64>,
    /// Only entries after this sequence number.
    pub after: Option<i64>,
    /// At most this many entries (1..=500, default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such session (when filtering by one)", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    caller.require(ApiAction::ReadAuditLog)?;
    if caller.role() != CallerRole::Admin {
        let id = q.session_id.ok_or_else(|| {
            ApiError::Forbidden(
                "judges and clerks read the audit log of one hearing: give `session_id`".into(),
            )
        })?;
        let s = state
            .store
            .read()
            .session(id)
            .await?
            .ok_or_else(|| ApiError::not_found("session", id))?;
        if s.kind != SessionKind::CourtHearing {
            return Err(ApiError::Forbidden(
                "judges and clerks read the audit log of hearings only".into(),
            ));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIST}"
        )));
    }
    Ok(Json(
        state
            .store
            .read()
            .audit_entries(q.session_id, q.after.unwrap_or(0), limit)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/audit/verify", security(("bearer" = [])),
    responses((status = 200, body = ChainSummary), (status = 409, description = "The chain is broken", body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ChainSummary>> {
    caller.require(ApiAction::VerifyAuditLog)?;
    match state.store.read().verify_audit_chain().await {
        Ok(summary) => Ok(Json(summary)),
        Err(VerifyError::Broken(b)) => Err(ApiError::Conflict(b.to_string())),
        Err(VerifyError::Store(e)) => Err(e.into()),
    }
}
