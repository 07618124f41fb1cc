//! Booking social and legal visits. The jurisdiction's booking rules decide;
//! a refusal lists every broken rule in words the booker can act on, and is
//! itself audited.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::model::{CallerRole, Session};
use crate::rights::ApiAction;
use crate::routes::{MAX_TEXT_CHARS, text};
use crate::store::audit::AuditRecord;
use crate::store::sessions::{NewParticipant, NewSession};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SubsecRound, Utc};
use parley_policy::{
    BookingContext, BookingRequest, Participant, Role, SessionKind, VisitorCheck, check_booking,
    decide, join_window, local_week,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Most visitors a request may name; the jurisdiction's own limit is lower.
const MAX_VISITORS_IN_REQUEST: usize = 50;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingVisitor {
    pub contact_id: i64,
    /// Whether this visitor consents to recording, where the jurisdiction
    /// records this kind of visit only with consent.
    #[serde(default)]
    pub consents_to_recording: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBooking {
    /// `social_visit` or `legal_visit`.
    #[schema(value_type = String, example = "social_visit")]
    pub kind: SessionKind,
    pub detainee_id: i64,
    /// The kiosk or tablet the detainee will use.
    pub device_id: i64,
    /// RFC 3339 with an offset, e.g. `2026-12-01T14:00:00+01:00`.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub visitors: Vec<BookingVisitor>,
    #[serde(default)]
    pub detainee_consents_to_recording: bool,
    pub title: Option<String>,
    /// A review that overturned the end of one of this detainee's visits
    /// (`GET /v1/reviews/{id}` shows `replacement_available`): this booking
    /// is its replacement, not counted against the weekly quota.
    pub replacement_for_review: Option<i64>,
    /// A visit credit of this detainee (`GET /v1/detainees/{id}/credits`):
    /// time a visit lost to a media failure, booked as this visit outside
    /// the weekly quota. Not with `replacement_for_review`.
    pub credit_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/bookings", request_body = NewBooking, security(("bearer" = [])),
    responses((status = 201, body = Session), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "The replacement visit or credit named is already booked, or was not granted", body = ErrorBody),
              (status = 422, description = "Refused by a booking rule", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut req): ApiJson<NewBooking>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    // Stored with whole-second precision: check what will be stored.
    req.starts_at = req.starts_at.trunc_subsecs(0);
    req.ends_at = req.ends_at.trunc_subsecs(0);
    caller.require(ApiAction::BookVisits)?;
    let mut read = state.store.read();
    let detainee = read
        .detainee(req.detainee_id)
        .await?
        .ok_or_else(|| ApiError::not_found("detainee", req.detainee_id))?;
    caller.require_facility(detainee.facility_id)?;
    let facility = read
        .facility(detainee.facility_id)
        .await?
        .ok_or_else(|| ApiError::not_found("facility", detainee.facility_id))?;
    let device = read
        .device(req.device_id)
        .await?
        .ok_or_else(|| ApiError::not_found("device", req.device_id))?;
    if device.facility_id != facility.id {
        return Err(ApiError::Unprocessable(format!(
            "device {} is at another facility than detainee {}; pick a device of facility {}",
            device.id, detainee.id, facility.id
        )));
    }
    let jurisdiction = state.jurisdiction(&facility.jurisdiction)?;
    if req.visitors.len() > MAX_VISITORS_IN_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_VISITORS_IN_REQUEST} visitors may be named in one request"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut checks = Vec::with_capacity(req.visitors.len());
    let mut contacts = Vec::with_capacity(req.visitors.len());
    for v in &req.visitors {
        if !seen.insert(v.contact_id) {
            return Err(ApiError::BadRequest(format!(
                "contact {} is named twice in `visitors`",
                v.contact_id
            )));
        }
        let contact = read
            .contact(v.contact_id)
            .await?
            .ok_or_else(|| ApiError::not_found("contact", v.contact_id))?;
        checks.push(VisitorCheck {
            name: contact.name.clone(),
            approved: read.is_approved(detainee.id, contact.id).await?,
            verified_counsel: contact.bar_verified,
        });
        contacts.push((contact, v.consents_to_recording));
    }
    if caller.role() == CallerRole::Visitor {
        let own = caller.0.contact_id.unwrap_or(-1);
        if !seen.contains(&own) {
            return Err(ApiError::Forbidden(
                "a visitor books only visits they take part in; include your own contact in `visitors`".into(),
            ));
        }
        if !read.is_approved(detainee.id, own).await? {
            return Err(ApiError::Forbidden(
                "you are not on this detainee's approved contact list; ask the detainee to add you"
                    .into(),
            ));
        }
    }
    let title = match &req.title {
        Some(t) => text("title", t, MAX_TEXT_CHARS)?.to_string(),
        None => format!("{} with {}", req.kind.label(), detainee.name),
    };
    let booking = BookingRequest {
        kind: req.kind,
        start: req.starts_at,
        end: req.ends_at,
        visitors: checks,
    };
    let now = state.now();
    let (week_start, week_end) = local_week(jurisdiction.time_zone, req.starts_at);
    // A reader holds a pooled connection: let it go before waiting for
    // the writer.
    drop(read);
    let mut w = state.store.write().await?;
    if req.replacement_for_review.is_some() && req.credit_id.is_some() {
        return Err(ApiError::BadRequest(
            "give `replacement_for_review` or `credit_id`, not both: one booking uses one".into(),
        ));
    }
    if let Some(review_id) = req.replacement_for_review {
        replacement_granted(w.as_mut(), review_id, detainee.id, req.kind).await?;
    }
    if let Some(credit_id) = req.credit_id {
        credit_available(w.as_mut(), credit_id, detainee.id, req.kind).await?;
    }
    // Read the context inside the write transaction: two concurrent bookings
    // cannot both take the last slot.
    let context = BookingContext {
        detainee_bookings: w
            .live_intervals(
                Some(detainee.id),
                None,
                week_start.min(req.starts_at),
                week_end.max(req.ends_at),
            )
            .await?,
        device_bookings: w
            .live_intervals(None, Some(device.id), req.starts_at, req.ends_at)
            .await?,
        replacement: req.replacement_for_review.is_some() || req.credit_id.is_some(),
    };
    if let Err(refusals) = check_booking(jurisdiction, &booking, &context, now) {
        let record = AuditRecord::new(caller.actor(), "booking.decide", "refused")
            .rules(refusals.iter().map(|r| r.rule.clone()))
            .details(serde_json::json!({
                "kind": req.kind, "detainee_id": detainee.id, "device_id": device.id,
                "starts_at": req.starts_at, "ends_at": req.ends_at,
                "refusals": refusals.iter().map(|r| r.code).collect::<Vec<_>>(),
            }));
        state.audit(w.as_mut(), &record).await?;
        w.commit().await?;
        state
            .metrics
            .bookings
            .with_label_values(&[req.kind.as_str(), "refused"])
            .inc();
        for r in &refusals {
            state
                .metrics
                .booking_refusals
                .with_label_values(&[r.code.as_str()])
                .inc();
        }
        let message = refusals
            .iter()
            .map(|r| r.message.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        return Err(ApiError::BookingRefused { message, refusals });
    }
    let visitor_role = if req.kind == SessionKind::LegalVisit {
        Role::Counsel
    } else {
        Role::Visitor
    };
    let mut policy_participants = vec![Participant {
        role: Role::Detainee,
        consented_to_recording: req.detainee_consents_to_recording,
    }];
    policy_participants.extend(contacts.iter().map(|(_, consent)| Participant {
        role: visitor_role,
        consented_to_recording: *consent,
    }));
    let decision = decide(jurisdiction, req.kind, &policy_participants, now);
    let (opens, _) = join_window(jurisdiction, req.starts_at, req.ends_at);
    let session_id = w
        .insert_session(&NewSession {
            kind: req.kind,
            facility_id: facility.id,
            jurisdiction: &jurisdiction.id,
            title: &title,
            detainee_id: Some(detainee.id),
            device_id: Some(device.id),
            join_opens_at: opens.timestamp(),
            starts_at: req.starts_at.timestamp(),
            ends_at: req.ends_at.timestamp(),
            created_by: caller.0.id,
            now: now.timestamp(),
            replaces_review: req.replacement_for_review,
            replaces_credit: req.credit_id,
        })
        .await?;
    if let Some(review_id) = req.replacement_for_review {
        w.use_replacement(review_id, session_id).await?;
    }
    if let Some(credit_id) = req.credit_id {
        w.use_visit_credit(credit_id, session_id).await?;
    }
    let mut rules = vec![format!("{}/booking/all-rules-met", jurisdiction.id)];
    rules.extend(decision.rules.iter().map(|r| r.to_string()));
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "booking.decide", "accepted")
                .session(session_id)
                .rules(rules)
                .details(serde_json::json!({
                    "kind": req.kind, "detainee_id": detainee.id, "device_id": device.id,
                    "starts_at": req.starts_at, "ends_at": req.ends_at,
                    "recording": decision.recording, "monitoring": decision.monitoring,
                    "replacement_for_review": req.replacement_for_review, "credit_id": req.credit_id,
                })),
        )
        .await?;
    w.insert_participant(
        session_id,
        &NewParticipant {
            role: Role::Detainee,
            name: &detainee.name,
            contact_id: None,
            detainee_id: Some(detainee.id),
            consented_to_recording: req.detainee_consents_to_recording,
        },
    )
    .await?;
    for (contact, consent) in &contacts {
        w.insert_participant(
            session_id,
            &NewParticipant {
                role: visitor_role,
                name: &contact.name,
                contact_id: Some(contact.id),
                detainee_id: None,
                consented_to_recording: *consent,
            },
        )
        .await?;
    }
    w.commit().await?;
    state
        .metrics
        .bookings
        .with_label_values(&[req.kind.as_str(), "accepted"])
        .inc();
    let session = state
        .store
        .read()
        .session(session_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the new booking could not be read back".into()))?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Checks that review `review_id` granted a replacement visit of `kind` for
/// `detainee_id` that is still to be booked.
async fn replacement_granted(
    w: &mut dyn crate::store::Write,
    review_id: i64,
    detainee_id: i64,
    kind: SessionKind,
) -> ApiResult<()> {
    let review = w
        .review(review_id)
        .await?
        .ok_or_else(|| ApiError::not_found("review", review_id))?;
    let reviewed = w
        .session(review.session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("session", review.session_id))?;
    if reviewed.detainee_id != Some(detainee_id) || reviewed.kind != kind {
        return Err(ApiError::Unprocessable(format!(
            "review {review_id} is about a {} of another detainee or kind; a replacement is booked for the same detainee and kind of visit",
            reviewed.kind.label()
        )));
    }
    if !review.replacement_available {
        return Err(ApiError::Conflict(match review.replacement_session_id {
            Some(used) => format!(
                "the replacement granted by review {review_id} is already booked as session {used}"
            ),
            None => format!("review {review_id} granted no replacement visit"),
        }));
    }
    Ok(())
}

/// Checks that visit credit `credit_id` belongs to `detainee_id`, came from
/// a visit of `kind` and is still to be booked.
async fn credit_available(
    w: &mut dyn crate::store::Write,
    credit_id: i64,
    detainee_id: i64,
    kind: SessionKind,
) -> ApiResult<()> {
    let credit = w
        .visit_credit(credit_id)
        .await?
        .ok_or_else(|| ApiError::not_found("visit credit", credit_id))?;
    let from = w
        .session(credit.session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("session", credit.session_id))?;
    if credit.detainee_id != detainee_id || from.kind != kind {
        return Err(ApiError::Unprocessable(format!(
            "visit credit {credit_id} is another detainee's or from a {}; it books a visit of the same kind for the same detainee",
            from.kind.label()
        )));
    }
    if let Some(used) = credit.used_session_id {
        return Err(ApiError::Conflict(format!(
            "visit credit {credit_id} is already booked as session {used}"
        )));
    }
    Ok(())
}
