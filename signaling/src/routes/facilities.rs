//! Facilities (prisons and courts) and their devices.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::model::{CallerRole, Device, DeviceKind, Facility, FacilityKind};
use crate::rights::ApiAction;
use crate::routes::{MAX_TEXT_CHARS, text};
use crate::store::audit::AuditRecord;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFacility {
    pub name: String,
    pub kind: FacilityKind,
    /// Id of a loaded jurisdiction, e.g. `fr-paris`.
    pub jurisdiction: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub name: String,
    pub kind: DeviceKind,
}

#[utoipa::path(post, path = "/v1/facilities", request_body = NewFacility, security(("bearer" = [])),
    responses((status = 201, body = Facility), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewFacility>,
) -> ApiResult<(StatusCode, Json<Facility>)> {
    caller.require(ApiAction::CreateFacilities)?;
    let name = text("name", &req.name, MAX_TEXT_CHARS)?;
    if state.jurisdictions.get(&req.jurisdiction).is_none() {
        return Err(ApiError::BadRequest(format!(
            "unknown jurisdiction `{}`; loaded: {}",
            req.jurisdiction,
            state.jurisdictions.ids().join(", ")
        )));
    }
    let mut w = state.store.write().await?;
    let facility = w
        .insert_facility(name, req.kind, &req.jurisdiction, state.now().timestamp())
        .await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "facility.create", "created")
                .details(serde_json::json!({"facility_id": facility.id, "jurisdiction": facility.jurisdiction})),
        )
        .await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(facility)))
}

#[utoipa::path(get, path = "/v1/facilities", security(("bearer" = [])), responses((status = 200, body = Vec<Facility>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Facility>>> {
    caller.require(ApiAction::ListFacilities)?;
    let mut all = state.store.read().facilities().await?;
    if caller.role() == CallerRole::Officer {
        all.retain(|f| Some(f.id) == caller.0.facility_id);
    }
    Ok(Json(all))
}

#[utoipa::path(get, path = "/v1/facilities/{id}", security(("bearer" = [])),
    responses((status = 200, body = Facility), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Facility>> {
    caller.require(ApiAction::ViewFacilities)?;
    caller.require_facility(id)?;
    let f = state
        .store
        .read()
        .facility(id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", id))?;
    Ok(Json(f))
}

#[utoipa::path(post, path = "/v1/facilities/{id}/devices", request_body = NewDevice, security(("bearer" = [])),
    responses((status = 201, body = Device), (status = 404, body = ErrorBody)))]
pub async fn add_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<Device>)> {
    caller.require(ApiAction::RegisterDevices)?;
    let name = text("name", &req.name, MAX_TEXT_CHARS)?;
    state
        .store
        .read()
        .facility(id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", id))?;
    let mut w = state.store.write().await?;
    let device = w
        .insert_device(id, name, req.kind, state.now().timestamp())
        .await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(device)))
}
