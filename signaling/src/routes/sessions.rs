//! Sessions as people see them: listing and viewing (redacted where the law
//! shields them), the policy explanation, join tokens, monitoring, ending
//! and cancelling.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::model::{CallerRole, Session, SessionStatus};
use crate::policy_view;
use crate::rights::ApiAction;
use crate::routes::{MAX_LIST, MAX_REASON_CHARS, text};
use crate::store::audit::AuditRecord;
use crate::store::sessions::{NewParticipant, SessionFilter};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use parley_grants::JoinGrant;
use parley_policy::{Decision, Jurisdiction, Role, RuleId, SessionKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    pub facility_id: Option<i64>,
    pub detainee_id: Option<i64>,
    #[param(value_type = Option<String>)]
    pub kind: Option<SessionKind>,
    pub status: Option<SessionStatus>,
    /// Only sessions ending after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only sessions starting before this instant.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Shown to the participants and kept in the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JoinToken {
    pub session_id: i64,
    pub participant_id: i64,
    /// The JWT to send in the WebSocket `join` message.
    pub token: String,
    pub not_before: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Path of the live-session WebSocket.
    pub ws_path: String,
}

/// What an officer may see of a privileged session: its time and parties.
fn redact_for(caller: &Caller, mut s: Session) -> Session {
    if caller.role() == CallerRole::Officer && s.privileged {
        s.title = None;
        s.device_id = None;
        for p in &mut s.participants {
            p.contact_id = None;
            p.detainee_id = None;
            p.consented_to_recording = false;
        }
    }
    s
}

async fn load(state: &AppState, caller: &Caller, id: i64) -> ApiResult<Session> {
    let s = state
        .store
        .read()
        .session(id)
        .await?
        .ok_or_else(|| ApiError::not_found("session", id))?;
    if !caller.may_view(&s) {
        // Same answer as a missing session: do not reveal that it exists.
        return Err(ApiError::not_found("session", id));
    }
    Ok(s)
}

#[utoipa::path(get, path = "/v1/sessions", params(SessionQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Session>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> ApiResult<Json<Vec<Session>>> {
    let mut filter = SessionFilter {
        facility_id: q.facility_id,
        detainee_id: q.detainee_id,
        contact_id: None,
        kind: q.kind,
        status: q.status,
        from: q.from.map(|t| t.timestamp()),
        to: q.to.map(|t| t.timestamp()),
    };
    match caller.role() {
        CallerRole::Officer => filter.facility_id = caller.0.facility_id,
        CallerRole::Visitor => filter.contact_id = Some(caller.0.contact_id.unwrap_or(-1)),
        _ => {}
    }
    let found = state.store.read().sessions(&filter, MAX_LIST).await?;
    Ok(Json(
        found
            .into_iter()
            .filter(|s| caller.may_view(s))
            .map(|s| redact_for(&caller, s))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/sessions/{id}", security(("bearer" = [])),
    responses((status = 200, body = Session), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Session>> {
    let s = load(&state, &caller, id).await?;
    Ok(Json(redact_for(&caller, s)))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/policy", security(("bearer" = [])),
    responses((status = 200, description = "The recording and monitoring decision with its rule ids", body = Object), (status = 404, body = ErrorBody)))]
pub async fn policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Decision>> {
    let s = load(&state, &caller, id).await?;
    let j = state.jurisdiction(&s.jurisdiction)?;
    Ok(Json(policy_view::decide_for(j, &s, state.now())))
}

/// How one participant's connection to the media server fares.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Connection {
    pub participant_id: i64,
    /// What their downlink is estimated to carry, bits per second.
    pub estimate_bps: u64,
    /// Where the estimate comes from: `transport_feedback` (the SFU's own,
    /// from their TWCC feedback), `remb` (their own) or `assumed`.
    pub source: String,
    /// The loss their feedback reports, in tenths of a per cent.
    pub loss_permille: Option<u16>,
    /// Participants whose video is paused for them (weak connection).
    pub video_paused_from: Vec<i64>,
    /// As a one-layer video publisher, the send limit the SFU asked of them.
    pub send_limit_bps: Option<u64>,
    /// Shown as "Weak connection" to the others.
    pub weak: bool,
    /// What they sent over the last second, payload bits per second, and
    /// the share of it lost on the way to the SFU (tenths of a per cent).
    pub sending_bps: u64,
    pub sending_loss_permille: u16,
}

#[utoipa::path(get, path = "/v1/sessions/{id}/connections", security(("bearer" = [])),
    responses((status = 200, description = "How each participant's media connection fares, while the session is live (officers, court staff and administrators)", body = [Connection]),
              (status = 404, description = "No such session, or it is not live", body = ErrorBody)))]
pub async fn connections(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Connection>>> {
    caller.require(ApiAction::SeeConnections)?;
    let s = load(&state, &caller, id).await?;
    let found = state.live.connections(s.id).await.ok_or_else(|| {
        ApiError::NotFound(format!(
            "{} {} has no live media now (not started, over, or no media server)",
            s.kind.label(),
            s.id
        ))
    })?;
    Ok(Json(
        found
            .into_iter()
            .map(|d| Connection {
                participant_id: d.member,
                estimate_bps: d.estimate_bps,
                source: d.source.as_str().to_string(),
                loss_permille: d.loss_permille,
                video_paused_from: d.paused,
                send_limit_bps: d.publisher_limit_bps,
                weak: d.weak,
                sending_bps: d.uplink_bps,
                sending_loss_permille: d.uplink_loss_permille,
            })
            .collect(),
    ))
}

fn local(j: &Jurisdiction, t: DateTime<Utc>) -> String {
    format!(
        "{} ({})",
        t.with_timezone(&j.time_zone).format("%a %e %b %H:%M"),
        j.time_zone.name()
    )
}

/// Refuses unless `now` lies in the session's join window and it is not over.
fn require_open(j: &Jurisdiction, s: &Session, now: DateTime<Utc>) -> ApiResult<()> {
    if matches!(s.status, SessionStatus::Ended | SessionStatus::Cancelled) || now >= s.ends_at {
        return Err(ApiError::Conflict(format!(
            "this {} is over{}",
            s.kind.label(),
            s.status_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )));
    }
    if now < s.join_opens_at {
        return Err(ApiError::Conflict(format!(
            "this {} opens for joining at {}; come back then",
            s.kind.label(),
            local(j, s.join_opens_at)
        )));
    }
    Ok(())
}

fn issue(state: &AppState, s: &Session, participant_id: i64, role: Role) -> ApiResult<JoinToken> {
    let grant = JoinGrant {
        session_id: s.id,
        participant_id,
        role,
        kind: s.kind,
        not_before: s.join_opens_at,
        expires_at: s.ends_at,
    };
    let token = state
        .tokens
        .issue(&grant, state.now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(JoinToken {
        session_id: s.id,
        participant_id,
        token,
        not_before: s.join_opens_at,
        expires_at: s.ends_at,
        ws_path: format!("/v1/sessions/{}/ws", s.id),
    })
}

#[utoipa::path(post, path = "/v1/sessions/{id}/participants/{participant_id}/join-token", security(("bearer" = [])),
    responses((status = 200, body = JoinToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "Outside the join window", body = ErrorBody)))]
pub async fn join_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, participant_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<JoinToken>> {
    let s = load(&state, &caller, id).await?;
    let p = s
        .participants
        .iter()
        .find(|p| p.id == participant_id)
        .ok_or_else(|| {
            ApiError::NotFound(format!("session {id} has no participant {participant_id}"))
        })?
        .clone();
    let allowed = match caller.role() {
        CallerRole::Admin | CallerRole::Scheduler => true,
        CallerRole::Officer => s.kind.is_visit() && p.role == Role::Detainee,
        CallerRole::Clerk | CallerRole::Judge => s.kind == SessionKind::CourtHearing,
        CallerRole::Visitor => caller.0.contact_id.is_some() && p.contact_id == caller.0.contact_id,
        CallerRole::Reviewer => false,
    };
    if p.removed {
        state
            .metrics
            .join_tokens
            .with_label_values(&["removed"])
            .inc();
        return Err(ApiError::Forbidden(format!(
            "participant {participant_id} was removed from this session by the court and cannot rejoin it"
        )));
    }
    if !allowed || p.role == Role::Officer {
        state
            .metrics
            .join_tokens
            .with_label_values(&["forbidden"])
            .inc();
        return Err(ApiError::Forbidden(format!(
            "a {} may not get a join token for participant {participant_id} of this session",
            caller.role().as_str()
        )));
    }
    let j = state.jurisdiction(&s.jurisdiction)?;
    let now = state.now();
    if let Err(e) = require_open(j, &s, now) {
        state
            .metrics
            .join_tokens
            .with_label_values(&["outside_window"])
            .inc();
        return Err(e);
    }
    let token = issue(&state, &s, p.id, p.role)?;
    state.audit_alone(&AuditRecord::new(caller.actor(), "session.token", "issued")
                .session(s.id)
                .rules([RuleId::of(&j.id, "window/join-window")])
                .details(serde_json::json!({"participant_id": p.id, "role": p.role, "expires_at": s.ends_at}))).await?;
    state
        .metrics
        .join_tokens
        .with_label_values(&["issued"])
        .inc();
    Ok(Json(token))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/monitor", security(("bearer" = [])),
    responses((status = 200, description = "A hidden, receive-only monitor's join token", body = JoinToken),
              (status = 403, description = "The law shields this session from monitoring", body = ErrorBody),
              (status = 404, description = "No such session, or one of another facility than the officer's", body = ErrorBody)))]
pub async fn monitor(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<JoinToken>> {
    caller.require(ApiAction::MonitorSessions)?;
    let found = state.store.read().session(id).await?;
    let s = match found {
        Some(s) if caller.may_view(&s) => s,
        Some(s) => {
            // Another facility's session: audited, and answered as if it
            // did not exist.
            state
                .audit_alone(
                    &AuditRecord::new(caller.actor(), "session.monitor", "denied")
                        .session(s.id)
                        .details(serde_json::json!({"message": "outside the caller's facility"})),
                )
                .await?;
            return Err(ApiError::not_found("session", id));
        }
        None => return Err(ApiError::not_found("session", id)),
    };
    let j = state.jurisdiction(&s.jurisdiction)?;
    let now = state.now();
    let decision = policy_view::decide_for(j, &s, now);
    if !decision.monitoring {
        state
            .audit_alone(
                &AuditRecord::new(caller.actor(), "session.monitor", "denied")
                    .session(s.id)
                    .rules(decision.rules.iter().map(|r| r.to_string())),
            )
            .await?;
        let why = if s.privileged {
            format!("a {} is privileged: it is never monitored", s.kind.label())
        } else {
            format!(
                "jurisdiction {} does not allow monitoring a {}",
                j.id,
                s.kind.label()
            )
        };
        return Err(ApiError::Forbidden(why));
    }
    require_open(j, &s, now)?;
    let mut w = state.store.write().await?;
    state
        .audit(
            w.as_mut(),
            &AuditRecord::new(caller.actor(), "session.monitor", "allowed")
                .session(s.id)
                .rules(decision.rules.iter().map(|r| r.to_string())),
        )
        .await?;
    let participant_id = w
        .insert_participant(
            s.id,
            &NewParticipant {
                role: Role::Officer,
                name: &caller.0.name,
                contact_id: None,
                detainee_id: None,
                consented_to_recording: false,
            },
        )
        .await?;
    w.commit().await?;
    Ok(Json(issue(&state, &s, participant_id, Role::Officer)?))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/end", request_body = Reason, security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Reason>,
) -> ApiResult<StatusCode> {
    close(&state, &caller, id, &req, SessionStatus::Ended).await
}

#[utoipa::path(post, path = "/v1/sessions/{id}/cancel", request_body = Reason, security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Reason>,
) -> ApiResult<StatusCode> {
    close(&state, &caller, id, &req, SessionStatus::Cancelled).await
}

/// Ends (`Ended`) or cancels (`Cancelled`) a session for a stated reason:
/// ending needs a session that is not over, cancelling one that has not
/// started. The live hub closes it, tells its participants and audits it.
async fn close(
    state: &AppState,
    caller: &Caller,
    id: i64,
    req: &Reason,
    closing: SessionStatus,
) -> ApiResult<StatusCode> {
    let s = load(state, caller, id).await?;
    let reason = text("reason", &req.reason, MAX_REASON_CHARS)?;
    let cancelling = closing == SessionStatus::Cancelled;
    caller.require(if cancelling {
        ApiAction::Cancel(s.kind)
    } else {
        ApiAction::End(s.kind)
    })?;
    if cancelling && (s.status != SessionStatus::Scheduled || state.now() >= s.starts_at) {
        return Err(ApiError::Conflict(format!(
            "only a session that has not started can be cancelled; session {id} is {}{}",
            s.status.as_str(),
            if s.status == SessionStatus::Scheduled {
                " and past its start; end it instead"
            } else {
                ""
            }
        )));
    }
    if !cancelling && matches!(s.status, SessionStatus::Ended | SessionStatus::Cancelled) {
        return Err(ApiError::Conflict(format!("session {id} is already over")));
    }
    state
        .live
        .end(id, &s.jurisdiction, &caller.actor(), reason, closing)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
