//! A family visit between a phone and a cell kiosk, from the pre-call check
//! to the scheduled end.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::booked_visit;
use chrono::Duration;
use std::time::Duration as Wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_visit_in_two_browsers() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = booked_visit(&s, 2, 10).await;

    let browser = Browser::launch().await;
    let family = browser.page("family", Screen::Phone).await;
    let cell = browser.page("cell", Screen::Tablet).await;

    // The family: pre-call check, then the waiting room before the start.
    open_checked(&family, &s, &v.family_token).await;
    assert!(
        family.text("#check-camera").await.contains("working"),
        "camera check: {}",
        family.text("#check-camera").await
    );
    assert_eq!(
        family.eval("location.hash").await,
        "",
        "the token leaves the address bar"
    );
    screenshot_and_check(&family, "visit-1-family-check", "check").await;
    family.click("#join").await;
    wait_for_screen(&family, "waiting", "the waiting room", 10).await;
    wait_for_text(&family, "#starts-in", ":", "the countdown to the start", 5).await;
    assert!(
        family.has("#notice:not([hidden])").await,
        "the recording notice is shown in the waiting room, before any media"
    );
    assert!(family.text("#notice-text").await.contains("recorded"));
    screenshot_and_check(&family, "visit-2-family-waiting", "waiting").await;

    // The cell kiosk, in French: joins by itself and waits too.
    cell.goto(&join_link(&s, "fr", &v.cell_token)).await;
    wait_for_screen(&cell, "waiting", "the kiosk to join by itself", 15).await;
    assert_eq!(
        cell.eval("document.body.classList.contains('kiosk')").await,
        true
    );
    assert!(cell.text("#waiting-text").await.contains("salle d'attente"));

    // The visit starts: both are let in and see and hear each other.
    s.clock.advance(Duration::minutes(2));
    for page in [&family, &cell] {
        wait_for_screen(page, "call", "the call screen at the start", 10).await;
    }
    let family_got = family.wait_for_media(10, 20, Wait::from_secs(30)).await;
    // The SFU's sender reports reach the browser (lip sync needs them).
    family
        .wait(
            "window.parley.received().then((r) => r.senderReports > 0)",
            "sender reports from the SFU",
            Wait::from_secs(10),
        )
        .await;
    let cell_got = cell.wait_for_media(10, 20, Wait::from_secs(30)).await;
    tokio::time::sleep(Wait::from_secs(2)).await;
    for (page, before) in [(&family, family_got), (&cell, cell_got)] {
        let after = page.received().await;
        assert!(
            after.0 > before.0 && after.1 > before.1,
            "[{}] media keeps flowing: {before:?} then {after:?}",
            page.name
        );
    }
    assert!(
        family
            .text("#tiles .remote figcaption")
            .await
            .contains("Detainee"),
        "the family's tile names the role: {}",
        family.text("#tiles .remote figcaption").await
    );
    assert!(
        cell.text("#tiles .remote figcaption")
            .await
            .contains("Visiteur")
    );
    assert!(family.text("#self figcaption").await.contains("Visitor"));
    // Everyone agreed to recording in this demo jurisdiction: the banner says
    // so, with the jurisdiction's own announcement and the policy's "why".
    assert!(family.text("#notice-text").await.contains("recorded"));
    assert!(
        family
            .text("#announcement")
            .await
            .contains("may be recorded")
    );
    assert!(
        cell.text("#announcement")
            .await
            .contains("peut être enregistrée")
    );
    assert!(
        family.text("#why-text").await.contains("demo/"),
        "rule ids in the why"
    );
    family.click("#why summary").await;
    screenshot_and_check(&family, "visit-3-family-call", "call").await;
    screenshot_and_check(&cell, "visit-3-cell-call", "kiosk call").await;

    // The microphone toggle is a real toggle.
    family.click("#mute").await;
    assert_eq!(
        family
            .eval("document.querySelector('#mute').getAttribute('aria-pressed')")
            .await,
        "true"
    );
    family.click("#mute").await;

    // Warnings at 5 and 1 minutes before the end, then the end on time.
    s.clock.advance(Duration::minutes(5));
    family
        .wait("!document.querySelector('#warning').hidden && document.querySelector('#warning').textContent.includes('5 minute')", "the 5-minute warning", Wait::from_secs(10))
        .await;
    wait_for_text(
        &cell,
        "#warning",
        "Plus que 5 minute",
        "the French 5-minute warning",
        10,
    )
    .await;
    family.screenshot("visit-4-family-warning").await;
    s.clock.advance(Duration::minutes(4));
    wait_for_text(&family, "#warning", "1 minute", "the 1-minute warning", 10).await;
    s.clock.advance(Duration::minutes(1));
    for page in [&family, &cell] {
        ended_with(page, "scheduled_end").await;
    }
    assert!(family.text("#ended-reason").await.contains("time booked"));
    assert!(cell.text("#ended-reason").await.contains("temps réservé"));
    screenshot_and_check(&family, "visit-5-family-ended", "end").await;
    cell.screenshot("visit-5-cell-ended").await;
}
