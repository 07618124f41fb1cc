//! Webhooks for case-management systems: a receiver on 127.0.0.1 gets its
//! facility's events in order, each signed with HMAC-SHA256 over
//! `t.body`; one that keeps failing gets its retries and then a dead
//! letter, and delivery goes on after it.

use crate::harness::*;
use crate::ws::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::Duration;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the receiving case system saw.
#[derive(Default)]
struct Inbox {
    /// Deliveries answered 2xx: (signature header, body).
    accepted: Mutex<Vec<(String, String)>>,
    /// Requests answered 500 while `failing`.
    refused: AtomicUsize,
    failing: AtomicBool,
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: String) -> AxumStatus {
    if inbox.failing.load(Ordering::SeqCst) {
        inbox.refused.fetch_add(1, Ordering::SeqCst);
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    let signature = headers
        .get("parley-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    inbox.accepted.lock().unwrap().push((signature, body));
    AxumStatus::NO_CONTENT
}

async fn receiver() -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, inbox)
}

/// The events received so far, each checked against its signature (the
/// key is the secret's text, as the API gave it).
fn events(inbox: &Inbox, secret: &str) -> Vec<Value> {
    let key = secret.as_bytes();
    inbox
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(header, body)| {
            let (t, v1) = header
                .strip_prefix("t=")
                .and_then(|rest| rest.split_once(",v1="))
                .unwrap_or_else(|| panic!("signature header {header:?}"));
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            mac.update(format!("{t}.{body}").as_bytes());
            mac.verify_slice(&hex::decode(v1).expect("hex mac"))
                .unwrap_or_else(|_| panic!("a bad signature on {body}"));
            serde_json::from_str(body).expect("json event")
        })
        .collect()
}

/// Waits up to 10 s until `inbox` holds an event of `kind`; all events.
async fn wait_for(inbox: &Inbox, secret: &str, kind: &str) -> Vec<Value> {
    for _ in 0..100 {
        let got = events(inbox, secret);
        if got.iter().any(|e| e["type"] == kind) {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no {kind} event within 10 s: {:?}", events(inbox, secret));
}

#[tokio::test]
async fn a_case_system_gets_its_facilitys_events_signed_in_order_and_a_dead_letter_when_down() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let elsewhere = prison(&s, "demo", 1).await;
    let (url, inbox) = receiver().await;

    // Only an administrator adds one, to an http(s) URL.
    let officer = s.user("officer", Some(p.facility), None).await;
    let path = format!("/v1/facilities/{}/webhooks", p.facility);
    let refused = s.post(&officer, &path, json!({"url": url})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let bad = s.post(&s.admin, &path, json!({"url": "ftp://x/y"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let created = s.create(&s.admin, &path, json!({"url": url})).await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    let hook = created["webhook"]["id"].as_i64().expect("id");
    let listed = s.get(&s.admin, &path).await;
    assert_eq!(listed.body[0]["url"], url.as_str());
    assert!(
        !listed.body.to_string().contains(&secret),
        "the secret is shown once"
    );

    // A booking, its start and its end by staff.
    let booking = book_social_visit(&s, &p, s.now() + Duration::minutes(5), 20).await;
    let id = booking["id"].as_i64().expect("id");
    book_social_visit(&s, &elsewhere, s.now() + Duration::minutes(5), 20).await;
    wait_for(&inbox, &secret, "booking.accepted").await;
    s.clock.advance(Duration::minutes(6));
    let (mut family, welcome) = join_as(&s, &booking, "visitor").await;
    assert_eq!(welcome["state"], "admitted");
    wait_for(&inbox, &secret, "session.started").await;
    let end = s
        .post(
            &s.admin,
            &format!("/v1/sessions/{id}/end"),
            json!({"reason": "Alarm on the wing"}),
        )
        .await;
    assert_eq!(end.status, StatusCode::NO_CONTENT, "{}", end.body);
    until(&mut family, "ended").await;
    let got = wait_for(&inbox, &secret, "session.ended").await;
    let kinds: Vec<&str> = got.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["booking.accepted", "session.started", "session.ended"]
    );
    for e in &got {
        assert_eq!(e["facility_id"], p.facility, "only this facility's: {e}");
        assert_eq!(e["session_id"], id);
    }
    let ended = &got[2];
    assert_eq!(ended["details"]["message"], "Alarm on the wing");
    assert!(
        ended["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("admin:")),
        "{ended}"
    );
    assert!(
        got.windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    // The event is the audit entry: same sequence number, same hash.
    let audit = s.get(&s.admin, &format!("/v1/audit?session_id={id}")).await;
    let entry = audit
        .body
        .as_array()
        .and_then(|a| a.iter().find(|e| e["seq"] == ended["id"]))
        .cloned()
        .expect("the audit entry of the event");
    assert_eq!(entry["hash"], ended["audit_hash"]);
    assert_eq!(entry["action"], "session.terminate");

    // The case system goes down: the cancellation is retried, then given up.
    inbox.failing.store(true, Ordering::SeqCst);
    let later = book_social_visit(&s, &p, s.now() + Duration::hours(2), 20).await;
    let later_id = later["id"].as_i64().expect("id");
    s.cancel(later_id, "Kiosk out of order").await;
    let letters = format!("/v1/webhooks/{hook}/dead-letters");
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = s.get(&s.admin, &letters).await.body;
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The booking's event met the outage first: four attempts, a dead letter.
    let first = &dead[0];
    assert_eq!(first["event"], "booking.accepted", "{dead}");
    assert_eq!(first["attempts"], 4);
    assert!(
        first["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{first}"
    );
    assert!(inbox.refused.load(Ordering::SeqCst) >= 4);
    // Back up: delivery goes on after the dead letters.
    inbox.failing.store(false, Ordering::SeqCst);
    s.create(
        &s.admin,
        "/v1/bookings",
        social_visit(&p, s.now() + Duration::hours(3), 20),
    )
    .await;
    let accepted = |got: &[Value]| {
        got.iter()
            .filter(|e| e["type"] == "booking.accepted")
            .count()
    };
    let mut got = events(&inbox, &secret);
    for _ in 0..100 {
        if accepted(&got) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        got = events(&inbox, &secret);
    }
    assert_eq!(accepted(&got), 2, "{got:?}");
    assert!(
        got.windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("parley_webhook_deliveries_total{result=\"dead_lettered\"}"),
        "{metrics}"
    );

    // Removed: nothing more is sent.
    let removed = s
        .call(
            &s.admin,
            reqwest::Method::DELETE,
            &format!("/v1/webhooks/{hook}"),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let before = inbox.accepted.lock().unwrap().len();
    book_social_visit(&s, &p, s.now() + Duration::hours(4), 20).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(inbox.accepted.lock().unwrap().len(), before);
}
