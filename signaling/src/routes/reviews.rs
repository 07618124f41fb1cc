//! Human review of a decision that ended someone's contact
//! ([`crate::review`]): the person affected asks with their join link, a
//! reviewer of the facility sees the session's audit trail and decides, and
//! the person reads the outcome with the same link.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::model::{CallerRole, Session, SessionStatus};
use crate::review::{
    MAX_STATEMENT_CHARS, Outcome, REQUEST_WINDOW_DAYS, Review, decision_against, grants_replacement,
};
use crate::rights::ApiAction;
use crate::routes::{MAX_LIST, MAX_REASON_CHARS, text};
use crate::store::audit::{AuditEntry, AuditRecord};
use crate::store::reviews::NewReview;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use parley_grants::JoinClaims;
use parley_policy::{Role, RuleId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most audit entries of one session read to find the decision under
/// review and shown to the reviewer.
const MAX_TRAIL: i64 = 5_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// What the person wants the reviewer to know (at most 2 000 characters).
    pub statement: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// `upheld` or `overturned`.
    pub outcome: Outcome,
    /// Why, in words the person who asked is shown (at most 500 characters).
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// Only reviews not decided yet.
    pub pending: Option<bool>,
}

/// What a reviewer sees: the request, the session, and its audit trail
/// (rules, times, actors, the stated reasons).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewFile {
    pub review: Review,
    pub session: Session,
    pub audit: Vec<AuditEntry>,
}

/// The participant a join token (as `Authorization: Bearer`) stands for,
/// good until [`REQUEST_WINDOW_DAYS`] after the session's scheduled end:
/// their id and their role in the session.
fn participant(state: &AppState, headers: &HeaderMap, session_id: i64) -> ApiResult<(i64, Role)> {
    let token = crate::auth::bearer(headers, "the join link's token")?;
    state
        .tokens
        .verify_after_end(
            token,
            session_id,
            state.now(),
            REQUEST_WINDOW_DAYS * 86_400,
        )
        .and_then(|claims: JoinClaims| Ok((claims.participant_id()?, claims.role)))
        .map_err(|e| {
            ApiError::Unauthenticated(format!(
                "{e}; a review can be asked for with the join link up to {REQUEST_WINDOW_DAYS} days after the session"
            ))
        })
}

/// The session's audit entries, oldest first (at most [`MAX_TRAIL`]).
async fn trail(
    read: &mut (dyn crate::store::Read + '_),
    session_id: i64,
) -> ApiResult<Vec<AuditEntry>> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &AuditEntry| e.seq);
        let page = read
            .audit_entries(Some(session_id), after, MAX_LIST)
            .await?;
        let full = page.len() as i64 == MAX_LIST;
        all.extend(page);
        if !full || all.len() as i64 >= MAX_TRAIL {
            return Ok(all);
        }
    }
}

#[utoipa::path(post, path = "/v1/sessions/{id}/reviews", request_body = ReviewRequest,
    security(("join_token" = [])),
    responses((status = 201, body = Review), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "Already asked, or the session is not over", body = ErrorBody),
              (status = 422, description = "Nothing was decided against this participant", body = ErrorBody)))]
pub async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<(StatusCode, Json<Review>)> {
    let (participant_id, role) = participant(&state, &headers, id)?;
    if role == Role::Officer {
        return Err(ApiError::Forbidden(
            "a monitoring officer's link cannot ask for a review; reviews are for the people whose contact was ended".into(),
        ));
    }
    let statement = match req.statement.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) if s.chars().count() > MAX_STATEMENT_CHARS => {
            return Err(ApiError::BadRequest(format!(
                "`statement` is longer than {MAX_STATEMENT_CHARS} characters"
            )));
        }
        Some(s) if s.chars().any(|c| c.is_control() && c != '\n') => {
            return Err(ApiError::BadRequest(
                "`statement` must not contain control characters other than line breaks".into(),
            ));
        }
        Some(s) => Some(s.to_string()),
    };
    let mut w = state.store.write().await?;
    let session = w
        .session(id)
        .await?
        .ok_or_else(|| ApiError::not_found("session", id))?;
    let me = session
        .participants
        .iter()
        .find(|p| p.id == participant_id)
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "participant {participant_id} is not on session {id}; only its participants may ask for a review"
            ))
        })?
        .clone();
    let over = matches!(
        session.status,
        SessionStatus::Ended | SessionStatus::Cancelled
    );
    if !over && !me.removed {
        return Err(ApiError::Conflict(format!(
            "session {id} is {}; a review can be asked for once it has ended for you",
            session.status.as_str()
        )));
    }
    if let Some(asked) = w.review_of(id, participant_id).await? {
        return Err(ApiError::Conflict(format!(
            "you already asked for a review of this session on {} (review {}); each person asks once",
            asked.requested_at.format("%Y-%m-%d %H:%M UTC"),
            asked.id
        )));
    }
    let decision =
        decision_against(&trail(w.as_mut(), id).await?, participant_id).ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "nothing was decided against you in session {id}: it ended at its scheduled time"
            ))
        })?;
    let now = state.now();
    let review_id = w
        .insert_review(&NewReview {
            session_id: id,
            participant_id,
            decision: &decision,
            statement: statement.as_deref(),
            now: now.timestamp(),
        })
        .await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(
                format!("participant:{participant_id}:{}", me.role.as_str()),
                "review.request",
                "requested",
            )
            .session(id)
            .rules([RuleId::core("review/on-request")])
            .details(serde_json::json!({
                "review_id": review_id,
                "decision": decision.kind,
                "decision_seq": decision.seq,
            })),
        )
        .await?;
    let review = w
        .review(review_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the new review could not be read back".into()))?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(review)))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/reviews/mine", security(("join_token" = [])),
    responses((status = 200, body = Review), (status = 401, body = ErrorBody),
              (status = 404, description = "This participant has not asked", body = ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Review>> {
    let (participant_id, _) = participant(&state, &headers, id)?;
    state
        .store
        .read()
        .review_of(id, participant_id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(format!("you have not asked for a review of session {id}"))
        })
}

#[utoipa::path(get, path = "/v1/reviews", params(ReviewQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Review>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<Vec<Review>>> {
    caller.require(ApiAction::ReviewDecisions)?;
    let facility = match caller.role() {
        CallerRole::Admin => None,
        _ => Some(caller.0.facility_id.ok_or_else(|| {
            ApiError::Forbidden(
                "this reviewer account is not attached to a facility; ask an administrator".into(),
            )
        })?),
    };
    Ok(Json(
        state
            .store
            .read()
            .reviews(facility, q.pending.unwrap_or(false), MAX_LIST)
            .await?,
    ))
}

/// The review and its session, for a caller who may review that facility's
/// decisions.
async fn load(state: &AppState, caller: &Caller, id: i64) -> ApiResult<(Review, Session)> {
    caller.require(ApiAction::ReviewDecisions)?;
    let mut read = state.store.read();
    let review = read
        .review(id)
        .await?
        .ok_or_else(|| ApiError::not_found("review", id))?;
    let session = read
        .session(review.session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("session", review.session_id))?;
    caller.require_facility(session.facility_id)?;
    Ok((review, session))
}

#[utoipa::path(get, path = "/v1/reviews/{id}", security(("bearer" = [])),
    responses((status = 200, body = ReviewFile), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReviewFile>> {
    let (review, session) = load(&state, &caller, id).await?;
    let audit = trail(state.store.read().as_mut(), session.id).await?;
    Ok(Json(ReviewFile {
        review,
        session,
        audit,
    }))
}

#[utoipa::path(post, path = "/v1/reviews/{id}/decision", request_body = ReviewDecision, security(("bearer" = [])),
    responses((status = 200, body = Review), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "Already decided", body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ReviewDecision>,
) -> ApiResult<Json<Review>> {
    let reason = text("reason", &req.reason, MAX_REASON_CHARS)?;
    let (_, session) = load(&state, &caller, id).await?;
    let mut w = state.store.write().await?;
    let review = w
        .review(id)
        .await?
        .ok_or_else(|| ApiError::not_found("review", id))?;
    if let Some(outcome) = review.outcome {
        return Err(ApiError::Conflict(format!(
            "review {id} was already decided: {}",
            outcome.as_str()
        )));
    }
    let now = state.now();
    w.decide_review(id, req.outcome, reason, caller.0.id, now.timestamp())
        .await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "review.decide", req.outcome.as_str())
                .session(session.id)
                .rules([RuleId::core("review/decided-by-reviewer")])
                .details(serde_json::json!({
                    "review_id": id,
                    "reason": reason,
                    "replacement_granted": grants_replacement(session.kind, req.outcome),
                })),
        )
        .await?;
    let decided = w
        .review(id)
        .await?
        .ok_or_else(|| ApiError::Internal("the review could not be read back".into()))?;
    w.commit().await?;
    Ok(Json(decided))
}
