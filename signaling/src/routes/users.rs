//! API users: who may call the API, with which role.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::model::{ApiUser, CallerRole};
use crate::rights::ApiAction;
use crate::routes::{MAX_TEXT_CHARS, text};
use crate::store::audit::AuditRecord;
use crate::store::users;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: CallerRole,
    /// Required for officers and reviewers: the facility they work for.
    pub facility_id: Option<i64>,
    /// Required for visitors: the contact they are.
    pub contact_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: ApiUser,
    /// The bearer token; shown only now, store it safely.
    pub token: String,
}

#[utoipa::path(post, path = "/v1/users", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such facility or contact", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    caller.require(ApiAction::CreateUsers)?;
    let name = text("name", &req.name, MAX_TEXT_CHARS)?;
    match req.role {
        CallerRole::Officer | CallerRole::Reviewer => {
            let id = req.facility_id.ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{} needs `facility_id`: the facility they work for",
                    if req.role == CallerRole::Officer {
                        "an officer"
                    } else {
                        "a reviewer"
                    }
                ))
            })?;
            state
                .store
                .read()
                .facility(id)
                .await?
                .ok_or_else(|| ApiError::not_found("facility", id))?;
        }
        CallerRole::Visitor => {
            let id = req.contact_id.ok_or_else(|| {
                ApiError::BadRequest("a visitor needs `contact_id`: the contact they are".into())
            })?;
            state
                .store
                .read()
                .contact(id)
                .await?
                .ok_or_else(|| ApiError::not_found("contact", id))?;
        }
        _ => {}
    }
    if !req.role.has_facility() && req.facility_id.is_some() {
        return Err(ApiError::BadRequest(
            "only officers and reviewers have a `facility_id`".into(),
        ));
    }
    if req.role != CallerRole::Visitor && req.contact_id.is_some() {
        return Err(ApiError::BadRequest(
            "only visitors have a `contact_id`".into(),
        ));
    }
    let token = users::new_token();
    let mut w = state.store.write().await?;
    let user = w
        .insert_user(
            name,
            req.role,
            req.facility_id,
            req.contact_id,
            &token,
            state.now().timestamp(),
        )
        .await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "user.create", "created").details(
                serde_json::json!({"user_id": user.id, "role": user.role, "facility_id": user.facility_id, "contact_id": user.contact_id}),
            ),
        )
        .await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, token })))
}

#[utoipa::path(get, path = "/v1/users", security(("bearer" = [])), responses((status = 200, body = Vec<ApiUser>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApiUser>>> {
    caller.require(ApiAction::ListUsers)?;
    Ok(Json(state.store.read().users().await?))
}

#[utoipa::path(get, path = "/v1/me", security(("bearer" = [])), responses((status = 200, body = ApiUser)))]
pub async fn me(caller: Caller) -> Json<ApiUser> {
    Json(caller.0)
}
