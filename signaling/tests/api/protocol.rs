//! The protocol's contract with a client written from the docs: request
//! ids come back on the replies, every close the server makes carries a
//! status code and a reason.

use crate::harness::*;
use crate::ws::*;
use chrono::Duration;
use serde_json::json;

#[tokio::test]
async fn replies_carry_the_id_of_the_request_they_answer() {
    let s = start().await;
    let v = booked_visit(&s, 0, 30).await;
    let mut ws = open(&s, v.id).await;
    send(
        &mut ws,
        json!({"type": "join", "version": 1, "token": v.family_token, "id": "join-1"}),
    )
    .await;
    let welcome = until(&mut ws, "welcome").await;
    assert_eq!(welcome["id"], "join-1", "{welcome}");
    send(&mut ws, json!({"type": "ping", "id": 7})).await;
    let pong = until(&mut ws, "pong").await;
    assert_eq!(pong["id"], 7, "{pong}");
    send(&mut ws, json!({"type": "ping"})).await;
    let pong = until(&mut ws, "pong").await;
    assert!(pong.get("id").is_none(), "no id asked, none given: {pong}");
    // Refused by the rules: the error names the request.
    send(
        &mut ws,
        json!({"type": "extend", "minutes": 5, "id": "ext"}),
    )
    .await;
    let error = until(&mut ws, "error").await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_str()),
        (Some("forbidden"), Some("ext")),
        "{error}"
    );
    // Malformed, but its id could be read.
    send(
        &mut ws,
        json!({"type": "admit", "participant_id": "x", "id": 9}),
    )
    .await;
    let error = until(&mut ws, "error").await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_i64()),
        (Some("bad_message"), Some(9)),
        "{error}"
    );
    // An id that is not one.
    send(&mut ws, json!({"type": "ping", "id": {"a": 1}})).await;
    let error = until(&mut ws, "error").await;
    assert_eq!(error["code"], "bad_message", "{error}");
    assert!(
        error["message"].as_str().unwrap_or("").contains("`id`"),
        "{error}"
    );
}

#[tokio::test]
async fn every_close_by_the_server_says_why() {
    let s = start().await;
    let v = booked_visit(&s, 0, 10).await;

    // A refused join: `error`, then a close naming the same code.
    let mut ws = open(&s, v.id).await;
    send(
        &mut ws,
        json!({"type": "join", "version": 1, "token": "nonsense"}),
    )
    .await;
    assert_eq!(until(&mut ws, "error").await["code"], "invalid_token");
    assert_eq!(
        close_frame(&mut ws).await,
        Some((4003, "invalid_token".into()))
    );
    let mut ws = open(&s, v.id).await;
    send(
        &mut ws,
        json!({"type": "join", "version": 9, "token": v.family_token}),
    )
    .await;
    assert_eq!(
        close_frame(&mut ws).await,
        Some((4002, "unsupported_version".into()))
    );

    // Leaving: a normal closure.
    let (mut ws, _) = join(&s, v.id, &v.family_token).await;
    send(&mut ws, json!({"type": "leave"})).await;
    assert_eq!(close_frame(&mut ws).await, Some((1000, "left".into())));

    // The same person on a second device: the first is told and closed.
    let (mut first, _) = join(&s, v.id, &v.family_token).await;
    let (mut second, _) = join(&s, v.id, &v.family_token).await;
    assert_eq!(until(&mut first, "error").await["code"], "already_joined");
    assert_eq!(
        close_frame(&mut first).await,
        Some((4008, "replaced".into()))
    );

    // The scheduled end.
    let (mut cell, _) = join(&s, v.id, &v.cell_token).await;
    s.clock.advance(Duration::minutes(10));
    for ws in [&mut second, &mut cell] {
        assert_eq!(until(ws, "ended").await["reason"], "scheduled_end");
        assert_eq!(close_frame(ws).await, Some((4010, "scheduled_end".into())));
    }
    // Joining after it.
    let mut late = open(&s, v.id).await;
    send(
        &mut late,
        json!({"type": "join", "version": 1, "token": v.family_token}),
    )
    .await;
    assert_eq!(
        close_frame(&mut late).await,
        Some((4006, "session_over".into()))
    );
}
