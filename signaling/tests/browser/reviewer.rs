//! The reviewers' console: a reviewer signs in, sees the request a family
//! made after an officer ended their visit, opens it with the session's
//! audit trail (the questioned entry marked) and overturns it; the family's
//! link then reads the outcome.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::{participant, token};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration as Wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_reads_the_trail_and_overturns_an_end_by_staff() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let booking = book_social_visit(&s, &p, s.now() + Duration::minutes(1), 20).await;
    let id = booking["id"].as_i64().expect("id");
    s.clock.advance(Duration::minutes(2));
    let family = token(&s, &s.admin, id, participant(&booking, "visitor")).await;
    let officer = s.user("officer", Some(p.facility), None).await;
    let ended = s
        .post(
            &officer,
            &format!("/v1/sessions/{id}/end"),
            json!({"reason": "Suspected contraband shown on camera"}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    let asked = s
        .post(
            &family,
            &format!("/v1/sessions/{id}/reviews"),
            json!({"statement": "It was a toy our daughter held up."}),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let review = asked.body["id"].as_i64().expect("review id");
    let reviewer = s.user("reviewer", Some(p.facility), None).await;

    let browser = Browser::launch().await;
    let desk = browser.page("reviewer", Screen::Desktop).await;
    desk.goto(&s.url("/review?lang=en")).await;
    desk.type_into("#api-token", &reviewer).await;
    desk.click("#sign-in button").await;
    let row = format!("#reviews tr[data-review='{review}']");
    desk.wait(
        &format!("!!document.querySelector(\"{row}\")"),
        "the request listed",
        Wait::from_secs(10),
    )
    .await;
    assert!(desk.text(&row).await.contains("Suspected contraband"));
    desk.click(&format!("{row} [data-action=open]")).await;
    desk.wait(
        "!document.querySelector('#file').hidden && document.querySelectorAll('#trail tbody tr').length > 0",
        "the request's file",
        Wait::from_secs(10),
    )
    .await;
    let facts = desk.text("#facts").await;
    for part in ["It was a toy", "Ended by staff", "officer:"] {
        assert!(facts.contains(part), "{part}: {facts}");
    }
    let questioned = desk.text("#trail tr.questioned").await;
    assert!(
        questioned.contains("session.terminate") && questioned.contains("ended-by-staff"),
        "{questioned}"
    );
    screenshot_and_check(&desk, "reviewer-1-file", "review file").await;
    desk.click("#decide input[value=overturned]").await;
    desk.type_into(
        "#decide-reason",
        "A toy is not contraband; the end was not needed.",
    )
    .await;
    desk.click("#decide button[type=submit]").await;
    desk.wait(
        "document.querySelector('#status').textContent.includes('Overturned')",
        "the decision confirmed",
        Wait::from_secs(10),
    )
    .await;
    assert!(desk.eval("document.querySelector('#decide').hidden").await == true);
    assert!(
        desk.text("#facts")
            .await
            .contains("A toy is not contraband")
    );
    desk.wait(
        "document.querySelectorAll('#reviews tbody tr').length === 0",
        "the request no longer waiting",
        Wait::from_secs(10),
    )
    .await;
    let told = s
        .get(&family, &format!("/v1/sessions/{id}/reviews/mine"))
        .await;
    assert_eq!(told.body["outcome"], "overturned");
    assert_eq!(told.body["replacement_available"], true);
}
