//! Who may do what: API roles, officers' view of privileged sessions, and
//! join tokens scoped to one session, one participant and one window.

use crate::harness::*;
use chrono::Duration;
use parley_grants::JoinTokens;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn callers_must_authenticate() {
    let s = start().await;
    let none = s.fetch("/v1/me").await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = none.json().await.expect("json");
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(
        s.get("pk_not_a_token", "/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let basic = s
        .http
        .get(s.url("/v1/me"))
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let me = s.get(&s.admin, "/v1/me").await;
    assert_eq!(me.body["role"], "admin");
}

#[tokio::test]
async fn roles_limit_actions() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let scheduler = s.user("scheduler", None, None).await;
    let visitor = s.user("visitor", None, Some(p.contacts[0])).await;
    let officer = s.user("officer", Some(p.facility), None).await;
    let r = s
        .post(
            &scheduler,
            "/v1/users",
            json!({"name": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.message().contains("scheduler"), "{}", r.message());
    // Monitoring is an officer's act, not an administrator's; the refusal
    // says so in plain grammar.
    let v = crate::ws::booked_visit(&s, 0, 30).await;
    let r = s
        .post(
            &s.admin,
            &format!("/v1/sessions/{}/monitor", v.id),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.message(),
        "an admin may not monitor sessions; this needs one of: officer"
    );
    assert_eq!(
        s.get(&visitor, "/v1/facilities").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get(&visitor, "/v1/audit").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post(
            &visitor,
            &format!("/v1/detainees/{}/contacts", p.detainee),
            json!({"contact_id": p.contacts[0], "relationship": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // Officers act only for their own facility.
    let other = facility(&s, "Elsewhere", "prison", "demo").await;
    let r = s
        .post(
            &officer,
            "/v1/detainees",
            json!({"facility_id": other, "name": "N", "number": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .post(
            &officer,
            "/v1/detainees",
            json!({"facility_id": p.facility, "name": "N", "number": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Users need the right attachments.
    let r = s
        .post(
            &s.admin,
            "/v1/users",
            json!({"name": "o", "role": "officer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.message().contains("facility_id"));
}

#[tokio::test]
async fn a_visitor_books_only_for_a_detainee_who_approved_them() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let visitor = s.user("visitor", None, Some(p.contacts[0])).await;
    let at = s.now() + Duration::hours(2);
    let r = s
        .post(&visitor, "/v1/bookings", social_visit(&p, at, 30))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Another detainee who has not approved this visitor.
    let stranger = new_detainee(&s, p.facility, "S0000SS").await;
    let mut b = social_visit(&p, at + Duration::hours(2), 30);
    b["detainee_id"] = json!(stranger);
    let r = s.post(&visitor, "/v1/bookings", b).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.message().contains("approved contact list"),
        "{}",
        r.message()
    );
    // Booking on someone else's behalf only.
    let other = contact(&s, "Other", None).await;
    approve(&s, p.detainee, other).await;
    let r = s
        .post(
            &visitor,
            "/v1/bookings",
            visit("social_visit", &p, at + Duration::hours(4), 30, &[other]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Visitors see their own sessions only.
    assert_eq!(s.sessions_listed_to(&visitor).await, Some(1));
}

#[tokio::test]
async fn officers_see_only_time_and_parties_of_privileged_sessions() {
    let s = start().await;
    let p = prison(&s, "demo", 0).await;
    let at = s.now() + Duration::hours(2);
    let (legal, _) = book_legal_visit(&s, &p, at).await;
    let id = legal["id"].as_i64().expect("id");
    assert!(legal["title"].is_string());
    let officer = s.user("officer", Some(p.facility), None).await;
    let seen = s.get(&officer, &format!("/v1/sessions/{id}")).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.get("title").is_none(), "{}", seen.body);
    assert!(seen.body.get("device_id").is_none(), "{}", seen.body);
    assert_eq!(seen.body["starts_at"], legal["starts_at"]);
    assert_eq!(seen.body["participants"][1]["name"], "Counsel");
    assert!(seen.body["participants"][1]["contact_id"].is_null());
    // An officer of another facility does not learn it exists.
    let elsewhere = facility(&s, "Elsewhere", "prison", "demo").await;
    let stranger = s.user("officer", Some(elsewhere), None).await;
    assert_eq!(
        s.get(&stranger, &format!("/v1/sessions/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    // And nobody may monitor it; the refusal is audited.
    let before = s.audit_count().await;
    s.clock.advance(Duration::hours(2));
    let m = s
        .post(&officer, &format!("/v1/sessions/{id}/monitor"), json!({}))
        .await;
    assert_eq!(m.status, StatusCode::FORBIDDEN, "{}", m.body);
    assert!(m.message().contains("privileged"), "{}", m.message());
    assert_eq!(s.audit_count().await, before + 1);
}

#[tokio::test]
async fn join_tokens_only_inside_the_window_and_for_oneself() {
    let s = start().await;
    let p = prison(&s, "demo", 2).await;
    let booking = book_social_visit(&s, &p, s.now() + Duration::hours(1), 30).await;
    let id = booking["id"].as_i64().expect("id");
    let participants = booking["participants"]
        .as_array()
        .expect("participants")
        .clone();
    let pid_of = |contact: i64| {
        participants
            .iter()
            .find(|p| p["contact_id"] == contact)
            .and_then(|p| p["id"].as_i64())
            .expect("participant")
    };
    let me = pid_of(p.contacts[0]);
    let them = pid_of(p.contacts[1]);
    let visitor = s.user("visitor", None, Some(p.contacts[0])).await;
    let path = |pid: i64| format!("/v1/sessions/{id}/participants/{pid}/join-token");
    // An hour early: the window (15 minutes early join in `demo`) is closed.
    let r = s.post(&visitor, &path(me), json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.message().contains("opens for joining"), "{}", r.message());
    s.clock.advance(Duration::minutes(46));
    let r = s.post(&visitor, &path(me), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(r.body["expires_at"].clone()).expect("time");
    assert_eq!(
        Some(expires),
        serde_json::from_value(booking["ends_at"].clone()).ok()
    );
    // The token verifies only for this session, participant and role.
    let key = std::fs::read_to_string(s._data.path().join("join-token.key")).expect("key");
    let tokens = JoinTokens::new(&hex::decode(key.trim()).expect("hex"), 0).expect("key");
    let token = r.body["token"].as_str().expect("token");
    let claims = tokens.verify(token, id, s.now()).expect("valid now");
    assert_eq!(claims.participant_id(), Ok(me));
    assert_eq!(claims.role, parley_policy::Role::Visitor);
    assert!(tokens.verify(token, id + 1, s.now()).is_err());
    assert!(
        tokens.verify(token, id, expires).is_err(),
        "expired at the end"
    );
    // Not for another participant.
    assert_eq!(
        s.post(&visitor, &path(them), json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    // After the end: refused.
    s.clock.advance(Duration::minutes(45));
    let r = s.post(&visitor, &path(me), json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.message().contains("over"), "{}", r.message());
}

#[tokio::test]
async fn audit_chain_verifies_through_the_api_and_is_admin_only() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    book_social_visit(&s, &p, s.now() + Duration::hours(1), 30).await;
    let v = s.get(&s.admin, "/v1/audit/verify").await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    assert_eq!(
        v.body["entries"].as_i64(),
        Some(s.audit_count().await as i64)
    );
    let scheduler = s.user("scheduler", None, None).await;
    assert_eq!(
        s.get(&scheduler, "/v1/audit/verify").await.status,
        StatusCode::FORBIDDEN
    );
    let entries = s.get(&s.admin, "/v1/audit").await.body;
    let entries = entries.as_array().expect("entries");
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64(),
            pair[0]["seq"].as_i64().map(|s| s + 1)
        );
    }
}

#[tokio::test]
async fn policy_explanations_name_their_rules() {
    let s = start().await;
    let r = s
        .get(
            &s.admin,
            "/v1/policy/explain?jurisdiction=fr-paris&kind=consultation",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["recording"], "do_not_record");
    assert!(
        r.body["rules"]
            .to_string()
            .contains("core/privileged-never-recorded")
    );
    let r = s
        .get(
            &s.admin,
            "/v1/policy/explain?jurisdiction=eng-wales&kind=court_hearing",
        )
        .await;
    assert_eq!(r.body["recording"], "record");
    assert_eq!(r.body["retention_days"], 2555);
    let r = s
        .get(
            &s.admin,
            "/v1/policy/explain?jurisdiction=atlantis&kind=social_visit",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.message().contains("fr-paris"),
        "lists loaded ones: {}",
        r.message()
    );
    let j = s.get(&s.admin, "/v1/policy/jurisdictions").await;
    assert_eq!(j.body.as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn courts_do_not_see_family_visits() {
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let booking = book_social_visit(&s, &p, s.now() + Duration::hours(1), 30).await;
    let judge = s.user("judge", None, None).await;
    let r = s
        .get(&judge, &format!("/v1/sessions/{}", booking["id"]))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(s.sessions_listed_to(&judge).await, Some(0));
    let scheduler = s.user("scheduler", None, None).await;
    assert_eq!(s.sessions_listed_to(&scheduler).await, Some(1));
}
