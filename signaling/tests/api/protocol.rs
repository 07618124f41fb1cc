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
async fn a_socket_that_floods_with_messages_is_closed_and_the_session_goes_on() {
    let s = start().await;
    let v = booked_visit(&s, 0, 30).await;
    let (mut flooding, _) = join(&s, v.id, &v.family_token).await;
    // Pings cost the session task a round trip each; the first 60 are
    // answered, then the socket is past its rate.
    for i in 0..parley_protocol::MESSAGE_BURST + 20 {
        send(&mut flooding, json!({"type": "ping", "id": i})).await;
    }
    let refusal = until(&mut flooding, "error").await;
    assert_eq!(refusal["code"], "bad_message", "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.contains("60 messages at once")),
        "{refusal}"
    );
    assert_eq!(
        close_frame(&mut flooding).await,
        Some((4021, "too_fast".into()))
    );
    assert!(
        s.metrics()
            .await
            .contains("parley_ws_rejected_total{code=\"TooFast\"} 1"),
        "counted"
    );
    // The session is unharmed: the same person joins again at once.
    let (mut again, welcome) = join(&s, v.id, &v.family_token).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    send(&mut again, json!({"type": "ping", "id": "after"})).await;
    assert_eq!(until(&mut again, "pong").await["id"], "after");
}

#[tokio::test]
async fn every_close_by_the_server_says_why() {
    let s = start().await;
    let v = booked_visit(&s, 0, 10).await;

    // A refused join: `error`, then a close naming the same code.
    let mut ws = send_join(&s, v.id, 1, "nonsense").await;
    assert_eq!(until(&mut ws, "error").await["code"], "invalid_token");
    assert_eq!(
        close_frame(&mut ws).await,
        Some((4003, "invalid_token".into()))
    );
    let mut ws = send_join(&s, v.id, 9, &v.family_token).await;
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
    let mut late = send_join(&s, v.id, 1, &v.family_token).await;
    assert_eq!(
        close_frame(&mut late).await,
        Some((4006, "session_over".into()))
    );
}

/// Every JSON message shown in docs/protocol.md (code blocks and inline
/// `{"type": …}` spans), and what it must match.
/// Messages the server sends only when something breaks that this test
/// does not break: a participant's weak link (`video_paused`; the weak-link
/// browser test sees it for real) and a recorder that went away
/// (`recording`; `parley/tests/restart_live.rs` kills one under pages that
/// show it).
const ONLY_WHEN_SOMETHING_BREAKS: &[&str] = &["video_paused", "recording"];

fn documented_examples() -> Vec<(usize, serde_json::Value, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/protocol.md");
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (n, line) in doc.lines().enumerate() {
        let trimmed = line.trim();
        match &mut block {
            None if trimmed == "```json" => block = Some((n + 2, String::new())),
            Some((start, text)) if trimmed == "```" => {
                let value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("protocol.md:{start}: not JSON: {e}\n{text}"));
                out.push((*start, value, text.clone()));
                block = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {
                let mut rest = line;
                while let Some(at) = rest.find("`{\"type\"") {
                    let span = &rest[at + 1..];
                    // An example split over lines would be missed, and the
                    // kind found undocumented only when the server happens
                    // to send it.
                    let end = span.find("}`").unwrap_or_else(|| {
                        panic!("protocol.md:{}: an example split over lines: {span}", n + 1)
                    });
                    let text = &span[..=end];
                    let value = serde_json::from_str(text)
                        .unwrap_or_else(|e| panic!("protocol.md:{}: not JSON: {e}: {text}", n + 1));
                    out.push((n + 1, value, text.to_string()));
                    rest = &span[end + 1..];
                }
            }
        }
    }
    out
}

/// Whether `a` and `b` have the same keys, value kinds and `type`, all the
/// way down (array elements by their first element; a request `id` may be
/// an integer or a string in either).
fn same_shape(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.get(k).is_some_and(|w| match k.as_str() {
                        "type" => v == w,
                        // A request id is an integer or a string, either way.
                        "id" => {
                            matches!(v, String(_) | Number(_)) && matches!(w, String(_) | Number(_))
                        }
                        _ => same_shape(v, w),
                    })
                })
        }
        (Array(x), Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => same_shape(p, q),
            _ => true,
        },
        (String(_), String(_)) | (Bool(_), Bool(_)) | (Null, Null) => true,
        (Number(p), Number(q)) => p.is_i64() == q.is_i64() || p.is_u64() == q.is_u64(),
        _ => false,
    }
}

/// Reads until `kind`, keeping every message read in `seen`.
async fn until_kept(
    ws: &mut Ws,
    kind: &str,
    seen: &mut Vec<serde_json::Value>,
) -> serde_json::Value {
    until_kept_within(ws, kind, seen, std::time::Duration::from_secs(10)).await
}

async fn until_kept_within(
    ws: &mut Ws,
    kind: &str,
    seen: &mut Vec<serde_json::Value>,
    limit: std::time::Duration,
) -> serde_json::Value {
    loop {
        match next_within(ws, limit).await {
            Some(m) => {
                seen.push(m.clone());
                if m["type"] == kind {
                    return m;
                }
            }
            None => panic!("socket closed before `{kind}`"),
        }
    }
}

/// `lost`'s media connection (negotiated on `ws`) goes; once the SFU has
/// noticed (`media_lost`, about 10 s) the clock moves on `away` and a new
/// client (SSRCs from `ssrc`) offers on `ws`; then reads `other` until
/// `expect`. Every message read is kept in `seen`; the new client.
async fn lost_and_back(
    s: &Server,
    lost: &parley_client::Client,
    (ws, other): (&mut Ws, &mut Ws),
    (away, ssrc): (Duration, u32),
    expect: &str,
    seen: &mut Vec<serde_json::Value>,
) -> parley_client::Client {
    lost.pc.close().await.expect("closed");
    until_kept_within(ws, "media_lost", seen, std::time::Duration::from_secs(25)).await;
    s.clock.advance(away);
    let mut again = parley_client::Client::new("home", true, 1, ssrc)
        .await
        .expect("client");
    let offer = again.offer().await.expect("offer");
    send(ws, json!({"type": "offer", "sdp": offer})).await;
    until_kept(other, expect, seen).await;
    again
}

/// Runs a hearing and a visit through every message of the protocol, then
/// holds each documented example against the real messages: a client
/// example must parse as a client message; a server example must have the
/// shape of a message the server sent. Docs and server cannot drift apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_message_is_one_the_server_really_sends() {
    use parley_client::Client;
    let s = start().await;
    let mut seen: Vec<serde_json::Value> = Vec::new();

    // A hearing: lobby, admission, consultation, observers, captions,
    // extension, warnings, refusals, removal, the end.
    let at = s.now() + Duration::minutes(10);
    let h = hearing(
        &s,
        "Court 1",
        at,
        &[
            ("Judge Ames", "judge"),
            ("D. Fenn", "defendant"),
            ("C. Shaw", "counsel"),
            ("I. Roy", "interpreter"),
            ("Press", "observer"),
        ],
    )
    .await;
    let (mut judge, w) = join_as(&s, &h, "judge").await;
    seen.push(w);
    let id = |role: &str| participant(&h, role);
    let mut others = Vec::new();
    for role in ["defendant", "counsel", "interpreter", "observer"] {
        let sid = h["id"].as_i64().unwrap();
        let mut ws = open(&s, sid).await;
        send(
            &mut ws,
            json!({"type": "join", "version": 1, "id": format!("j-{role}"),
                             "token": token(&s, &s.admin, sid, id(role)).await}),
        )
        .await;
        until_kept(&mut ws, "welcome", &mut seen).await;
        others.push(ws);
    }
    for role in ["defendant", "counsel", "interpreter", "observer"] {
        send(
            &mut judge,
            json!({"type": "admit", "participant_id": id(role)}),
        )
        .await;
    }
    until_kept(&mut others[0], "admitted", &mut seen).await;
    until_kept(&mut judge, "roster", &mut seen).await;
    send(
        &mut judge,
        json!({"type": "consult", "participant_ids": [id("defendant"), id("counsel")]}),
    )
    .await;
    until_kept(&mut judge, "consultation", &mut seen).await;
    send(&mut judge, json!({"type": "observers", "admitted": false})).await;
    until_kept(&mut others[3], "observers", &mut seen).await;
    send(
        &mut others[2],
        json!({"type": "caption", "text": "The witness agrees."}),
    )
    .await;
    until_kept(&mut judge, "caption", &mut seen).await;
    send(&mut judge, json!({"type": "extend", "minutes": 15})).await;
    until_kept(&mut judge, "extended", &mut seen).await;
    send(
        &mut others[0],
        json!({"type": "admit", "participant_id": id("observer"), "id": "admit-9"}),
    )
    .await;
    until_kept(&mut others[0], "error", &mut seen).await;
    send(&mut others[0], json!({"type": "ping", "id": 17})).await;
    until_kept(&mut others[0], "pong", &mut seen).await;
    send(&mut others[0], json!({"type": "ping"})).await;
    until_kept(&mut others[0], "pong", &mut seen).await;
    s.clock.advance(Duration::minutes(10 + 60 + 15 - 5));
    until_kept(&mut judge, "warning", &mut seen).await;
    send(
        &mut judge,
        json!({"type": "remove", "participant_id": id("observer"), "reason": "Filming."}),
    )
    .await;
    until_kept(&mut others[3], "ended", &mut seen).await;
    send(&mut judge, json!({"type": "end", "reason": "Adjourned."})).await;
    until_kept(&mut judge, "ended", &mut seen).await;

    // A visit with media: answers, the active speaker, simulcast layers,
    // a lost media connection.
    let v = visit_under_way(&s, 10).await;
    let (mut cell_ws, w) = join(&s, v.id, &v.cell_token).await;
    seen.push(w);
    // The REST reply that hands out a join token, and the token's claims.
    let reply = s
        .post(
            &s.admin,
            &format!(
                "/v1/sessions/{}/participants/{}/join-token",
                v.id,
                participant(&v.booking, "visitor")
            ),
            json!({}),
        )
        .await
        .body;
    let claims = reply["token"]
        .as_str()
        .and_then(|t| t.split('.').nth(1))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .expect("the token's claims");
    seen.push(reply);
    seen.push(claims);
    let (mut home_ws, w) = join(&s, v.id, &v.family_token).await;
    seen.push(w);
    let mut cell = Client::simulcast("cell", 1, 20_000).await.expect("client");
    let mut home = Client::new("home", true, 1, 21_000).await.expect("client");
    home.limit_receive(150_000);
    cell.audio_level_dbov = Some(10);
    for (ws, client, id) in [
        (&mut cell_ws, &mut cell, Some(2)),
        (&mut home_ws, &mut home, None),
    ] {
        let offer = client.offer().await.expect("offer");
        let mut request = json!({"type": "offer", "sdp": offer});
        if let Some(id) = id {
            request["id"] = json!(id);
        }
        send(ws, request).await;
        let answer = until_kept(ws, "answer", &mut seen).await;
        client
            .accept(answer["sdp"].as_str().expect("sdp").to_string())
            .await
            .expect("connected");
    }
    let (sent, _) = tokio::join!(cell.send(0, 250), async {
        until_kept(&mut home_ws, "active_speaker", &mut seen).await;
        until_kept(&mut cell_ws, "publish_layers", &mut seen).await;
    });
    sent.expect("sent");
    // The phone's connection goes; back after half a minute: the visit
    // gets the time back (demo's [fair_use]), `extended` with `lost_seconds`.
    let _again = lost_and_back(
        &s,
        &home,
        (&mut home_ws, &mut cell_ws),
        (Duration::seconds(30), 22_000),
        "extended",
        &mut seen,
    )
    .await;
    // Where the jurisdiction credits lost time instead (de-berlin), the
    // same loss gives `time_credited`.
    let berlin = prison(&s, "de-berlin", 1).await;
    let at = s.now() + Duration::hours(3);
    let mut body = social_visit(&berlin, at, 30);
    body["detainee_consents_to_recording"] = json!(false);
    let credited = s.create(&s.admin, "/v1/bookings", body).await;
    s.clock.advance(at - s.now() + Duration::minutes(1));
    let (mut cell_ws, _) = join_as(&s, &credited, "detainee").await;
    let (mut home_ws, _) = join_as(&s, &credited, "visitor").await;
    let mut clients = Vec::new();
    for (ws, base) in [(&mut cell_ws, 23_000), (&mut home_ws, 24_000)] {
        let mut client = Client::new("c", true, 1, base).await.expect("client");
        let offer = client.offer().await.expect("offer");
        send(ws, json!({"type": "offer", "sdp": offer})).await;
        let answer = until_kept(ws, "answer", &mut seen).await;
        client
            .accept(answer["sdp"].as_str().expect("sdp").to_string())
            .await
            .expect("connected");
        clients.push(client);
    }
    let _again = lost_and_back(
        &s,
        &clients[1],
        (&mut home_ws, &mut cell_ws),
        (Duration::seconds(60), 25_000),
        "time_credited",
        &mut seen,
    )
    .await;

    // A legal visit under the demo's `[e2ee] privileged = "offered"`: the
    // two sides' public keys, then a wrapped sender key, pass through.
    let lawyers = prison(&s, "demo", 0).await;
    let (legal, _) = book_legal_visit(&s, &lawyers, s.now() + Duration::minutes(1)).await;
    s.clock.advance(Duration::minutes(2));
    let (mut inside, _) = join_as(&s, &legal, "detainee").await;
    let (mut counsel_ws, _) = join_as(&s, &legal, "counsel").await;
    until_kept(&mut counsel_ws, "e2ee", &mut seen).await;
    send(
        &mut counsel_ws,
        json!({"type": "e2ee_key", "public_key": "BH4MTo_cZ3nI1UbX_tWLmwMgrNsAs7lmvt1Qzri5sle1LEWTIOaQ3jLn44M33qkdcijSsoOEfKZr8lYqgu-KV3o"}),
    )
    .await;
    loop {
        let m = until_kept(&mut inside, "e2ee", &mut seen).await;
        if m["keys"].as_array().is_some_and(|k| !k.is_empty()) {
            break;
        }
    }
    send(
        &mut inside,
        json!({"type": "e2ee_sender_key", "to": participant(&legal, "counsel"),
               "wrapped": "U5_Pi1yxTIw3ibRXcV0WfrnnGu0wjawEpQjOMpirKLJ2H13aLq21786Hfb4ne1uV5WPymg"}),
    )
    .await;
    until_kept(&mut counsel_ws, "e2ee_sender_key", &mut seen).await;

    let mut kinds: Vec<String> = seen
        .iter()
        .filter_map(|m| m["type"].as_str().map(str::to_string))
        .collect();
    kinds.sort();
    kinds.dedup();
    let examples = documented_examples();
    for kind in &kinds {
        let sent = seen.iter().find(|m| m["type"] == kind.as_str());
        assert!(
            examples.iter().any(|(_, e, _)| e["type"] == kind.as_str()),
            "the server sends `{kind}`, which protocol.md shows no example of: {sent:?}"
        );
    }
    let mut checked = 0;
    for (line, example, text) in examples {
        let client = parley_protocol::decode_frame(&example.to_string()).is_ok();
        let server = seen.iter().any(|real| same_shape(&example, real));
        // Sent only when something breaks (a weak link, which this run's
        // loopback is only under load; a recorder gone): its example must at
        // least be the server's own type.
        let when_broken = ONLY_WHEN_SOMETHING_BREAKS
            .contains(&example["type"].as_str().unwrap_or(""))
            && serde_json::from_value::<parley_protocol::ServerMessage>(example.clone()).is_ok();
        assert!(
            client || server || when_broken,
            "protocol.md:{line}: this example is neither a valid client message nor shaped like \
             any message the server sent ({kinds:?}):\n{text}"
        );
        checked += 1;
    }
    assert!(
        checked >= 35,
        "only {checked} examples found in protocol.md"
    );
}
