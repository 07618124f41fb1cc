//! The WebSocket edge of a live session: `GET /v1/sessions/{id}/ws`.
//!
//! The first frame must be `join` with a valid join token for this session,
//! within [`JOIN_TIMEOUT`]; anything else gets an `error` and the socket is
//! closed. After that, client frames go to the session task and its messages
//! come back.

use super::hub::{HubError, MediaGrant, Outgoing, SessionSpec};
use crate::app::AppState;
use crate::extract::ApiPath;
use crate::model::SessionStatus;
use crate::policy_view;
use axum::extract::State;
use axum::extract::ws::CloseFrame;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use parley_protocol::{
    ClientMessage, CloseCode, ErrorCode, MAX_CLIENT_MESSAGE_BYTES, MESSAGE_BURST,
    MESSAGES_PER_SECOND, PROTOCOL_VERSION, RequestId, ServerMessage, decode_frame, encode_reply,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a new socket may take to send `join`.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(
    State(state): State<AppState>,
    ApiPath(session_id): ApiPath<i64>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(state, session_id, socket))
}

/// Sends one message; `id` when it replies to a request that carried one.
async fn send(socket: &mut WebSocket, message: &ServerMessage, id: Option<&RequestId>) -> bool {
    socket
        .send(Message::Text(encode_reply(message, id).into()))
        .await
        .is_ok()
}

/// Closes the socket with a status code and reason (docs/protocol.md,
/// "Close codes").
async fn close(socket: &mut WebSocket, why: CloseCode) {
    let frame = CloseFrame {
        code: why.code(),
        reason: why.reason().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Refuses a join: one `error` (echoing the join's id), then a close whose
/// code names the error.
async fn refuse(
    state: &AppState,
    socket: &mut WebSocket,
    id: Option<&RequestId>,
    code: ErrorCode,
    message: String,
) {
    state
        .metrics
        .ws_rejected
        .with_label_values(&[&format!("{code:?}")])
        .inc();
    let _ = send(socket, &ServerMessage::Error { code, message }, id).await;
    close(socket, CloseCode::JoinRefused(code)).await;
}

/// Audits a join refused despite a token, within the session's budget of
/// [`AUDITED_PER_MINUTE`](super::refusals::AUDITED_PER_MINUTE). A failure to
/// write is logged: the refusal stands either way.
async fn audit_refusal(state: &AppState, session_id: i64, r: &Refusal) {
    let now = state.now();
    let admitted = state
        .refusals
        .lock()
        .map(|mut b| b.admit(session_id, now.timestamp()))
        .unwrap_or(false);
    if !admitted {
        return;
    }
    let actor = match r.participant {
        Some(id) => format!("participant:{id}"),
        None => "unverified-token".to_string(),
    };
    // The wire name of the code, e.g. `invalid_token`.
    let code = serde_json::to_value(r.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let record = crate::store::audit::AuditRecord::new(actor, "join.refused", code)
        .session(session_id)
        .details(serde_json::json!({ "message": r.message }));
    if let Err(e) = state.audit_alone(&record).await {
        tracing::error!(session = session_id, error = %e, "cannot audit a refused join");
    }
}

/// Who joined, once the token and the store agree.
struct Joined {
    spec: SessionSpec,
    participant_id: i64,
    name: String,
    role: parley_policy::Role,
    media: MediaGrant,
    welcome: ServerMessage,
}

/// Other publishers a participant receives: everyone booked who sends media
/// and was not removed, except themselves.
fn receive_slots(session: &crate::model::Session, participant_id: i64) -> usize {
    session
        .participants
        .iter()
        .filter(|p| p.id != participant_id && !p.removed && !p.role.is_receive_only())
        .count()
        .min(parley_control::MAX_RECEIVE_SLOTS)
}

async fn first_text(socket: &mut WebSocket) -> Option<Result<String, ()>> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => return Some(Ok(t.to_string())),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) => return None,
            Ok(Message::Binary(_)) => return Some(Err(())),
            Err(_) => return None,
        }
    }
}

/// Why a join was refused, and who asked when their token was genuine.
struct Refusal {
    code: ErrorCode,
    message: String,
    /// A token was presented (the attempt is audited).
    token: bool,
    /// The participant a verified token names.
    participant: Option<i64>,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            token: false,
            participant: None,
        }
    }

    /// A refusal of a join that presented a token; `participant` when the
    /// token verified.
    fn of_token(code: ErrorCode, message: impl Into<String>, participant: Option<i64>) -> Self {
        Self {
            token: true,
            participant,
            ..Self::new(code, message)
        }
    }
}

async fn authorize(
    state: &AppState,
    session_id: i64,
    message: ClientMessage,
) -> Result<Joined, Refusal> {
    let ClientMessage::Join { version, token } = message else {
        return Err(Refusal::new(
            ErrorCode::NotJoined,
            "the first message must be `join`",
        ));
    };
    if version != PROTOCOL_VERSION {
        return Err(Refusal::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "this server speaks protocol version {PROTOCOL_VERSION}, not {version}; reload the page"
            ),
        ));
    }
    let now = state.now();
    let claims = state
        .tokens
        .verify(&token, session_id, now)
        .map_err(|e| match e {
            parley_grants::GrantError::WrongSession { .. } => {
                Refusal::of_token(ErrorCode::WrongSession, e.to_string(), None)
            }
            _ => Refusal::of_token(ErrorCode::InvalidToken, e.to_string(), None),
        })?;
    let participant_id = claims
        .participant_id()
        .map_err(|e| Refusal::of_token(ErrorCode::InvalidToken, e.to_string(), None))?;
    let refused = |code, message: String| Refusal::of_token(code, message, Some(participant_id));
    let session = state
        .store
        .read()
        .session(session_id)
        .await
        .map_err(|_| refused(ErrorCode::Internal, "the store could not be read".into()))?
        .ok_or_else(|| {
            refused(
                ErrorCode::WrongSession,
                format!("there is no session {session_id}"),
            )
        })?;
    if matches!(
        session.status,
        SessionStatus::Ended | SessionStatus::Cancelled
    ) || now >= session.ends_at
    {
        return Err(refused(
            ErrorCode::SessionOver,
            format!(
                "this session is over ({})",
                session
                    .status_reason
                    .as_deref()
                    .unwrap_or(session.status.as_str())
            ),
        ));
    }
    let participant = session
        .participants
        .iter()
        .find(|p| p.id == participant_id && p.role == claims.role)
        .ok_or_else(|| {
            refused(
                ErrorCode::InvalidToken,
                "the token's participant is not part of this session".into(),
            )
        })?;
    if participant.removed {
        return Err(refused(
            ErrorCode::Forbidden,
            "you were removed from this session and cannot rejoin it".into(),
        ));
    }
    let jurisdiction = state
        .jurisdictions
        .get(&session.jurisdiction)
        .cloned()
        .ok_or_else(|| {
            refused(
                ErrorCode::Internal,
                format!(
                    "jurisdiction {} is no longer configured",
                    session.jurisdiction
                ),
            )
        })?;
    let decision = policy_view::decide_for(&jurisdiction, &session, now);
    let spec = SessionSpec {
        session_id,
        kind: session.kind,
        jurisdiction: Arc::new(jurisdiction),
        starts_at: session.starts_at,
        ends_at: session.ends_at,
        policy: policy_view::room_policy(&decision),
    };
    let slots = receive_slots(&session, participant_id);
    Ok(Joined {
        spec,
        participant_id,
        name: participant.name.clone(),
        role: participant.role,
        media: MediaGrant {
            role: participant.role,
            receive_slots: slots,
        },
        welcome: ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            session_id,
            kind: session.kind,
            participant_id,
            role: participant.role,
            state: parley_protocol::ParticipantState::Lobby,
            starts_at: session.starts_at,
            ends_at: session.ends_at,
            notice: policy_view::notice(&decision),
            receive_slots: u32::try_from(slots).unwrap_or(u32::MAX),
        },
    })
}

async fn serve(state: AppState, session_id: i64, mut socket: WebSocket) {
    let text = match tokio::time::timeout(JOIN_TIMEOUT, first_text(&mut socket)).await {
        Ok(Some(Ok(text))) => text,
        Ok(Some(Err(()))) => {
            return refuse(
                &state,
                &mut socket,
                None,
                ErrorCode::BadMessage,
                "send JSON text frames, not binary".into(),
            )
            .await;
        }
        Ok(None) => return,
        Err(_) => {
            return refuse(
                &state,
                &mut socket,
                None,
                ErrorCode::NotJoined,
                format!("send `join` within {} seconds", JOIN_TIMEOUT.as_secs()),
            )
            .await;
        }
    };
    let frame = match decode_frame(&text) {
        Ok(frame) => frame,
        Err(e) => {
            let id = e.id.clone();
            return refuse(
                &state,
                &mut socket,
                id.as_ref(),
                ErrorCode::BadMessage,
                e.to_string(),
            )
            .await;
        }
    };
    let id = frame.id;
    let joined = match authorize(&state, session_id, frame.message).await {
        Ok(j) => j,
        Err(r) => {
            if r.token {
                audit_refusal(&state, session_id, &r).await;
            }
            return refuse(&state, &mut socket, id.as_ref(), r.code, r.message).await;
        }
    };
    let connection = state.live.new_connection_id();
    let (outbox, mut inbox) = mpsc::channel(super::hub::OUTBOX_CAPACITY);
    let participant_state = match state
        .live
        .connect(
            &joined.spec,
            joined.participant_id,
            connection,
            joined.name.clone(),
            joined.role,
            joined.media.clone(),
            outbox,
        )
        .await
    {
        Ok(s) => s,
        Err(HubError::Refused(r)) => {
            return refuse(&state, &mut socket, id.as_ref(), r.code, r.message).await;
        }
        Err(HubError::Gone) => {
            return refuse(
                &state,
                &mut socket,
                id.as_ref(),
                ErrorCode::SessionOver,
                "this session is over".into(),
            )
            .await;
        }
    };
    let mut welcome = joined.welcome;
    if let ServerMessage::Welcome { state: s, .. } = &mut welcome {
        *s = participant_state;
    }
    state.metrics.ws_connections.inc();
    if send(&mut socket, &welcome, id.as_ref()).await {
        pump(
            &state,
            session_id,
            joined.participant_id,
            connection,
            &mut socket,
            &mut inbox,
        )
        .await;
    }
    state.metrics.ws_connections.dec();
    state
        .live
        .disconnect(session_id, joined.participant_id, connection)
        .await;
}

/// Moves frames both ways until either side closes.
async fn pump(
    state: &AppState,
    session_id: i64,
    participant_id: i64,
    connection: u64,
    socket: &mut WebSocket,
    inbox: &mut mpsc::Receiver<Outgoing>,
) {
    let mut rate = super::message_rate::MessageRate::new(std::time::Instant::now());
    loop {
        tokio::select! {
            outgoing = inbox.recv() => match outgoing {
                Some(Outgoing::Message(m, id)) => {
                    if !send(socket, &m, id.as_ref()).await { return; }
                }
                Some(Outgoing::Close(why)) => {
                    close(socket, why).await;
                    return;
                }
                // The session task stopped sending to this socket: its queue
                // filled because the client did not read (or the task ended).
                None => {
                    close(socket, CloseCode::TooSlow).await;
                    return;
                }
            },
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        let reply = ServerMessage::Error { code: ErrorCode::BadMessage, message: "send JSON text frames, not binary".into() };
                        if !send(socket, &reply, None).await { return; }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                };
                if !rate.take(std::time::Instant::now()) {
                    state.metrics.ws_rejected.with_label_values(&["TooFast"]).inc();
                    let reply = ServerMessage::Error {
                        code: ErrorCode::BadMessage,
                        message: format!(
                            "more than {MESSAGE_BURST} messages at once, or {MESSAGES_PER_SECOND} a second after that; this socket is closed"
                        ),
                    };
                    let _ = send(socket, &reply, None).await;
                    close(socket, CloseCode::TooFast).await;
                    return;
                }
                let (result, id) = match decode_frame(&text) {
                    Ok(frame) => (
                        state.live.client(session_id, participant_id, connection, frame.message, frame.id.clone()).await,
                        frame.id,
                    ),
                    Err(e) => {
                        let reply = ServerMessage::Error { code: ErrorCode::BadMessage, message: e.error.to_string() };
                        state.metrics.ws_rejected.with_label_values(&["BadMessage"]).inc();
                        if !send(socket, &reply, e.id.as_ref()).await { return; }
                        continue;
                    }
                };
                match result {
                    Ok(()) => {}
                    Err(HubError::Refused(r)) => {
                        state.metrics.ws_rejected.with_label_values(&[&format!("{:?}", r.code)]).inc();
                        if !send(socket, &ServerMessage::Error { code: r.code, message: r.message }, id.as_ref()).await { return; }
                    }
                    Err(HubError::Gone) => {
                        // Drain what the task queued (e.g. `ended`, then its
                        // close) before closing.
                        while let Ok(outgoing) = inbox.try_recv() {
                            match outgoing {
                                Outgoing::Message(m, id) => {
                                    let _ = send(socket, &m, id.as_ref()).await;
                                }
                                Outgoing::Close(why) => {
                                    close(socket, why).await;
                                    return;
                                }
                            }
                        }
                        close(socket, CloseCode::JoinRefused(ErrorCode::SessionOver)).await;
                        return;
                    }
                }
            }
        }
    }
}
