//! Detainees, contacts, and each detainee's approved contact list.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::model::{ApprovedContact, CallerRole, Contact, Detainee};
use crate::rights::ApiAction;
use crate::routes::{MAX_TEXT_CHARS, text};
use crate::store::audit::AuditRecord;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDetainee {
    pub facility_id: i64,
    pub name: String,
    /// The facility's prisoner number; unique within the facility.
    pub number: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DetaineeQuery {
    pub facility_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    /// Counsel's bar number, verified separately by an administrator.
    pub bar_number: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub contact_id: i64,
    /// E.g. "mother", "friend", "counsel".
    pub relationship: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BarVerification {
    /// The bar number as checked with the bar association.
    pub bar_number: String,
}

async fn detainee_for(state: &AppState, caller: &Caller, id: i64) -> ApiResult<Detainee> {
    let d = state
        .store
        .read()
        .detainee(id)
        .await?
        .ok_or_else(|| ApiError::not_found("detainee", id))?;
    caller.require_facility(d.facility_id)?;
    Ok(d)
}

#[utoipa::path(post, path = "/v1/detainees", request_body = NewDetainee, security(("bearer" = [])),
    responses((status = 201, body = Detainee), (status = 400, body = ErrorBody),
              (status = 404, description = "No such facility", body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_detainee(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewDetainee>,
) -> ApiResult<(StatusCode, Json<Detainee>)> {
    caller.require(ApiAction::RegisterDetainees)?;
    caller.require_facility(req.facility_id)?;
    let name = text("name", &req.name, MAX_TEXT_CHARS)?;
    let number = text("number", &req.number, 64)?;
    let facility = state
        .store
        .read()
        .facility(req.facility_id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", req.facility_id))?;
    if state
        .store
        .read()
        .detainee_by_number(facility.id, number)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "facility {} already has a detainee with number {number}",
            facility.id
        )));
    }
    let mut w = state.store.write().await?;
    let d = w
        .insert_detainee(facility.id, name, number, state.now().timestamp())
        .await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[utoipa::path(get, path = "/v1/detainees", params(DetaineeQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Detainee>)))]
pub async fn list_detainees(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DetaineeQuery>,
) -> ApiResult<Json<Vec<Detainee>>> {
    caller.require(ApiAction::ListDetainees)?;
    let facility = if caller.role() == CallerRole::Officer {
        caller.0.facility_id
    } else {
        q.facility_id
    };
    Ok(Json(state.store.read().detainees(facility).await?))
}

#[utoipa::path(get, path = "/v1/detainees/{id}", security(("bearer" = [])),
    responses((status = 200, body = Detainee), (status = 404, body = ErrorBody)))]
pub async fn get_detainee(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Detainee>> {
    caller.require(ApiAction::ViewDetainees)?;
    Ok(Json(detainee_for(&state, &caller, id).await?))
}

#[utoipa::path(post, path = "/v1/contacts", request_body = NewContact, security(("bearer" = [])),
    responses((status = 201, body = Contact), (status = 400, body = ErrorBody)))]
pub async fn create_contact(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewContact>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    caller.require(ApiAction::RegisterContacts)?;
    let name = text("name", &req.name, MAX_TEXT_CHARS)?;
    let bar = req
        .bar_number
        .as_deref()
        .map(|b| text("bar_number", b, 64))
        .transpose()?;
    let mut w = state.store.write().await?;
    let c = w.insert_contact(name, bar, state.now().timestamp()).await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[utoipa::path(get, path = "/v1/contacts/{id}", security(("bearer" = [])),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn get_contact(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Contact>> {
    if caller.role() == CallerRole::Visitor {
        if caller.0.contact_id != Some(id) {
            return Err(ApiError::Forbidden(
                "a visitor may view only their own contact record".into(),
            ));
        }
    } else {
        caller.require(ApiAction::ViewContacts)?;
    }
    let c = state
        .store
        .read()
        .contact(id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact", id))?;
    Ok(Json(c))
}

#[utoipa::path(post, path = "/v1/contacts/{id}/verify-bar", request_body = BarVerification, security(("bearer" = [])),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn verify_bar(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<BarVerification>,
) -> ApiResult<Json<Contact>> {
    caller.require(ApiAction::VerifyBarNumbers)?;
    let bar = text("bar_number", &req.bar_number, 64)?;
    let mut contact = state
        .store
        .read()
        .contact(id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact", id))?;
    let mut w = state.store.write().await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "contact.verify_bar", "verified")
                .details(serde_json::json!({"contact_id": id, "bar_number": bar})),
        )
        .await?;
    w.set_bar_verified(id, bar).await?;
    w.commit().await?;
    contact.bar_number = Some(bar.to_string());
    contact.bar_verified = true;
    Ok(Json(contact))
}

#[utoipa::path(post, path = "/v1/detainees/{id}/contacts", request_body = Approval, security(("bearer" = [])),
    responses((status = 201, body = ApprovedContact), (status = 404, body = ErrorBody)))]
pub async fn approve_contact(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Approval>,
) -> ApiResult<(StatusCode, Json<ApprovedContact>)> {
    caller.require(ApiAction::ApproveContacts)?;
    let relationship = text("relationship", &req.relationship, MAX_TEXT_CHARS)?;
    detainee_for(&state, &caller, id).await?;
    let contact = state
        .store
        .read()
        .contact(req.contact_id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact", req.contact_id))?;
    let now = state.now();
    let mut w = state.store.write().await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "contact.approve", "approved")
                .details(serde_json::json!({"detainee_id": id, "contact_id": contact.id, "relationship": relationship})),
        )
        .await?;
    w.approve(id, contact.id, relationship, now.timestamp())
        .await?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(ApprovedContact {
            detainee_id: id,
            contact,
            relationship: relationship.into(),
            approved_at: crate::time::from_unix(now.timestamp()),
        }),
    ))
}

#[utoipa::path(get, path = "/v1/detainees/{id}/contacts", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApprovedContact>)))]
pub async fn list_approved(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ApprovedContact>>> {
    caller.require(ApiAction::ViewApprovedContacts)?;
    detainee_for(&state, &caller, id).await?;
    Ok(Json(state.store.read().approved_contacts(id).await?))
}

#[utoipa::path(get, path = "/v1/detainees/{id}/credits", security(("bearer" = [])),
    responses((status = 200, description = "Time the detainee's visits lost to media failures, credited as other visits outside the weekly quota (a jurisdiction's fair-use rule), newest first", body = Vec<crate::model::VisitCredit>)))]
pub async fn list_credits(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<crate::model::VisitCredit>>> {
    caller.require(ApiAction::ViewDetainees)?;
    detainee_for(&state, &caller, id).await?;
    Ok(Json(state.store.read().visit_credits(id).await?))
}

#[utoipa::path(delete, path = "/v1/detainees/{id}/contacts/{contact_id}", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_contact(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, contact_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    caller.require(ApiAction::RevokeContacts)?;
    detainee_for(&state, &caller, id).await?;
    let mut w = state.store.write().await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "contact.revoke", "revoked")
                .details(serde_json::json!({"detainee_id": id, "contact_id": contact_id})),
        )
        .await?;
    if !w.revoke(id, contact_id, state.now().timestamp()).await? {
        // Dropping the transaction rolls the audit entry back: nothing changed.
        return Err(ApiError::NotFound(format!(
            "contact {contact_id} is not on detainee {id}'s approved list"
        )));
    }
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
