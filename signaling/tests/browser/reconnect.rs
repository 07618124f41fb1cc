//! Network breaks during a visit: when the family's connection drops, the
//! client joins again with the same link (new WebSocket, new offer), media
//! flows again both ways, and the visit keeps its booked end; when only the
//! media path dies, a new offer on the same socket restores it.

use crate::chromium::{Browser, Page, Screen, one_at_a_time};
use crate::harness::*;
use crate::join_page::*;
use crate::window::Window;
use crate::ws::{BookedVisit, visit_under_way};
use std::time::Duration as Wait;

/// The family on a phone and the cell's tablet join `v` in English and
/// receive each other's media; their pages.
async fn family_and_cell_in_call(browser: &Browser, s: &Server, v: &BookedVisit) -> (Page, Page) {
    let family = browser.page("family", Screen::Phone).await;
    let cell = browser.page("cell", Screen::Tablet).await;
    join_after_check(&family, s, &v.family_token).await;
    cell.goto(&join_link(s, "en", &v.cell_token)).await;
    family.wait_for_media(10, 20, Wait::from_secs(30)).await;
    cell.wait_for_media(10, 20, Wait::from_secs(30)).await;
    (family, cell)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_rejoins_without_a_new_booking() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = visit_under_way(&s, 15).await;
    let sessions_before = s.session_count().await;

    let browser = Browser::launch().await;
    let (family, cell) = family_and_cell_in_call(&browser, &s, &v).await;
    let ends_before = family.text("#ends-at").await;

    // The break: the family's socket goes down, and with it the media.
    family.eval("window.parley.dropConnection()").await;
    wait_for_text(
        &family,
        "#status",
        "Reconnecting",
        "the reconnecting notice",
        5,
    )
    .await;
    family.screenshot("reconnect-1-family-reconnecting").await;
    let cell_during = cell.received().await;

    // Healed: a fresh peer connection decodes the detainee again, and the
    // detainee receives the family again.
    family
        .wait(
            "window.parley.screen() === 'call' && window.parley.connectionState() === 'connected'",
            "a new media connection",
            Wait::from_secs(20),
        )
        .await;
    family.wait_for_media(10, 20, Wait::from_secs(30)).await;
    cell.wait_for_media(cell_during.0 + 10, cell_during.1 + 20, Wait::from_secs(30))
        .await;
    assert_eq!(family.text("#status").await, "", "the notice goes away");
    assert_eq!(
        family.text("#ends-at").await,
        ends_before,
        "the end stays as booked"
    );
    assert_eq!(s.session_count().await, sessions_before, "no new booking");
    family.screenshot("reconnect-2-family-healed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_media_is_restored_on_the_same_socket() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = visit_under_way(&s, 15).await;

    let browser = Browser::launch().await;
    let (family, _cell) = family_and_cell_in_call(&browser, &s, &v).await;

    // Only the media path dies (the socket stays up): the SFU notices the
    // silence within about 10 s, signaling says `media_lost`, and the page
    // offers again on the same socket.
    family.eval("window.parley.dropMedia()").await;
    wait_for_text(
        &family,
        "#status",
        "Video connection lost",
        "the media_lost notice",
        25,
    )
    .await;
    family
        .wait(
            "window.parley.connectionState() === 'connected'",
            "a new media connection",
            Wait::from_secs(15),
        )
        .await;
    family.wait_for_media(10, 20, Wait::from_secs(30)).await;
    assert_eq!(family.text("#status").await, "", "the notice goes away");
}
