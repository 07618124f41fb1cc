//! Scheduling court hearings: participants with roles, at a court facility,
//! optionally with a defendant joining from a prison device.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::model::{FacilityKind, Session};
use crate::rights::ApiAction;
use crate::routes::{MAX_TEXT_CHARS, text};
use crate::store::audit::AuditRecord;
use crate::store::sessions::{NewParticipant, NewSession};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use parley_policy::{Participant, Role, SessionKind, decide, join_window};
use serde::Deserialize;
use utoipa::ToSchema;

/// Longest schedulable hearing, in hours (a judge may extend it live).
pub const MAX_HEARING_HOURS: i64 = 12;
/// Most participants in one hearing.
pub const MAX_HEARING_PARTICIPANTS: usize = 100;

/// Roles a hearing can have.
const HEARING_ROLES: &[Role] = &[
    Role::Judge,
    Role::Clerk,
    Role::Prosecutor,
    Role::Counsel,
    Role::Defendant,
    Role::Interpreter,
    Role::Witness,
    Role::Observer,
];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HearingParticipant {
    pub name: String,
    #[schema(value_type = String, example = "judge")]
    pub role: Role,
    pub contact_id: Option<i64>,
    /// For a defendant in custody.
    pub detainee_id: Option<i64>,
    #[serde(default)]
    pub consents_to_recording: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHearing {
    /// The court holding the hearing; its jurisdiction's rules apply.
    pub facility_id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// A prison device the defendant joins from, if any.
    pub device_id: Option<i64>,
    pub participants: Vec<HearingParticipant>,
}

#[utoipa::path(post, path = "/v1/hearings", request_body = NewHearing, security(("bearer" = [])),
    responses((status = 201, body = Session), (status = 400, body = ErrorBody),
              (status = 404, description = "No such facility, device, detainee or contact", body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut req): ApiJson<NewHearing>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    // Stored with whole-second precision: check what will be stored.
    req.starts_at = req.starts_at.trunc_subsecs(0);
    req.ends_at = req.ends_at.trunc_subsecs(0);
    caller.require(ApiAction::ScheduleHearings)?;
    let mut read = state.store.read();
    let title = text("title", &req.title, MAX_TEXT_CHARS)?;
    let facility = read
        .facility(req.facility_id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", req.facility_id))?;
    if facility.kind != FacilityKind::Court {
        return Err(ApiError::Unprocessable(format!(
            "facility {} is a prison; hearings are held by a court facility",
            facility.id
        )));
    }
    let jurisdiction = state.jurisdiction(&facility.jurisdiction)?;
    let now = state.now();
    if req.ends_at <= req.starts_at {
        return Err(ApiError::Unprocessable(
            "`ends_at` must be after `starts_at`".into(),
        ));
    }
    if req.ends_at - req.starts_at > Duration::hours(MAX_HEARING_HOURS) {
        return Err(ApiError::Unprocessable(format!(
            "a hearing can be scheduled for at most {MAX_HEARING_HOURS} hours; the judge can extend it"
        )));
    }
    if req.starts_at < now {
        return Err(ApiError::Unprocessable("`starts_at` is in the past".into()));
    }
    if req.participants.is_empty() || req.participants.len() > MAX_HEARING_PARTICIPANTS {
        return Err(ApiError::BadRequest(format!(
            "a hearing needs 1 to {MAX_HEARING_PARTICIPANTS} participants"
        )));
    }
    if !req.participants.iter().any(|p| p.role == Role::Judge) {
        return Err(ApiError::Unprocessable(
            "a hearing needs a judge among its participants".into(),
        ));
    }
    let mut names = Vec::with_capacity(req.participants.len());
    let mut defendant_detainee = None;
    for (i, p) in req.participants.iter().enumerate() {
        if !HEARING_ROLES.contains(&p.role) {
            return Err(ApiError::BadRequest(format!(
                "participants[{i}]: role `{}` does not take part in hearings",
                p.role
            )));
        }
        names.push(text(&format!("participants[{i}].name"), &p.name, MAX_TEXT_CHARS)?.to_string());
        if let Some(c) = p.contact_id {
            read.contact(c)
                .await?
                .ok_or_else(|| ApiError::not_found("contact", c))?;
        }
        if let Some(d) = p.detainee_id {
            if p.role != Role::Defendant {
                return Err(ApiError::BadRequest(format!(
                    "participants[{i}]: only a defendant is linked to a detainee"
                )));
            }
            read.detainee(d)
                .await?
                .ok_or_else(|| ApiError::not_found("detainee", d))?;
            defendant_detainee = Some(d);
        }
    }
    if let Some(device_id) = req.device_id {
        read.device(device_id)
            .await?
            .ok_or_else(|| ApiError::not_found("device", device_id))?;
    }
    // A reader holds a pooled connection: let it go before waiting for
    // the writer.
    drop(read);
    let mut w = state.store.write().await?;
    if defendant_detainee.is_some() || req.device_id.is_some() {
        let clashes = w
            .live_intervals(
                defendant_detainee,
                req.device_id,
                req.starts_at,
                req.ends_at,
            )
            .await?;
        if let Some(c) = clashes.first() {
            return Err(ApiError::Conflict(format!(
                "the defendant or the prison device already has a {} from {} to {}; cancel or move it first",
                c.kind.label(),
                c.start.to_rfc3339(),
                c.end.to_rfc3339()
            )));
        }
    }
    let policy_participants: Vec<Participant> = req
        .participants
        .iter()
        .map(|p| Participant {
            role: p.role,
            consented_to_recording: p.consents_to_recording,
        })
        .collect();
    let decision = decide(
        jurisdiction,
        SessionKind::CourtHearing,
        &policy_participants,
        now,
    );
    let (opens, _) = join_window(jurisdiction, req.starts_at, req.ends_at);
    let session_id = w
        .insert_session(&NewSession {
            kind: SessionKind::CourtHearing,
            facility_id: facility.id,
            jurisdiction: &jurisdiction.id,
            title,
            detainee_id: defendant_detainee,
            device_id: req.device_id,
            join_opens_at: opens.timestamp(),
            starts_at: req.starts_at.timestamp(),
            ends_at: req.ends_at.timestamp(),
            created_by: caller.0.id,
            now: now.timestamp(),
            replaces_review: None,
            replaces_credit: None,
        })
        .await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "hearing.schedule", "scheduled")
                .session(session_id)
                .rules(decision.rules.iter().map(|r| r.to_string()))
                .details(serde_json::json!({
                    "facility_id": facility.id, "starts_at": req.starts_at, "ends_at": req.ends_at,
                    "recording": decision.recording, "participants": req.participants.len(),
                })),
        )
        .await?;
    for (p, name) in req.participants.iter().zip(&names) {
        w.insert_participant(
            session_id,
            &NewParticipant {
                role: p.role,
                name,
                contact_id: p.contact_id,
                detainee_id: p.detainee_id,
                consented_to_recording: p.consents_to_recording,
            },
        )
        .await?;
    }
    w.commit().await?;
    let session = state
        .store
        .read()
        .session(session_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the new hearing could not be read back".into()))?;
    Ok((StatusCode::CREATED, Json(session)))
}
