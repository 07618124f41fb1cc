//! Interface language: the browser's language until the session's
//! jurisdiction is known, then one of the jurisdiction's languages unless the
//! person chose; the person's choice wins and is kept.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::booked_visit;
use std::time::Duration as Wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jurisdictions_language_then_the_persons_choice() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = booked_visit(&s, 5, 10).await;

    let browser = Browser::launch().await;
    let family = browser.page("german-browser", Screen::Phone).await;
    family.set_locale("de-DE").await;
    family
        .goto(&s.url(&format!("/join#token={}", v.family_token)))
        .await;
    assert_eq!(family.eval("navigator.language").await, "de-DE");
    family
        .wait(
            "!document.querySelector('#join').disabled",
            "the pre-call check",
            Wait::from_secs(15),
        )
        .await;
    assert_eq!(family.text("#check-title").await, "Bevor Sie beitreten");
    assert_eq!(family.text("#join").await, "Beitreten");
    family.screenshot("language-1-german-check").await;
    family.click("#join").await;
    // The demo jurisdiction speaks English and French, not German: English.
    wait_for_screen(&family, "waiting", "the waiting room", 10).await;
    assert_eq!(family.eval("document.documentElement.lang").await, "en");
    assert!(family.text("#waiting-text").await.contains("waiting room"));
    // The person picks German: it applies at once and is kept.
    family
        .eval("(() => { const s = document.querySelector('#lang'); s.value = 'de'; s.dispatchEvent(new Event('change')); })()")
        .await;
    assert!(family.text("#waiting-text").await.contains("Warteraum"));
    assert_eq!(
        family.eval("localStorage.getItem('parley.lang')").await,
        "de"
    );
    family.screenshot("language-2-german-waiting").await;
    family.assert_contrast("German waiting room").await;
}
