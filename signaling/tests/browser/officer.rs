//! The officer console: a social visit of the officer's facility is listed
//! with time left and can be monitored (hidden, receive-only) and ended with
//! a reason the family sees, who asks for a review from the end screen and
//! reads the outcome on the same link; a legal visit is listed but cannot
//! be opened.

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
async fn an_officer_monitors_a_social_visit_and_cannot_open_a_legal_one() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let p = prison(&s, "demo", 1).await;
    let start_at = s.now() + Duration::minutes(1);
    let social = book_social_visit(&s, &p, start_at, 20).await;
    // A legal visit for another detainee on the second kiosk, at the same time.
    let client = new_detainee(&s, p.facility, "B7654CD").await;
    let counsel = contact(&s, "Counsel Reyes", Some("BAR-77")).await;
    approve(&s, client, counsel).await;
    verify_bar(&s, counsel, "BAR-77").await;
    let mut legal = visit("legal_visit", &p, start_at, 20, &[counsel]);
    legal["detainee_id"] = json!(client);
    legal["device_id"] = json!(p.second_kiosk);
    let legal = s.create(&s.admin, "/v1/bookings", legal).await;
    s.clock.advance(Duration::minutes(1));
    let officer = s.user("officer", Some(p.facility), None).await;

    let social_id = social["id"].as_i64().expect("id");
    let legal_id = legal["id"].as_i64().expect("id");
    let family_token = token(&s, &s.admin, social_id, participant(&social, "visitor")).await;
    let cell_token = token(&s, &s.admin, social_id, participant(&social, "detainee")).await;

    let browser = Browser::launch().await;
    let family = browser.page("family", Screen::Phone).await;
    let cell = browser.page("cell", Screen::Tablet).await;
    let desk = browser.page("officer", Screen::Desktop).await;
    join_after_check(&family, &s, &family_token).await;
    cell.goto(&join_link(&s, "en", &cell_token)).await;
    for page in [&family, &cell] {
        wait_for_screen(page, "call", "the call", 15).await;
    }

    // The console lists both visits; only the social one can be monitored.
    desk.goto(&s.url("/officer?lang=en")).await;
    desk.type_into("#api-token", &officer).await;
    desk.click("#sign-in button").await;
    let social_row = format!("#sessions tr[data-session='{social_id}']");
    let legal_row = format!("#sessions tr[data-session='{legal_id}']");
    desk.wait(
        &format!(
            "document.querySelector(\"{social_row}\") && document.querySelector(\"{legal_row}\")"
        ),
        "both visits listed",
        Wait::from_secs(10),
    )
    .await;
    let left = desk.text(&format!("{social_row} td.left")).await;
    assert!(
        left.starts_with("18:") || left.starts_with("19:"),
        "time left {left}"
    );
    assert!(
        desk.has(&format!("{social_row} [data-action=monitor]"))
            .await
    );
    assert!(
        !desk
            .has(&format!("{legal_row} [data-action=monitor]"))
            .await,
        "no monitor button on a legal visit"
    );
    assert!(desk.text(&legal_row).await.contains("never monitored"));
    screenshot_and_check(&desk, "officer-1-console", "console").await;
    // Asking anyway is refused by the server, and the console says why.
    desk.eval(&format!("window.parleyOfficer.monitor({legal_id})"))
        .await;
    desk.wait(
        "!document.querySelector('#alert').hidden",
        "the refusal",
        Wait::from_secs(10),
    )
    .await;
    assert!(
        desk.text("#alert").await.contains("privileged"),
        "{}",
        desk.text("#alert").await
    );
    let refused = s
        .post(
            &officer,
            &format!("/v1/sessions/{legal_id}/monitor"),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // Monitor the social visit: hidden, receiving both sides.
    desk.click(&format!("{social_row} [data-action=monitor]"))
        .await;
    desk.wait(
        "location.pathname === '/join' && !document.querySelector('#join').disabled",
        "the monitor's pre-call check",
        Wait::from_secs(15),
    )
    .await;
    assert!(desk.text("#check-camera").await.contains("not needed"));
    desk.click("#join").await;
    wait_for_screen(&desk, "call", "the monitor's view", 10).await;
    assert!(
        desk.text("#notice-text")
            .await
            .contains("You are monitoring")
    );
    assert_eq!(
        desk.eval("document.querySelectorAll('#tiles .remote').length")
            .await,
        2
    );
    assert!(!desk.has("#self").await, "a monitor sends nothing");
    desk.wait_for_media(20, 40, Wait::from_secs(30)).await;
    // Hidden: the family's list of people does not name the officer.
    assert!(!family.text("#roster").await.contains("officer user"));
    screenshot_and_check(&desk, "officer-2-monitoring", "monitoring").await;

    // End the visit with a reason; both sides are told.
    desk.type_into("#end-reason", "Visit ended early: wing lockdown")
        .await;
    desk.click("#staff button[type=submit]").await;
    for page in [&family, &cell] {
        ended_with(page, "ended_by_staff").await;
        assert!(page.text("#ended-message").await.contains("wing lockdown"));
    }
    family.screenshot("officer-3-family-ended-by-staff").await;
    wait_for_screen(&desk, "ended", "the officer's end screen", 10).await;
    assert!(
        desk.eval("document.querySelector('#review').hidden").await == true,
        "the monitoring officer is offered no review"
    );

    // The family asks for a review from the end screen …
    family.click("#review-ask").await;
    family
        .type_into("#review-statement", "Nothing happened on our side.")
        .await;
    screenshot_and_check(&family, "officer-4-family-asks-review", "review request").await;
    family.click("#review-send").await;
    family
        .wait(
            "document.querySelector('#review-status').dataset.outcome === 'pending'",
            "the request accepted",
            Wait::from_secs(10),
        )
        .await;
    assert!(
        family
            .text("#review-status")
            .await
            .contains("You asked for a review"),
        "{}",
        family.text("#review-status").await
    );
    assert!(
        family
            .eval("document.querySelector('#review-ask').hidden")
            .await
            == true
    );
    // … a reviewer of the facility overturns the end …
    let reviewer = s.user("reviewer", Some(p.facility), None).await;
    let pending = s.get(&reviewer, "/v1/reviews?pending=true").await;
    let review = &pending.body[0];
    assert_eq!(review["statement"], "Nothing happened on our side.");
    assert_eq!(review["stated_reason"], "Visit ended early: wing lockdown");
    let decided = s
        .post(
            &reviewer,
            &format!("/v1/reviews/{}/decision", review["id"]),
            json!({"outcome": "overturned", "reason": "The lockdown was on another wing."}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    // … and the family, opening the link again, reads the outcome.
    family.eval("location.reload()").await;
    family
        .wait(
            "document.querySelector('#review-status')?.dataset.outcome === 'overturned'",
            "the outcome on the reopened link",
            Wait::from_secs(15),
        )
        .await;
    let told = family.text("#review-status").await;
    for part in ["overturned", "another wing", "replacement visit"] {
        assert!(told.contains(part), "{part}: {told}");
    }
    screenshot_and_check(&family, "officer-5-family-review-outcome", "review outcome").await;
    desk.click("#back-to-console").await;
    desk.wait(
        "location.pathname === '/officer' && !document.querySelector('#live').hidden",
        "the console again, still signed in",
        Wait::from_secs(10),
    )
    .await;
    desk.wait(
        &format!("!document.querySelector(\"{social_row}\")"),
        "the ended visit gone from the list",
        Wait::from_secs(10),
    )
    .await;
}
