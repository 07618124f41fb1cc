//! Fair use of booked time in the browser: the family's media is lost
//! during a demo visit (`[fair_use] mode = "pause_clock"`: an outage of
//! 20 s or more is given back, up to 10 minutes) and both pages say the
//! visit was given the time back, each in its own language.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::visit_under_way;
use chrono::Duration;
use std::time::Duration as Wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_pages_are_told_that_time_lost_to_a_broken_connection_was_given_back() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = visit_under_way(&s, 30).await;
    let browser = Browser::launch().await;
    let family = browser.page("family", Screen::Phone).await;
    let cell = browser.page("cell", Screen::Tablet).await;
    join_after_check(&family, &s, &v.family_token).await;
    cell.goto(&join_link(&s, "fr", &v.cell_token)).await;
    for page in [&family, &cell] {
        wait_for_screen(page, "call", "the call", 15).await;
        page.wait_for_media(10, 20, Wait::from_secs(30)).await;
    }
    let ends_before = family.text("#ends-at").await;

    // The family's media connection breaks and stays down for a minute:
    // the page's new offer is held back (as on a network that is gone)
    // while the service's clock moves on 60 s, then let through.
    family
        .eval(
            "(() => {
               const send = WebSocket.prototype.send;
               window.heldOffer = null;
               WebSocket.prototype.send = function (data) {
                 if (!window.offersFlow && String(data).includes('\"type\":\"offer\"')) {
                   window.heldOffer = () => send.call(this, data);
                   return true;
                 }
                 return send.call(this, data);
               };
               window.parley.dropMedia();
               return true;
             })()",
        )
        .await;
    family
        .wait(
            "window.heldOffer !== null",
            "the page to offer again after media_lost",
            Wait::from_secs(30),
        )
        .await;
    s.clock.advance(Duration::seconds(60));
    family
        .eval("window.offersFlow = true; window.heldOffer(); true")
        .await;
    wait_for_text(
        &family,
        "#warning",
        "min back",
        "the family told the time was given back",
        20,
    )
    .await;
    wait_for_text(
        &cell,
        "#warning",
        "prolongée",
        "the kiosk told in French",
        10,
    )
    .await;
    assert_ne!(
        family.text("#ends-at").await,
        ends_before,
        "the end shown moved"
    );
    family.wait_for_media(10, 20, Wait::from_secs(30)).await;
    family.screenshot("fair-use-family").await;
    let audit = s
        .get(&s.admin, &format!("/v1/audit?session_id={}", v.id))
        .await;
    assert!(
        audit.body.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["action"] == "session.fair_use" && e["decision"] == "clock paused")),
        "{}",
        audit.body
    );
}
