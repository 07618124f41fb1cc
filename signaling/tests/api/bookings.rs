//! Every booking rule, on its accept and its refuse side, through the API.
//! eng-wales: 48 h lead, 09:00–17:30, 15–45 minutes, 2 social visits a week,
//! 3 visitors.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

async fn refused(s: &Server, body: serde_json::Value, code: &str) -> String {
    let before_sessions = s.session_count().await;
    let r = s.post(&s.admin, "/v1/bookings", body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "booking_refused");
    assert!(
        r.refusal_codes().iter().any(|c| c == code),
        "expected refusal {code}, got {:?}: {}",
        r.refusal_codes(),
        r.message()
    );
    assert_eq!(
        s.session_count().await,
        before_sessions,
        "a refusal books nothing"
    );
    r.message().to_string()
}

/// Books `body` as the administrator, which must be accepted; the reply.
async fn accepted(s: &Server, body: serde_json::Value) -> Reply {
    let r = s.post(&s.admin, "/v1/bookings", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r
}

#[tokio::test]
async fn a_valid_visit_is_booked_with_its_window_and_audit() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    let start_at = day_at(3, 14);
    let r = accepted(&s, social_visit(&p, start_at, 30)).await;
    assert_eq!(r.body["status"], "scheduled");
    assert_eq!(r.body["privileged"], false);
    assert_eq!(r.body["participants"].as_array().map(Vec::len), Some(2));
    // eng-wales lets people join 10 minutes early.
    let opens: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(r.body["join_opens_at"].clone()).expect("time");
    assert_eq!(opens, start_at - Duration::minutes(10));
    let audit = s
        .get(&s.admin, &format!("/v1/audit?session_id={}", r.id()))
        .await;
    let entries = audit.body.as_array().expect("entries");
    assert_eq!(entries[0]["action"], "booking.decide");
    assert_eq!(entries[0]["decision"], "accepted");
    let rules: Vec<&str> = entries[0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert!(
        rules.contains(&"eng-wales/recording/social_visit"),
        "{rules:?}"
    );
}

#[tokio::test]
async fn kind_and_times_are_checked() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    let at = day_at(3, 14);
    refused(
        &s,
        visit("court_hearing", &p, at, 30, &p.contacts),
        "not_a_visit",
    )
    .await;
    let mut backwards = social_visit(&p, at, 30);
    backwards["ends_at"] = json!(at - Duration::minutes(30));
    refused(&s, backwards, "end_before_start").await;
    refused(&s, social_visit(&p, at, 10), "too_short").await;
    let msg = refused(&s, social_visit(&p, at, 60), "too_long").await;
    assert!(msg.contains("45"), "names the limit: {msg}");
    accepted(&s, social_visit(&p, at, 45)).await;
}

#[tokio::test]
async fn lead_time_and_the_past() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    // Tomorrow 14:00 is within visiting hours but less than 48 h ahead.
    let msg = refused(&s, social_visit(&p, day_at(1, 14), 30), "lead_time").await;
    assert!(msg.contains("48 hours"), "{msg}");
    refused(&s, social_visit(&p, day_at(-1, 14), 30), "in_the_past").await;
    // Wednesday 14:00 is 52 hours ahead: accepted.
    accepted(&s, social_visit(&p, day_at(2, 14), 30)).await;
}

#[tokio::test]
async fn visiting_hours_in_local_time() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    refused(
        &s,
        social_visit(&p, day_at(3, 8), 30),
        "outside_visiting_hours",
    )
    .await;
    // 17:15 + 30 minutes runs past the 17:30 close.
    let late = day_at(3, 17) + Duration::minutes(15);
    refused(&s, social_visit(&p, late, 30), "outside_visiting_hours").await;
    accepted(&s, social_visit(&p, day_at(3, 9), 30)).await;
}

#[tokio::test]
async fn weekly_quota_counts_social_visits_of_the_local_week() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    // Week of Monday 11 March 2030: two visits allowed.
    for day in [7, 8] {
        accepted(&s, social_visit(&p, day_at(day, 10), 30)).await;
    }
    let msg = refused(&s, social_visit(&p, day_at(9, 10), 30), "weekly_quota").await;
    assert!(msg.contains('2'), "{msg}");
    // The next week starts afresh.
    accepted(&s, social_visit(&p, day_at(14, 10), 30)).await;
    // A cancelled visit no longer counts.
    let first = s
        .get(
            &s.admin,
            &format!("/v1/sessions?detainee_id={}", p.detainee),
        )
        .await;
    let id = first.body[0]["id"].as_i64().expect("id");
    s.cancel(id, "family unwell").await;
    accepted(&s, social_visit(&p, day_at(9, 10), 30)).await;
}

#[tokio::test]
async fn visitors_must_be_few_approved_and_present() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 4).await;
    refused(&s, social_visit(&p, day_at(3, 10), 30), "too_many_visitors").await;
    refused(
        &s,
        visit("social_visit", &p, day_at(3, 10), 30, &[]),
        "no_visitors",
    )
    .await;
    let stranger = contact(&s, "Maria Lopez", None).await;
    let msg = refused(
        &s,
        visit("social_visit", &p, day_at(3, 10), 30, &[stranger]),
        "not_approved_contact",
    )
    .await;
    assert!(msg.contains("Maria Lopez"), "{msg}");
    accepted(
        &s,
        visit("social_visit", &p, day_at(3, 10), 30, &p.contacts[..3]),
    )
    .await;
    // A revoked approval is refused again.
    let d = s
        .call(
            &s.admin,
            reqwest::Method::DELETE,
            &format!("/v1/detainees/{}/contacts/{}", p.detainee, p.contacts[0]),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    refused(
        &s,
        visit("social_visit", &p, day_at(4, 10), 30, &p.contacts[..1]),
        "not_approved_contact",
    )
    .await;
}

#[tokio::test]
async fn legal_visits_need_verified_counsel() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 0).await;
    let counsel = contact(&s, "J. Smith", Some("BAR-1234")).await;
    approve(&s, p.detainee, counsel).await;
    let msg = refused(
        &s,
        visit("legal_visit", &p, day_at(3, 11), 30, &[counsel]),
        "counsel_not_verified",
    )
    .await;
    assert!(msg.contains("J. Smith"), "{msg}");
    let v = verify_bar(&s, counsel, "BAR-1234").await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    let r = accepted(&s, visit("legal_visit", &p, day_at(3, 11), 30, &[counsel])).await;
    assert_eq!(r.body["privileged"], true);
    assert_eq!(r.body["participants"][1]["role"], "counsel");
    // Legal visits do not count against the family's weekly quota.
    for day in [3, 4] {
        accepted(
            &s,
            visit("social_visit", &p, day_at(day, 15), 30, &[counsel]),
        )
        .await;
    }
}

#[tokio::test]
async fn no_double_booking_of_detainee_or_kiosk() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    let at = day_at(3, 10);
    accepted(&s, social_visit(&p, at, 30)).await;
    // Same detainee, overlapping time, other kiosk.
    let mut other_kiosk = social_visit(&p, at + Duration::minutes(15), 30);
    other_kiosk["device_id"] = json!(p.second_kiosk);
    refused(&s, other_kiosk, "detainee_double_booked").await;
    // Other detainee, same kiosk, overlapping time.
    let other = new_detainee(&s, p.facility, "Z9999ZZ").await;
    approve(&s, other, p.contacts[0]).await;
    let mut same_kiosk = social_visit(&p, at + Duration::minutes(15), 30);
    same_kiosk["detainee_id"] = json!(other);
    refused(&s, same_kiosk, "device_double_booked").await;
    // Back to back is fine.
    let mut after = social_visit(&p, at + Duration::minutes(30), 30);
    after["detainee_id"] = json!(other);
    accepted(&s, after).await;
}

#[tokio::test]
async fn refusals_are_audited_and_counted() {
    let s = start().await;
    let p = prison(&s, "eng-wales", 1).await;
    let before = s.audit_count().await;
    refused(
        &s,
        social_visit(&p, day_at(3, 8), 30),
        "outside_visiting_hours",
    )
    .await;
    let entries = s.get(&s.admin, "/v1/audit?limit=500").await.body;
    let entries = entries.as_array().expect("entries");
    assert_eq!(entries.len(), before + 1);
    let last = entries.last().expect("entry");
    assert_eq!(last["decision"], "refused");
    assert!(
        last["rules"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("eng-wales/"),
        "{last}"
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"parley_booking_refusals_total{code="outside_visiting_hours"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"parley_bookings_total{kind="social_visit",outcome="refused"} 1"#));
    // The process's own memory, for an operator watching it grow.
    let rss = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no process_resident_memory_bytes in {metrics}"));
    assert!(rss > 1e6, "{rss}");
}

#[tokio::test]
async fn hearings_are_scheduled_at_courts_with_a_judge() {
    let s = start().await;
    let court = facility(&s, "Crown Court", "court", "eng-wales").await;
    let p = prison(&s, "eng-wales", 0).await;
    let clerk = s.user("clerk", None, None).await;
    let hearing = |start: chrono::DateTime<chrono::Utc>, with_judge: bool| {
        let mut participants = vec![
            json!({"name": "Ms Clerk", "role": "clerk"}),
            json!({"name": "Mr Defendant", "role": "defendant", "detainee_id": p.detainee}),
        ];
        if with_judge {
            participants.push(json!({"name": "HHJ Judge", "role": "judge"}));
        }
        json!({"facility_id": court, "title": "R v Defendant", "starts_at": start, "ends_at": start + Duration::hours(2),
               "device_id": p.kiosk, "participants": participants})
    };
    let r = s
        .post(&clerk, "/v1/hearings", hearing(day_at(1, 10), false))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.message().contains("judge"));
    let r = s
        .post(&clerk, "/v1/hearings", hearing(day_at(1, 10), true))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["kind"], "court_hearing");
    // The defendant cannot also be booked for a visit during the hearing.
    let c = contact(&s, "Family", None).await;
    approve(&s, p.detainee, c).await;
    let mut b = visit("social_visit", &p, day_at(3, 10), 30, &[c]);
    b["starts_at"] = json!(day_at(1, 11));
    b["ends_at"] = json!(day_at(1, 11) + Duration::minutes(30));
    let v = s.post(&s.admin, "/v1/bookings", b).await;
    assert!(
        v.refusal_codes()
            .contains(&"detainee_double_booked".to_string()),
        "{}",
        v.body
    );
    // A prison cannot hold a hearing; visitors cannot schedule one.
    let mut at_prison = hearing(day_at(2, 10), true);
    at_prison["facility_id"] = json!(p.facility);
    assert_eq!(
        s.post(&clerk, "/v1/hearings", at_prison).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let visitor = s.user("visitor", None, Some(c)).await;
    assert_eq!(
        s.post(&visitor, "/v1/hearings", hearing(day_at(2, 10), true))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}
