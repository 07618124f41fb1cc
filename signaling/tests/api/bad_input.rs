//! Hostile and malformed requests: a 4xx with a JSON `{code, message}`
//! naming what was wrong, and nothing changed.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn raw(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let resp = s
        .http
        .request(method, s.url(path))
        .bearer_auth(&s.admin)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Reply { status, body }
}

/// A social visit an hour from now for all of `p`'s contacts, with `field`
/// of the request set to `value`.
fn visit_an_hour_ahead_with(s: &Server, p: &Prison, field: &str, value: Value) -> Value {
    let mut body = visit(
        "social_visit",
        p,
        s.now() + Duration::hours(1),
        30,
        &p.contacts,
    );
    body[field] = value;
    body
}

/// Counts of what a bad request must not change.
async fn snapshot(s: &Server) -> (usize, usize, usize) {
    let facilities = s
        .get(&s.admin, "/v1/facilities")
        .await
        .body
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    (facilities, s.session_count().await, s.audit_count().await)
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_json_errors() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let before = snapshot(&s).await;
    let post = reqwest::Method::POST;
    let r = raw(
        &s,
        post.clone(),
        "/v1/bookings",
        "application/json",
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "bad_request");
    assert!(r.message().contains("not valid JSON"), "{}", r.message());
    let r = raw(
        &s,
        post.clone(),
        "/v1/facilities",
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("application/json"), "{}", r.message());
    // Unknown field, wrong type, unknown enum value, unknown jurisdiction:
    // the message names what was wrong.
    for (body, named) in [
        (
            json!({"name": "X", "kind": "prison", "jurisdiction": "demo", "record_everything": true}),
            "record_everything",
        ),
        (
            json!({"name": 7, "kind": "prison", "jurisdiction": "demo"}),
            "name",
        ),
        (
            json!({"name": "X", "kind": "castle", "jurisdiction": "demo"}),
            "castle",
        ),
        (
            json!({"name": "X", "kind": "prison", "jurisdiction": "atlantis"}),
            "atlantis",
        ),
    ] {
        let r = s.post(&s.admin, "/v1/facilities", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.message().contains(named), "{}", r.message());
    }
    // Missing field.
    let r = s
        .post(
            &s.admin,
            "/v1/facilities",
            json!({"kind": "prison", "jurisdiction": "demo"}),
        )
        .await;
    assert!(r.message().contains("name"), "{}", r.message());
    // Empty and control-character names.
    for name in ["   ", "a\u{0}b"] {
        let r = s
            .post(
                &s.admin,
                "/v1/facilities",
                json!({"name": name, "kind": "prison", "jurisdiction": "demo"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    // Impossible dates.
    let b = visit_an_hour_ahead_with(&s, &p, "starts_at", json!("2030-02-30T10:00:00Z"));
    let r = s.post(&s.admin, "/v1/bookings", b).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.message().contains("starts_at"), "{}", r.message());
    let b = visit_an_hour_ahead_with(&s, &p, "ends_at", json!("tomorrow at tea time"));
    assert_eq!(
        s.post(&s.admin, "/v1/bookings", b).await.status,
        StatusCode::BAD_REQUEST
    );
    // Duplicate visitors.
    let b = visit(
        "social_visit",
        &p,
        s.now() + Duration::hours(1),
        30,
        &[p.contacts[0], p.contacts[0]],
    );
    let r = s.post(&s.admin, "/v1/bookings", b).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("twice"), "{}", r.message());
    assert_eq!(snapshot(&s).await, before, "nothing changed");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = start().await;
    let before = snapshot(&s).await;
    let huge = format!(
        r#"{{"name":"{}","kind":"prison","jurisdiction":"demo"}}"#,
        "x".repeat(200_000)
    );
    let r = raw(
        &s,
        reqwest::Method::POST,
        "/v1/facilities",
        "application/json",
        huge.into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "too_large");
    let long = s
        .post(
            &s.admin,
            "/v1/facilities",
            json!({"name": "x".repeat(300), "kind": "prison", "jurisdiction": "demo"}),
        )
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.message().contains("200"), "{}", long.message());
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn unknown_ids_and_bad_paths() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let before = snapshot(&s).await;
    let r = s.get(&s.admin, "/v1/sessions/999999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    assert!(r.message().contains("999999"));
    for path in ["/v1/sessions/abc", "/v1/sessions/99999999999999999999999"] {
        let r = s.get(&s.admin, path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
    let r = s.get(&s.admin, "/v1/no/such/thing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    let b = visit_an_hour_ahead_with(&s, &p, "detainee_id", json!(424242));
    let r = s.post(&s.admin, "/v1/bookings", b).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.message().contains("detainee"));
    let b = visit_an_hour_ahead_with(&s, &p, "device_id", json!(-1));
    assert_eq!(
        s.post(&s.admin, "/v1/bookings", b).await.status,
        StatusCode::NOT_FOUND
    );
    let b = visit("social_visit", &p, s.now() + Duration::hours(1), 30, &[777]);
    assert_eq!(
        s.post(&s.admin, "/v1/bookings", b).await.status,
        StatusCode::NOT_FOUND
    );
    for path in [
        "/v1/sessions?status=exploded",
        "/v1/audit?limit=100000",
        "/v1/audit?sneaky=1",
    ] {
        let r = s.get(&s.admin, path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn openapi_health_and_metrics_are_served() {
    let s = start().await;
    let doc: serde_json::Value = s.fetch("/openapi.json").await.json().await.expect("json");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    for path in [
        "/v1/bookings",
        "/v1/hearings",
        "/v1/sessions/{id}/participants/{participant_id}/join-token",
        "/v1/audit/verify",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let health = s.fetch("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let metrics = s.metrics().await;
    assert!(metrics.contains("parley_http_requests_total"), "{metrics}");
    assert!(metrics.contains(r#"route="/healthz""#), "{metrics}");
}
