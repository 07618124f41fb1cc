//! The web client's join page as the tests use it: the link a person is
//! sent, the pre-call check, the screens of a call, and the accessibility
//! checks of each screen photographed.

use crate::chromium::Page;
use crate::harness::Server;
use crate::window::Window;
use std::time::Duration as Wait;

/// The join link for `token` with the interface in `lang`.
pub fn join_link(s: &Server, lang: &str, token: &str) -> String {
    s.url(&format!("/join?lang={lang}#token={token}"))
}

/// Opens the English join page for `token` and waits until the pre-call
/// check lets the person join.
pub async fn open_checked(page: &Page, s: &Server, token: &str) {
    page.goto(&join_link(s, "en", token)).await;
    page.wait(
        "!document.querySelector('#join').disabled",
        "the pre-call check",
        Wait::from_secs(15),
    )
    .await;
}

/// [`open_checked`], then a click on Join.
pub async fn join_after_check(page: &Page, s: &Server, token: &str) {
    open_checked(page, s, token).await;
    page.click("#join").await;
}

/// Waits up to `seconds` until `page` shows the client's `screen`
/// ("waiting", "call", "ended"); fails naming `what`.
pub async fn wait_for_screen(page: &impl Window, screen: &str, what: &str, seconds: u64) {
    page.wait(
        &format!("window.parley.screen() === '{screen}'"),
        what,
        Wait::from_secs(seconds),
    )
    .await;
}

/// Waits up to `seconds` until the text of `selector` on `page` includes
/// `text` (neither may hold a single quote); fails naming `what`.
pub async fn wait_for_text(
    page: &impl Window,
    selector: &str,
    text: &str,
    what: &str,
    seconds: u64,
) {
    page.wait(
        &format!("document.querySelector('{selector}').textContent.includes('{text}')"),
        what,
        Wait::from_secs(seconds),
    )
    .await;
}

/// Waits up to 10 s until the toggle button `selector` on `page` is
/// `pressed` (its `aria-pressed`) or not; fails naming `what`.
pub async fn wait_for_toggle(page: &impl Window, selector: &str, pressed: bool, what: &str) {
    let condition = format!(
        "document.querySelector('{selector}')?.getAttribute('aria-pressed') === '{pressed}'"
    );
    page.wait(&condition, what, Wait::from_secs(10)).await;
}

/// Waits for `page`'s end screen and checks the reason it gives.
pub async fn ended_with(page: &Page, reason: &str) {
    wait_for_screen(page, "ended", "the end screen", 10).await;
    assert_eq!(
        page.eval("document.querySelector('#ended-reason').dataset.reason")
            .await,
        reason
    );
}

/// Photographs `page` as `shot` and checks its `screen` for unnamed
/// controls and low-contrast text.
pub async fn screenshot_and_check(page: &Page, shot: &str, screen: &str) {
    page.screenshot(shot).await;
    page.assert_controls_named(screen).await;
    page.assert_contrast(screen).await;
}
