//! The control API's HTTP server (axum), in front of the SFU of this
//! process as a media plane ([`InProcessPlane`]).

use super::{EventLog, EventsReply, JoinBody, JoinReply, MuteBody, StopRecordingBody, kind_name};
use crate::plane::InProcessPlane;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use parley_control::{
    FailureCode, HearingChange, JoinRequest, MediaEvent, MediaFailure, MediaPlane, MemberId,
    RecordingOrder, RoomId, RoomPolicy,
};
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
    log: Mutex<EventLog<MediaEvent>>,
    arrived: Notify,
    /// This process's boot id, in every reply.
    boot: String,
}

#[derive(Clone)]
struct ControlState {
    plane: Arc<InProcessPlane>,
    secret: Arc<str>,
    feed: Arc<EventFeed>,
}

/// The control API for `plane`, accepting `secret` as bearer token. Takes
/// the plane's events: nothing else in the process may take them.
pub fn router(plane: Arc<InProcessPlane>, secret: String) -> Router {
    let feed = Arc::new(EventFeed {
        log: Mutex::new(EventLog::new(EVENTS_KEPT)),
        arrived: Notify::new(),
        boot: format!("{:016x}", rand::random::<u64>()),
    });
    if let Some(mut events) = plane.events() {
        let pump = feed.clone();
        let started = std::thread::Builder::new()
            .name("sfu-control-events".into())
            .spawn(move || {
                while let Some(event) = events.blocking_recv() {
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
        plane,
        secret: secret.into(),
        feed,
    };
    let v1 = Router::new()
        .route("/v1/rooms/{room}", put(open_room).delete(close_room))
        .route("/v1/rooms/{room}/joins", post(join))
        .route("/v1/rooms/{room}/members/{member}", delete(remove))
        .route("/v1/rooms/{room}/members/{member}/mute", put(mute))
        .route("/v1/rooms/{room}/hearing", post(hearing))
        .route(
            "/v1/rooms/{room}/recording",
            put(start_recording).delete(stop_recording),
        )
        .route("/v1/rooms/{room}/downlinks", get(downlinks))
        .route("/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .merge(v1)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            refusal(MediaFailure::new(
                FailureCode::NotFound,
                "no such endpoint; see docs/sfu.md for the control API",
            ))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// A refusal: the failure as the body, with its code's status.
struct Refusal(MediaFailure);

impl From<MediaFailure> for Refusal {
    fn from(failure: MediaFailure) -> Self {
        Self(failure)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

fn refusal(failure: MediaFailure) -> Response {
    Refusal(failure).into_response()
}

fn bad_request(message: String) -> Refusal {
    Refusal(MediaFailure::new(FailureCode::BadRequest, message))
}

/// What a handler answers: a reply, or a refusal.
type Reply = Result<Response, Refusal>;

/// No content on success, else the refusal.
fn done(result: Result<(), MediaFailure>) -> Reply {
    result?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The room id of the path, or a refusal naming what was wrong with it.
fn room_id(path: Result<Path<RoomId>, PathRejection>) -> Result<RoomId, Refusal> {
    path.map(|Path(room)| room)
        .map_err(|e| bad_request(format!("room id: {e}")))
}

/// The room and member ids of the path, or a refusal.
fn member_ids(
    path: Result<Path<(RoomId, MemberId)>, PathRejection>,
) -> Result<(RoomId, MemberId), Refusal> {
    path.map(|Path(ids)| ids)
        .map_err(|e| bad_request(format!("room or member id: {e}")))
}

/// The JSON body, or a refusal naming `what` it should have been and what
/// was wrong with it.
fn json<T>(body: Result<Json<T>, JsonRejection>, what: &str) -> Result<T, Refusal> {
    body.map(|Json(b)| b)
        .map_err(|e| bad_request(format!("{what}: {}", e.body_text())))
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
        _ => refusal(MediaFailure::new(
            FailureCode::Unauthorized,
            "missing or wrong bearer secret; it is derived from the join-token key (parley_grants::control_secret)",
        )),
    }
}

async fn open_room(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<RoomPolicy>, JsonRejection>,
) -> Reply {
    let room = room_id(room)?;
    let policy = json(body, "room policy")?;
    done(state.plane.open_room(room, policy).await)
}

async fn close_room(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
) -> Reply {
    let room = room_id(room)?;
    done(state.plane.close_room(room).await)
}

async fn downlinks(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
) -> Reply {
    let room = room_id(room)?;
    let downlinks = state.plane.downlinks(room).await?;
    Ok(Json(downlinks).into_response())
}

async fn join(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<JoinBody>, JsonRejection>,
) -> Reply {
    let room = room_id(room)?;
    let body = json(body, "join")?;
    let request = JoinRequest {
        room,
        standing: body.standing(),
        token: body.token,
        offer: body.offer,
        receive_slots: body.receive_slots,
    };
    let answer = state.plane.join_answer(request).await?;
    Ok(Json(JoinReply {
        member: answer.member,
        kind: kind_name(answer.kind).to_string(),
        sdp: answer.sdp,
    })
    .into_response())
}

async fn remove(
    State(state): State<ControlState>,
    ids: Result<Path<(RoomId, MemberId)>, PathRejection>,
) -> Reply {
    let (room, member) = member_ids(ids)?;
    done(state.plane.remove(room, member).await)
}

async fn mute(
    State(state): State<ControlState>,
    ids: Result<Path<(RoomId, MemberId)>, PathRejection>,
    body: Result<Json<MuteBody>, JsonRejection>,
) -> Reply {
    let (room, member) = member_ids(ids)?;
    let body = json(body, "mute")?;
    done(
        state
            .plane
            .set_muted(room, member, body.media, body.muted)
            .await,
    )
}

async fn hearing(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<HearingChange>, JsonRejection>,
) -> Reply {
    let room = room_id(room)?;
    let change = json(body, "hearing change")?;
    done(state.plane.change_hearing(room, change).await)
}

async fn start_recording(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<RecordingOrder>, JsonRejection>,
) -> Reply {
    let room = room_id(room)?;
    let order = json(body, "recording order")?;
    if order.room != room {
        return Err(bad_request(format!(
            "the recording order names room {} but the path room {room}",
            order.room
        )));
    }
    done(state.plane.start_recording(order).await)
}

async fn stop_recording(
    State(state): State<ControlState>,
    room: Result<Path<RoomId>, PathRejection>,
    body: Result<Json<StopRecordingBody>, JsonRejection>,
) -> Reply {
    let room = room_id(room)?;
    let body = json(body, "stop recording")?;
    done(state.plane.stop_recording(room, &body.reason).await)
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Sequence number of the last event the caller has; absent: answer
    /// at once with no events and the current position.
    after: Option<u64>,
    /// The boot id the caller last saw: if it is not this process's, the
    /// answer comes at once (the caller's position means nothing here).
    boot: Option<String>,
}

async fn events(
    State(state): State<ControlState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return bad_request(format!("events query: {}", e.body_text())).into_response(),
    };
    let feed = &state.feed;
    let read = |after: Option<u64>| -> EventsReply {
        let Ok(log) = feed.log.lock() else {
            return EventsReply {
                events: Vec::new(),
                next: 0,
                missed: 0,
                boot: feed.boot.clone(),
            };
        };
        let after = after.unwrap_or(log.last_seq());
        let (events, missed) = log.after(after, EVENTS_PER_REPLY);
        EventsReply {
            next: events.last().map_or(after.min(log.last_seq()), |e| e.seq),
            events: events.iter().map(|e| e.event.clone()).collect(),
            missed,
            boot: feed.boot.clone(),
        }
    };
    // Listen before looking, so an event between the two is not missed.
    let arrived = feed.arrived.notified();
    tokio::pin!(arrived);
    arrived.as_mut().enable();
    let first = read(query.after);
    // Without `after` the caller only asks where the log stands; a caller
    // that knew another process learns of this one at once.
    let other_process = query.boot.as_ref().is_some_and(|b| *b != feed.boot);
    if !first.events.is_empty() || query.after.is_none() || other_process {
        return Json(first).into_response();
    }
    let _ = tokio::time::timeout(POLL_WAIT, arrived).await;
    Json(read(Some(first.next))).into_response()
}

async fn metrics(State(state): State<ControlState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.plane.metrics_text(),
    )
        .into_response()
}
