//! The demo's visit in two Chromium pages: the family joins from the
//! pre-call check, the kiosk joins. For tests that declare the browser
//! harness's `chromium`, `rpc` and `window` modules at their root.

use crate::chromium::Page;
use crate::window::Window;
use std::time::Duration;

/// The family joins from the pre-call check, the kiosk joins, and both
/// pages reach the call.
pub async fn join_visit(family: &Page, family_link: &str, detainee: &Page, detainee_link: &str) {
    family.goto(family_link).await;
    family
        .wait(
            "!document.querySelector('#join').disabled",
            "the pre-call check",
            Duration::from_secs(15),
        )
        .await;
    family.click("#join").await;
    detainee.goto(detainee_link).await;
    for page in [family, detainee] {
        page.wait(
            "window.parley.screen() === 'call'",
            "the call",
            Duration::from_secs(20),
        )
        .await;
    }
}
