//! A live-session WebSocket client for the tests: open, join, read.

use crate::harness::{Server, book_social_visit, prison};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn open(s: &Server, session: i64) -> Ws {
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/v1/sessions/{session}/ws", s.addr))
            .await
            .expect("websocket connects");
    ws
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("sent");
}

/// The next JSON message, or `None` when the socket closed. Fails after 10 s.
pub async fn next(ws: &mut Ws) -> Option<Value> {
    next_within(ws, std::time::Duration::from_secs(10)).await
}

/// The next JSON message within `limit`, or `None` when the socket closed.
pub async fn next_within(ws: &mut Ws, limit: std::time::Duration) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(limit, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no message within {limit:?}"));
        match m {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).expect("json")),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads until the server closes the socket; returns the close frame's
/// status code and reason (`None`: closed without a frame).
pub async fn close_frame(ws: &mut Ws) -> Option<(u16, String)> {
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("the socket closes within 10 s");
        match m {
            Some(Ok(Message::Close(frame))) => {
                return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads until a message of `kind` arrives; panics if the socket closes first.
pub async fn until(ws: &mut Ws, kind: &str) -> Value {
    loop {
        match next(ws).await {
            Some(m) if m["type"] == kind => return m,
            Some(_) => continue,
            None => panic!("socket closed before `{kind}`"),
        }
    }
}

/// Opens `session`'s socket and asks to join it with `token` in protocol
/// `version`, reading nothing yet.
pub async fn send_join(s: &Server, session: i64, version: u32, token: &str) -> Ws {
    let mut ws = open(s, session).await;
    send(
        &mut ws,
        json!({"type": "join", "version": version, "token": token}),
    )
    .await;
    ws
}

pub async fn join(s: &Server, session: i64, token: &str) -> (Ws, Value) {
    let mut ws = send_join(s, session, 1, token).await;
    let welcome = next(&mut ws).await.expect("an answer to join");
    (ws, welcome)
}

pub async fn token(s: &Server, caller: &str, session: i64, participant: i64) -> String {
    let r = s
        .post(
            caller,
            &format!("/v1/sessions/{session}/participants/{participant}/join-token"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["token"].as_str().expect("token").to_string()
}

pub fn participant(session: &Value, role: &str) -> i64 {
    session["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["role"] == role))
        .and_then(|p| p["id"].as_i64())
        .unwrap_or_else(|| panic!("no {role} in {session}"))
}

/// Joins `session` (a created session's JSON) as its participant of `role`,
/// with a token the administrator fetched.
pub async fn join_as(s: &Server, session: &Value, role: &str) -> (Ws, Value) {
    let id = session["id"].as_i64().expect("session id");
    let pid = participant(session, role);
    join(s, id, &token(s, &s.admin, id, pid).await).await
}

/// A demo social visit booked to start `starts_in_minutes` from now and last
/// `minutes`, with the family's and the detainee's join tokens.
#[allow(dead_code)] // the API tests read the booking, the browser tests the rest
pub struct BookedVisit {
    pub booking: Value,
    pub id: i64,
    pub family_token: String,
    pub cell_token: String,
}

pub async fn booked_visit(s: &Server, starts_in_minutes: i64, minutes: i64) -> BookedVisit {
    let p = prison(s, "demo", 1).await;
    let start = s.now() + chrono::Duration::minutes(starts_in_minutes);
    let booking = book_social_visit(s, &p, start, minutes).await;
    let id = booking["id"].as_i64().expect("id");
    let family_token = token(s, &s.admin, id, participant(&booking, "visitor")).await;
    let cell_token = token(s, &s.admin, id, participant(&booking, "detainee")).await;
    BookedVisit {
        booking,
        id,
        family_token,
        cell_token,
    }
}

/// A demo social visit of `minutes` booked to start in a minute, and the
/// clock moved on to its start.
pub async fn visit_under_way(s: &Server, minutes: i64) -> BookedVisit {
    let booked = booked_visit(s, 1, minutes).await;
    s.clock.advance(chrono::Duration::minutes(1));
    booked
}
