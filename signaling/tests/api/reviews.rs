//! Human review of a decision that ended someone's contact: asked with the
//! join link, decided by a reviewer of the facility who sees the session's
//! audit trail, the outcome shown to the person, and an overturned visit
//! replaced outside the weekly quota.

use crate::harness::*;
use crate::ws::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `POST /v1/sessions/{session}/reviews` with a participant's join token.
async fn ask(s: &Server, session: i64, token: &str, statement: Option<&str>) -> Reply {
    s.post(
        token,
        &format!("/v1/sessions/{session}/reviews"),
        json!({ "statement": statement }),
    )
    .await
}

async fn mine(s: &Server, session: i64, token: &str) -> Reply {
    s.get(token, &format!("/v1/sessions/{session}/reviews/mine"))
        .await
}

#[tokio::test]
async fn an_ended_visit_is_reviewed_overturned_and_replaced_outside_the_quota() {
    let s = start().await;
    // eng-wales: 48 h lead time, two social visits a week.
    let p = prison(&s, "eng-wales", 1).await;
    let other = prison(&s, "eng-wales", 0).await;
    let wednesday = book_social_visit(&s, &p, day_at(2, 14), 30).await;
    let booking = book_social_visit(&s, &p, day_at(3, 14), 30).await;
    let id = booking["id"].as_i64().expect("id");
    let family_id = participant(&booking, "visitor");
    s.clock
        .advance(day_at(3, 14) - s.now() + Duration::minutes(1));
    let family = token(&s, &s.admin, id, family_id).await;
    let (mut ws, _) = join(&s, id, &family).await;
    let officer = s.user("officer", Some(p.facility), None).await;

    // Nothing to review while the visit goes on.
    let early = ask(&s, id, &family, None).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(early.message().contains("live"), "{}", early.message());

    let e = s
        .post(
            &officer,
            &format!("/v1/sessions/{id}/end"),
            json!({"reason": "Suspected passing of a message"}),
        )
        .await;
    assert_eq!(e.status, StatusCode::NO_CONTENT, "{}", e.body);
    assert_eq!(until(&mut ws, "ended").await["reason"], "ended_by_staff");

    // The family asks, once.
    let asked = ask(
        &s,
        id,
        &family,
        Some("We only held up a drawing from our son."),
    )
    .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let review = asked.body;
    let rid = review["id"].as_i64().expect("review id");
    assert_eq!(review["decision"], "termination");
    assert_eq!(review["stated_reason"], "Suspected passing of a message");
    assert!(
        review["decision_actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("officer:")),
        "{review}"
    );
    assert_eq!(review["participant_id"], family_id);
    assert_eq!(review["outcome"], Value::Null);
    let again = ask(&s, id, &family, None).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.message().contains("already asked"),
        "{}",
        again.message()
    );
    let pending = mine(&s, id, &family).await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
    assert_eq!(pending.body["outcome"], Value::Null);

    // Routed to this facility's reviewers, and only theirs.
    let reviewer = s.user("reviewer", Some(p.facility), None).await;
    let elsewhere = s.user("reviewer", Some(other.facility), None).await;
    let listed = s.get(&reviewer, "/v1/reviews?pending=true").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.body
    );
    let none = s.get(&elsewhere, "/v1/reviews?pending=true").await;
    assert_eq!(none.body.as_array().map(Vec::len), Some(0), "{}", none.body);
    for (who, caller) in [
        ("another facility's reviewer", &elsewhere),
        ("an officer", &officer),
    ] {
        let r = s.get(caller, &format!("/v1/reviews/{rid}")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
    }
    // The reviewer sees the audit trail: the rule, the time, the officer's reason.
    let file = s.get(&reviewer, &format!("/v1/reviews/{rid}")).await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    let trail = file.body["audit"].as_array().expect("audit").clone();
    let end = trail
        .iter()
        .find(|e| e["action"] == "session.terminate")
        .expect("the end is in the trail");
    assert_eq!(end["details"]["message"], "Suspected passing of a message");
    assert!(!end["rules"].as_array().expect("rules").is_empty(), "{end}");
    assert_eq!(review["decision_seq"], end["seq"]);
    assert!(trail.iter().any(|e| e["action"] == "review.request"));
    assert_eq!(file.body["session"]["id"], id);

    // Overturned, once.
    let decided = s
        .post(
            &reviewer,
            &format!("/v1/reviews/{rid}/decision"),
            json!({"outcome": "overturned", "reason": "The drawing was shown openly; nothing was passed."}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    assert_eq!(decided.body["outcome"], "overturned");
    let twice = s
        .post(
            &reviewer,
            &format!("/v1/reviews/{rid}/decision"),
            json!({"outcome": "upheld", "reason": "Changed my mind"}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);

    // The family is told.
    let told = mine(&s, id, &family).await;
    assert_eq!(told.body["outcome"], "overturned");
    assert_eq!(
        told.body["outcome_reason"],
        "The drawing was shown openly; nothing was passed."
    );
    assert_eq!(told.body["replacement_available"], true);

    // The week is full (the ended visit counts, and Wednesday's) …
    let saturday = day_at(5, 15);
    let refused = s
        .post(&s.admin, "/v1/bookings", social_visit(&p, saturday, 30))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.refusal_codes(), ["weekly_quota"]);
    // … but the replacement does not count against it, and is used once.
    let mut replacement = social_visit(&p, saturday, 30);
    replacement["replacement_for_review"] = json!(rid);
    let booked = s
        .create(&s.admin, "/v1/bookings", replacement.clone())
        .await;
    let used = mine(&s, id, &family).await;
    assert_eq!(used.body["replacement_session_id"], booked["id"]);
    assert_eq!(used.body["replacement_available"], false);
    replacement["starts_at"] = json!(saturday + Duration::hours(1));
    replacement["ends_at"] = json!(saturday + Duration::minutes(90));
    let reused = s.post(&s.admin, "/v1/bookings", replacement).await;
    assert_eq!(reused.status, StatusCode::CONFLICT, "{}", reused.body);
    assert!(
        reused.message().contains("already booked"),
        "{}",
        reused.message()
    );

    let actions = s.audited_actions(&s.admin, id).await;
    for a in ["session.terminate", "review.request", "review.decide"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    // Wednesday's visit is untouched by all this.
    let w = s
        .get(&s.admin, &format!("/v1/sessions/{}", wednesday["id"]))
        .await;
    assert_eq!(w.status, StatusCode::OK);
}

#[tokio::test]
async fn only_those_a_decision_ended_may_ask_and_an_upheld_decision_grants_nothing() {
    let s = start().await;
    let at = s.now() + Duration::minutes(1);
    let hearing = hearing(
        &s,
        "Court",
        at,
        &[
            ("Judge J", "judge"),
            ("Defendant D", "defendant"),
            ("Observer O", "observer"),
        ],
    )
    .await;
    let id = hearing["id"].as_i64().expect("id");
    let observer_id = participant(&hearing, "observer");
    s.clock.advance(Duration::minutes(2));
    let observer = token(&s, &s.admin, id, observer_id).await;
    let defendant = token(&s, &s.admin, id, participant(&hearing, "defendant")).await;
    let (mut judge, _) = join_as(&s, &hearing, "judge").await;
    let (mut gallery, _) = join(&s, id, &observer).await;
    send(
        &mut judge,
        json!({"type": "remove", "participant_id": observer_id, "reason": "Filming in court"}),
    )
    .await;
    assert_eq!(until(&mut gallery, "ended").await["reason"], "removed");

    // No token, a forged one, one of another session: not even asked.
    let no_token = s
        .http
        .post(s.url(&format!("/v1/sessions/{id}/reviews")))
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let forged = ask(&s, id, &format!("{observer}x"), None).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{}", forged.body);
    let other = book_social_visit(
        &s,
        &prison(&s, "demo", 1).await,
        s.now() + Duration::minutes(5),
        30,
    )
    .await;
    let stranger = token(
        &s,
        &s.admin,
        other["id"].as_i64().expect("id"),
        participant(&other, "visitor"),
    )
    .await;
    let wrong = ask(&s, id, &stranger, None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.message().contains("session"), "{}", wrong.message());
    // Nobody asked for them either.
    let not_asked = mine(&s, id, &observer).await;
    assert_eq!(
        not_asked.status,
        StatusCode::NOT_FOUND,
        "{}",
        not_asked.body
    );

    // The removed observer may ask while the hearing goes on; the
    // defendant, still in it, may not.
    let asked = ask(&s, id, &observer, None).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    assert_eq!(asked.body["decision"], "removal");
    assert_eq!(asked.body["stated_reason"], "Filming in court");
    assert_eq!(asked.body["statement"], Value::Null);
    let still_in = ask(&s, id, &defendant, None).await;
    assert_eq!(still_in.status, StatusCode::CONFLICT, "{}", still_in.body);

    // A statement is bounded and plain text.
    let long = "x".repeat(2_001);
    let too_long = ask(&s, id, &defendant, Some(&long)).await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.body
    );

    // Upheld by the administrator (who reviews every facility): no replacement.
    let rid = asked.body["id"].as_i64().expect("review id");
    let bad = s
        .post(
            &s.admin,
            &format!("/v1/reviews/{rid}/decision"),
            json!({"outcome": "maybe", "reason": "?"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let empty = s
        .post(
            &s.admin,
            &format!("/v1/reviews/{rid}/decision"),
            json!({"outcome": "upheld", "reason": "  "}),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    let upheld = s
        .post(
            &s.admin,
            &format!("/v1/reviews/{rid}/decision"),
            json!({"outcome": "upheld", "reason": "Recording a hearing is forbidden."}),
        )
        .await;
    assert_eq!(upheld.status, StatusCode::OK, "{}", upheld.body);
    let told = mine(&s, id, &observer).await;
    assert_eq!(told.body["outcome"], "upheld");
    assert_eq!(told.body["replacement_available"], false);

    // The hearing reaches its scheduled end: the defendant has nothing to ask.
    drop(judge);
    s.clock.advance(Duration::hours(3));
    let ended = async {
        loop {
            let r = s.get(&s.admin, &format!("/v1/sessions/{id}")).await;
            if r.body["status"] == "ended" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), ended)
        .await
        .expect("the hearing ends at its scheduled time");
    let nothing = ask(&s, id, &defendant, None).await;
    assert_eq!(
        nothing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        nothing.body
    );
    assert!(
        nothing.message().contains("scheduled time"),
        "{}",
        nothing.message()
    );
    // The link still works for this long after the end, and no longer.
    s.clock.advance(Duration::days(31));
    let late = mine(&s, id, &observer).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.body);
}
