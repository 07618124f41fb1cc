//! The control API's HTTP server (axum), in front of an in-process
//! [`Sfu`]. Control calls block for at most the worker timeout, so they run
//! on tokio's blocking pool.

use super::{
    ErrorBody, EventBody, EventLog, EventsReply, JoinBody, JoinReply, MuteBody, RoomPolicyBody,
    kind_name,
};
use crate::engine::{JoinRequest, RoomId, Sfu, SfuError, SfuEvent};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Largest request body, bytes (an SDP offer is a few KiB).
const MAX_BODY: usize = 256 * 1024;
/// Events kept for pollers.
const EVENTS_KEPT: usize = 4096;
/// Most events in one reply.
const EVENTS_PER_REPLY: usize = 256;
/// How long an event poll waits for something to happen.
const POLL_WAIT: Duration = Duration::from_secs(20);

/// The SFU's events, numbered, with a wake-up for waiting pollers.
struct EventFeed {
    log: Mutex<EventLog<SfuEvent>>,
    arrived: Notify,
}

#[derive(Clone)]
struct ControlState {
    sfu: Arc<Sfu>,
    secret: Arc<str>,
    feed: Arc<EventFeed>,
}

/// The control API for `sfu`, accepting `secret` as bearer token. Takes the
/// SFU's event channel: nothing else in the process may take it.
pub fn router(sfu: Arc<Sfu>, secret: String) -> Router {
    let feed = Arc::new(EventFeed {
        log: Mutex::new(EventLog::new(EVENTS_KEPT)),
        arrived: Notify::new(),
    });
    if let Some(events) = sfu.take_events() {
        let pump = feed.clone();
        let started = std::thread::Builder::new()
            .name("sfu-control-events".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    if let Ok(mut log) = pump.log.lock() {
                        log.push(event);
                    }
                    pump.arrived.notify_waiters();
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the event thread; pollers get no events");
        }
    }
    let state = ControlState {
        sfu,
        secret: secret.into(),
        feed,
    };
    let v1 = Router::new()
        .route("/v1/rooms/{room}", put(open_room).delete(close_room))
        .route("/v1/rooms/{room}/joins", post(join))
        .route("/v1/rooms/{room}/members/{member}", delete(remove))
        .route("/v1/rooms/{room}/members/{member}/mute", put(mute))
        .route("/v1/rooms/{room}/hearing", post(hearing))
        .route("/v1/rooms/{room}/downlinks", get(downlinks))
        .route("/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .merge(v1)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            refusal(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see docs/sfu.md for the control API".into(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.to_string(),
            message,
        }),
    )
        .into_response()
}

fn sfu_refusal(e: &SfuError) -> Response {
    refusal(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        e.code(),
        e.to_string(),
    )
}

fn bad_request(message: String) -> Response {
    refusal(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The room id of the path, or what was wrong with it.
fn room_id(path: Result<Path<RoomId>, PathRejection>) -> Result<RoomId, String> {
    path.map(|Path(room)| room)
        .map_err(|e| format!("room id: {e}"))
}

async fn authorize(State(state): State<ControlState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(secret) if parley_grants::secrets_match(secret, &state.secret) => {
            next.run(request).await
        }
        _ => refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer secret; it is derived from the join-token key (parley_grants::control_secret)".into(),
        ),
    }
}

/// Runs a blocking SFU call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SfuError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(sfu_refusal(&e)),
        Err(e) => Err(refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "engine_failed",
            format!("the control call failed: {e}"),
        )),
    }
}

async fn open_room(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<RoomPolicyBody>, JsonRejection>,
) -> Response {
    let room = match room_id(room) {
        Ok(room) => room,
        Err(why) => return bad_request(why),
    };
    let Json(policy) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(format!("room policy: {}", e.body_text())),
    };
    match blocking(move || state.sfu.open_room(room, policy.into())).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn close_room(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
) -> Response {
    let room = match room_id(room) {
        Ok(room) => room,
        Err(why) => return bad_request(why),
    };
    match blocking(move || state.sfu.close_room(room)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn downlinks(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
) -> Response {
    let room = match room_id(room) {
        Ok(room) => room,
        Err(why) => return bad_request(why),
    };
    match blocking(move || state.sfu.downlinks(room)).await {
        Ok(reports) => Json(
            reports
                .iter()
                .map(super::DownlinkBody::from)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(r) => r,
    }
}

async fn join(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<JoinBody>, JsonRejection>,
) -> Response {
    let room = match room_id(room) {
        Ok(room) => room,
        Err(why) => return bad_request(why),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(format!("join: {}", e.body_text())),
    };
    let request = JoinRequest {
        room,
        token: body.token,
        offer: body.offer,
        receive_slots: body.receive_slots,
        muted: crate::engine::Muted {
            audio: body.muted_audio,
            video: body.muted_video,
        },
        consultation: body.consultation,
        protected_from: body.protected_from,
    };
    match blocking(move || state.sfu.join(request)).await {
        Ok(answer) => Json(JoinReply {
            member: answer.member,
            kind: kind_name(answer.kind).to_string(),
            sdp: answer.sdp,
        })
        .into_response(),
        Err(r) => r,
    }
}

async fn remove(
    State(state): State<ControlState>,
    ids: Result<Path<(RoomId, i64)>, PathRejection>,
) -> Response {
    let Path((room, member)) = match ids {
        Ok(ids) => ids,
        Err(e) => return bad_request(format!("room or member id: {e}")),
    };
    match blocking(move || state.sfu.remove(room, member)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn mute(
    State(state): State<ControlState>,
    ids: Result<Path<(RoomId, i64)>, PathRejection>,
    body: Result<Json<MuteBody>, JsonRejection>,
) -> Response {
    let Path((room, member)) = match ids {
        Ok(ids) => ids,
        Err(e) => return bad_request(format!("room or member id: {e}")),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(format!("mute: {}", e.body_text())),
    };
    match blocking(move || {
        state
            .sfu
            .set_muted(room, member, body.media.into(), body.muted)
    })
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn hearing(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<crate::engine::HearingChange>, JsonRejection>,
) -> Response {
    let room = match room_id(room) {
        Ok(room) => room,
        Err(why) => return bad_request(why),
    };
    let Json(change) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(format!("hearing change: {}", e.body_text())),
    };
    match blocking(move || state.sfu.change_hearing(room, change)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Sequence number of the last event the caller has; absent: answer
    /// at once with no events and the current position.
    after: Option<u64>,
}

async fn events(
    State(state): State<ControlState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return bad_request(format!("events query: {}", e.body_text())),
    };
    let feed = &state.feed;
    let read = |after: Option<u64>| -> EventsReply {
        let Ok(log) = feed.log.lock() else {
            return EventsReply {
                events: Vec::new(),
                next: 0,
                missed: 0,
            };
        };
        let after = after.unwrap_or(log.last_seq());
        let (events, missed) = log.after(after, EVENTS_PER_REPLY);
        EventsReply {
            next: events.last().map_or(after.min(log.last_seq()), |e| e.seq),
            events: events.iter().map(|e| EventBody::from(&e.event)).collect(),
            missed,
        }
    };
    // Listen before looking, so an event between the two is not missed.
    let arrived = feed.arrived.notified();
    tokio::pin!(arrived);
    arrived.as_mut().enable();
    let first = read(query.after);
    // Without `after` the caller only asks where the log stands.
    if !first.events.is_empty() || query.after.is_none() {
        return Json(first).into_response();
    }
    let _ = tokio::time::timeout(POLL_WAIT, arrived).await;
    Json(read(Some(first.next))).into_response()
}

async fn metrics(State(state): State<ControlState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::engine::prometheus::render(&state.sfu.stats()),
    )
        .into_response()
}
