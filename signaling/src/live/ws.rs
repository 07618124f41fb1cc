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
use crate::store::sessions;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use parley_protocol::{
    ClientMessage, ErrorCode, MAX_CLIENT_MESSAGE_BYTES, PROTOCOL_VERSION, ServerMessage,
    decode_client, encode_server,
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

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    socket
        .send(Message::Text(encode_server(message).into()))
        .await
        .is_ok()
}

async fn refuse(state: &AppState, socket: &mut WebSocket, code: ErrorCode, message: String) {
    state
        .metrics
        .ws_rejected
        .with_label_values(&[&format!("{code:?}")])
        .inc();
    let _ = send(socket, &ServerMessage::Error { code, message }).await;
    let _ = socket.send(Message::Close(None)).await;
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
        .min(parley_sfu::engine::MAX_RECEIVE_SLOTS)
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

async fn authorize(
    state: &AppState,
    session_id: i64,
    text: &str,
) -> Result<Joined, (ErrorCode, String)> {
    let message = decode_client(text).map_err(|e| (ErrorCode::BadMessage, e.to_string()))?;
    let ClientMessage::Join { version, token } = message else {
        return Err((
            ErrorCode::NotJoined,
            "the first message must be `join`".into(),
        ));
    };
    if version != PROTOCOL_VERSION {
        return Err((
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
                (ErrorCode::WrongSession, e.to_string())
            }
            _ => (ErrorCode::InvalidToken, e.to_string()),
        })?;
    let participant_id = claims
        .participant_id()
        .map_err(|e| (ErrorCode::InvalidToken, e.to_string()))?;
    let internal = |_| {
        (
            ErrorCode::Internal,
            "the store could not be read".to_string(),
        )
    };
    let session = sessions::get(state.store.pool(), session_id)
        .await
        .map_err(internal)?
        .ok_or((
            ErrorCode::WrongSession,
            format!("there is no session {session_id}"),
        ))?;
    if matches!(
        session.status,
        SessionStatus::Ended | SessionStatus::Cancelled
    ) || now >= session.ends_at
    {
        return Err((
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
        .ok_or((
            ErrorCode::InvalidToken,
            "the token's participant is not part of this session".to_string(),
        ))?;
    if participant.removed {
        return Err((
            ErrorCode::Forbidden,
            "you were removed from this session and cannot rejoin it".to_string(),
        ));
    }
    let jurisdiction = state
        .jurisdictions
        .get(&session.jurisdiction)
        .cloned()
        .ok_or((
            ErrorCode::Internal,
            format!(
                "jurisdiction {} is no longer configured",
                session.jurisdiction
            ),
        ))?;
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
                ErrorCode::NotJoined,
                format!("send `join` within {} seconds", JOIN_TIMEOUT.as_secs()),
            )
            .await;
        }
    };
    let joined = match authorize(&state, session_id, &text).await {
        Ok(j) => j,
        Err((code, message)) => return refuse(&state, &mut socket, code, message).await,
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
        Err(HubError::Refused(r)) => return refuse(&state, &mut socket, r.code, r.message).await,
        Err(HubError::Gone) => {
            return refuse(
                &state,
                &mut socket,
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
    if send(&mut socket, &welcome).await {
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
    loop {
        tokio::select! {
            outgoing = inbox.recv() => match outgoing {
                Some(Outgoing::Message(m)) => {
                    if !send(socket, &m).await { return; }
                }
                Some(Outgoing::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        let reply = ServerMessage::Error { code: ErrorCode::BadMessage, message: "send JSON text frames, not binary".into() };
                        if !send(socket, &reply).await { return; }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                };
                let result = match decode_client(&text) {
                    Ok(message) => state.live.client(session_id, participant_id, connection, message).await,
                    Err(e) => {
                        let reply = ServerMessage::Error { code: ErrorCode::BadMessage, message: e.to_string() };
                        state.metrics.ws_rejected.with_label_values(&["BadMessage"]).inc();
                        if !send(socket, &reply).await { return; }
                        continue;
                    }
                };
                match result {
                    Ok(()) => {}
                    Err(HubError::Refused(r)) => {
                        state.metrics.ws_rejected.with_label_values(&[&format!("{:?}", r.code)]).inc();
                        if !send(socket, &ServerMessage::Error { code: r.code, message: r.message }).await { return; }
                    }
                    Err(HubError::Gone) => {
                        // Drain what the task queued (e.g. `ended`) before closing.
                        while let Ok(Outgoing::Message(m)) = inbox.try_recv() {
                            let _ = send(socket, &m).await;
                        }
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
            }
        }
    }
}
