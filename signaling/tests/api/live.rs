//! Live sessions over the real WebSocket: lobby, admission, warnings, the
//! scheduled end, staff ending a visit, and hostile frames.

use crate::harness::*;
use crate::ws::*;
use chrono::{Duration, SubsecRound};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_visit_waits_starts_warns_and_ends_on_time() {
    let s = start().await;
    let BookedVisit {
        id,
        family_token: visitor_token,
        cell_token: detainee_token,
        ..
    } = booked_visit(&s, 10, 10).await;

    let (mut family, welcome) = join(&s, id, &visitor_token).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["state"], "lobby");
    assert_eq!(
        welcome["notice"]["recorded"], true,
        "demo records consenting visits"
    );
    assert!(
        welcome["notice"]["announcements"].as_array().map(Vec::len) >= Some(2),
        "bilingual"
    );
    assert!(
        welcome["notice"]["why"]
            .as_str()
            .unwrap_or("")
            .contains("demo/recording/social_visit")
    );
    let (mut cell, welcome) = join(&s, id, &detainee_token).await;
    assert_eq!(welcome["state"], "lobby");
    let roster = until(&mut family, "roster").await;
    assert_eq!(roster["participants"].as_array().map(Vec::len), Some(1));

    // The visit starts: both are admitted.
    s.clock.advance(Duration::minutes(10));
    until(&mut family, "admitted").await;
    until(&mut cell, "admitted").await;
    let session = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    assert_eq!(session.body["status"], "live");

    // Five and one minutes before the end.
    s.clock.advance(Duration::minutes(5));
    let w = until(&mut family, "warning").await;
    assert_eq!(w["minutes_left"], 5);
    assert_eq!(until(&mut cell, "warning").await["minutes_left"], 5);
    s.clock.advance(Duration::minutes(4));
    assert_eq!(until(&mut family, "warning").await["minutes_left"], 1);

    // The end.
    s.clock.advance(Duration::minutes(1));
    let ended = until(&mut family, "ended").await;
    assert_eq!(ended["reason"], "scheduled_end");
    assert!(ended["message"].as_str().unwrap_or("").contains("over"));
    assert_eq!(until(&mut cell, "ended").await["reason"], "scheduled_end");
    assert!(
        next(&mut family).await.is_none(),
        "socket closes after `ended`"
    );

    let session = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    assert_eq!(session.body["status"], "ended");
    let actions = s.audited_actions(&s.admin, id).await;
    assert!(actions.iter().any(|a| a == "session.join"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "session.admit"), "{actions:?}");
    assert_eq!(
        actions.last().map(String::as_str),
        Some("session.terminate"),
        "{actions:?}"
    );

    // Nobody rejoins after the end.
    let (mut late, answer) = join(&s, id, &visitor_token).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(next(&mut late).await.is_none());
}

#[tokio::test]
async fn tokens_are_checked_on_join() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let at = s.now() + Duration::minutes(5);
    let a = book_social_visit(&s, &p, at, 10).await;
    let mut other = social_visit(&p, at + Duration::minutes(20), 10);
    other["device_id"] = json!(p.second_kiosk);
    let b = s.create(&s.admin, "/v1/bookings", other).await;
    let (a_id, b_id) = (a["id"].as_i64().expect("id"), b["id"].as_i64().expect("id"));
    let a_token = token(&s, &s.admin, a_id, participant(&a, "visitor")).await;

    // Session A's token at session B.
    let (_, answer) = join(&s, b_id, &a_token).await;
    assert_eq!(answer["code"], "wrong_session", "{answer}");
    // A forged token.
    let (_, answer) = join(&s, a_id, &format!("{a_token}x")).await;
    assert_eq!(answer["code"], "invalid_token", "{answer}");
    // Another protocol version.
    let mut ws = send_join(&s, a_id, 99, &a_token).await;
    assert_eq!(
        next(&mut ws).await.expect("answer")["code"],
        "unsupported_version"
    );
    // Something other than join first.
    let mut ws = open(&s, a_id).await;
    send(&mut ws, json!({"type": "admit", "participant_id": 1})).await;
    assert_eq!(next(&mut ws).await.expect("answer")["code"], "not_joined");
    // Garbage and binary frames.
    let mut ws = open(&s, a_id).await;
    ws.send(Message::Text("{{{{".into())).await.expect("sent");
    assert_eq!(next(&mut ws).await.expect("answer")["code"], "bad_message");
    let mut ws = open(&s, a_id).await;
    ws.send(Message::Binary(vec![0u8, 159, 146, 150].into()))
        .await
        .expect("sent");
    assert_eq!(next(&mut ws).await.expect("answer")["code"], "bad_message");
    // The valid token still works, and garbage after joining changes nothing.
    let (mut ws, welcome) = join(&s, a_id, &a_token).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws.send(Message::Text(
        r#"{"type":"end","reason":"x","extra":1}"#.into(),
    ))
    .await
    .expect("sent");
    assert_eq!(until(&mut ws, "error").await["code"], "bad_message");
    send(&mut ws, json!({"type": "end", "reason": "I am a visitor"})).await;
    assert_eq!(until(&mut ws, "error").await["code"], "forbidden");
    send(&mut ws, json!({"type": "ping"})).await;
    until(&mut ws, "pong").await;
    let session = s.get(&s.admin, &format!("/v1/sessions/{a_id}")).await;
    assert_ne!(session.body["status"], "ended");
}

#[tokio::test]
async fn a_judge_admits_from_the_lobby_and_removes() {
    let s = start().await;
    let at = s.now() + Duration::minutes(5);
    let hearing = hearing(
        &s,
        "Court",
        at,
        &[
            ("Judge J", "judge"),
            ("Witness W", "witness"),
            ("Observer O", "observer"),
        ],
    )
    .await;
    let id = hearing["id"].as_i64().expect("id");
    let clerk = s.user("clerk", None, None).await;
    let (mut judge, welcome) = join(
        &s,
        id,
        &token(&s, &clerk, id, participant(&hearing, "judge")).await,
    )
    .await;
    assert_eq!(welcome["state"], "admitted", "{welcome}");
    let witness_id = participant(&hearing, "witness");
    let witness_token = token(&s, &clerk, id, witness_id).await;
    let (mut witness, welcome) = join(&s, id, &witness_token).await;
    assert_eq!(welcome["state"], "lobby");
    let (mut observer, _) = join(
        &s,
        id,
        &token(&s, &clerk, id, participant(&hearing, "observer")).await,
    )
    .await;

    // A witness cannot admit anyone.
    send(
        &mut witness,
        json!({"type": "admit", "participant_id": witness_id}),
    )
    .await;
    assert_eq!(until(&mut witness, "error").await["code"], "forbidden");

    send(
        &mut judge,
        json!({"type": "admit", "participant_id": witness_id}),
    )
    .await;
    until(&mut witness, "admitted").await;
    // The judge's roster shows the witness admitted and the observer; the
    // witness's roster does not show the observer.
    loop {
        let r = until(&mut judge, "roster").await;
        let ps = r["participants"].as_array().expect("list").clone();
        if ps
            .iter()
            .any(|p| p["participant_id"] == witness_id && p["state"] == "admitted")
        {
            assert!(ps.iter().any(|p| p["role"] == "observer"), "{r}");
            break;
        }
    }
    let r = until(&mut witness, "roster").await;
    assert!(!r["participants"].to_string().contains("observer"), "{r}");
    let _ = next(&mut observer).await;

    // Only the judge extends.
    send(&mut judge, json!({"type": "extend", "minutes": 30})).await;
    let ext = until(&mut witness, "extended").await;
    let new_end: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(ext["ends_at"].clone()).expect("time");
    assert_eq!(new_end, (at + Duration::minutes(90)).trunc_subsecs(0));

    send(
        &mut judge,
        json!({"type": "remove", "participant_id": witness_id, "reason": "Testimony complete"}),
    )
    .await;
    let ended = until(&mut witness, "ended").await;
    assert_eq!(ended["reason"], "removed");
    assert_eq!(ended["message"], "Testimony complete");
    // A removed participant cannot come back with their token.
    let (_, answer) = join(&s, id, &witness_token).await;
    assert_eq!(answer["code"], "forbidden", "{answer}");
    let actions = s.audited_actions(&clerk, id).await;
    for a in ["session.admit", "session.extend", "session.remove"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
}

#[tokio::test]
async fn an_officer_monitors_and_ends_a_social_visit_with_a_reason() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    // eng-wales needs 48 h lead time: book, then move the clock.
    let at = day_at(3, 14);
    let booking = book_social_visit(&s, &p, at, 30).await;
    let id = booking["id"].as_i64().expect("id");
    s.clock.advance(at - s.now() + Duration::minutes(1));
    let (mut family, welcome) = join_as(&s, &booking, "visitor").await;
    assert_eq!(welcome["state"], "admitted");
    assert_eq!(welcome["notice"]["monitored"], true);
    let officer = s.user("officer", Some(p.facility), None).await;
    let m = s
        .post(&officer, &format!("/v1/sessions/{id}/monitor"), json!({}))
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    let (mut monitor, welcome) = join(&s, id, m.body["token"].as_str().expect("token")).await;
    assert_eq!(welcome["role"], "officer");
    assert_eq!(welcome["state"], "admitted");
    // The family's roster never lists the monitor.
    let r = until(&mut family, "roster").await;
    assert!(!r.to_string().contains("officer"), "{r}");

    let e = s
        .post(
            &officer,
            &format!("/v1/sessions/{id}/end"),
            json!({"reason": "Security concern on the wing"}),
        )
        .await;
    assert_eq!(e.status, StatusCode::NO_CONTENT, "{}", e.body);
    let ended = until(&mut family, "ended").await;
    assert_eq!(ended["reason"], "ended_by_staff");
    assert_eq!(ended["message"], "Security concern on the wing");
    until(&mut monitor, "ended").await;
    let session = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    assert_eq!(session.body["status"], "ended");
    assert_eq!(
        session.body["status_reason"],
        "Security concern on the wing"
    );
}

#[tokio::test]
async fn cancelling_a_visit_tells_the_waiting_family() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let booking = book_social_visit(&s, &p, s.now() + Duration::minutes(10), 10).await;
    let id = booking["id"].as_i64().expect("id");
    let (mut family, welcome) = join_as(&s, &booking, "visitor").await;
    assert_eq!(welcome["state"], "lobby");
    s.cancel(id, "The kiosk is out of order.").await;
    let ended = until(&mut family, "ended").await;
    assert_eq!(ended["reason"], "cancelled");
    assert_eq!(ended["message"], "The kiosk is out of order.");
    // The start comes and goes: the visit stays cancelled.
    s.clock.advance(Duration::minutes(11));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let session = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    assert_eq!(session.body["status"], "cancelled");
}

#[tokio::test]
async fn a_removed_participant_gets_no_new_token() {
    let s = start().await;
    let at = s.now() + Duration::minutes(1);
    let hearing = hearing(
        &s,
        "Court",
        at,
        &[("Judge J", "judge"), ("Observer O", "observer")],
    )
    .await;
    let id = hearing["id"].as_i64().expect("id");
    let observer = participant(&hearing, "observer");
    let (mut judge, _) = join_as(&s, &hearing, "judge").await;
    let (mut gallery, _) = join_as(&s, &hearing, "observer").await;
    send(
        &mut judge,
        json!({"type": "remove", "participant_id": observer, "reason": "Filming in court"}),
    )
    .await;
    assert_eq!(until(&mut gallery, "ended").await["reason"], "removed");
    let r = s
        .post(
            &s.admin,
            &format!("/v1/sessions/{id}/participants/{observer}/join-token"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.message().contains("removed"), "{}", r.message());
    let session = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
    let removed = session.body["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == observer))
        .map(|p| p["removed"].clone());
    assert_eq!(removed, Some(json!(true)));
}

#[tokio::test]
async fn a_stalled_media_server_does_not_hold_up_the_session() {
    use futures_util::StreamExt;
    // Every room opening and join waits 5 s, as behind a hung media worker.
    let s = start_with_stalling_sfu(std::time::Duration::from_secs(5)).await;
    let v = visit_under_way(&s, 30).await;
    let (mut family, _) = join(&s, v.id, &v.family_token).await;
    let (mut cell, _) = join(&s, v.id, &v.cell_token).await;
    send(
        &mut family,
        json!({"type": "offer", "sdp": "v=0\r\n", "id": "offer-1"}),
    )
    .await;
    // The session answers the other side at once, while the offer waits
    // for the media server.
    send(&mut cell, json!({"type": "ping", "id": "ping-1"})).await;
    assert_eq!(until(&mut cell, "pong").await["id"], "ping-1");
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(std::time::Duration::from_millis(100), family.next()).await
    {
        let m: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_ne!(
            m["id"], "offer-1",
            "the offer was answered before the ping, so the ping waited: {m}"
        );
    }
    // The offer's turn comes once the media server answers (this one is no
    // SDP, so it is refused).
    let reply = until(&mut family, "error").await;
    assert_eq!(reply["id"], "offer-1", "{reply}");
    assert_eq!(reply["code"], "media_refused", "{reply}");
}
