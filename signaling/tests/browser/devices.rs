//! The pre-call check when the camera and microphone are refused: a plain
//! explanation and a way to try again, and no joining without them.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::booked_visit;
use std::time::Duration as Wait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_camera_and_microphone_are_explained() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = booked_visit(&s, 5, 10).await;

    let browser = Browser::launch_refusing_devices().await;
    let family = browser.page("refused", Screen::Phone).await;
    family.goto(&join_link(&s, "en", &v.family_token)).await;
    family
        .wait(
            "!document.querySelector('#check-problem').hidden",
            "the explanation",
            Wait::from_secs(15),
        )
        .await;
    let problem = family.text("#check-problem").await;
    assert!(problem.contains("was refused"), "{problem}");
    assert!(problem.contains("site settings"), "{problem}");
    assert!(
        family.has("#retry:not([hidden])").await,
        "a way to try again"
    );
    assert_eq!(family.text("#check-camera").await, "not working");
    assert_eq!(
        family
            .eval("document.querySelector('#join').disabled")
            .await,
        true
    );
    screenshot_and_check(&family, "devices-refused", "refused devices").await;
}
