//! A family on Firefox and a kiosk on Chromium hold a minute-long visit:
//! two WebRTC stacks the SFU did not choose, Firefox checking consent at
//! RFC 7675's 5 s pace. Every second both sides decode new frames; over the
//! minute neither sees a freeze and audio concealment stays under 2 %.

use crate::chromium::{Browser, Screen, one_at_a_time};
use crate::firefox::Firefox;
use crate::harness::*;
use crate::join_page::*;
use crate::window::{Received, Window};
use crate::ws::visit_under_way;
use std::time::Duration as Wait;

/// Share of audio samples concealed between two readings.
fn concealed_share(before: &Received, after: &Received) -> f64 {
    let samples = after.samples.saturating_sub(before.samples).max(1);
    after.concealed.saturating_sub(before.concealed) as f64 / samples as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_family_and_a_chromium_kiosk_hold_a_minute_long_visit() {
    let _one = one_at_a_time().await;
    let s = start().await;
    let v = visit_under_way(&s, 10).await;

    let chromium = Browser::launch().await;
    let cell = chromium.page("cell", Screen::Tablet).await;
    let family = Firefox::launch("family-firefox").await;

    family.goto(&join_link(&s, "en", &v.family_token)).await;
    family
        .wait(
            "!document.querySelector('#join').disabled",
            "Firefox's pre-call check to pass",
            Wait::from_secs(20),
        )
        .await;
    family.click("#join").await;
    cell.goto(&join_link(&s, "fr", &v.cell_token)).await;
    wait_for_screen(&family, "call", "Firefox's call screen", 15).await;
    wait_for_screen(&cell, "call", "the kiosk's call screen", 15).await;
    family.wait_for_media(10, 20, Wait::from_secs(30)).await;
    cell.wait_for_media(10, 20, Wait::from_secs(30)).await;
    family.screenshot("cross-browser-1-firefox-call").await;

    // A minute, read every second: both sides decode new frames each time.
    let first = (family.media().await, cell.media().await);
    let mut last = first;
    for second in 1..=60 {
        tokio::time::sleep(Wait::from_secs(1)).await;
        let now = (family.media().await, cell.media().await);
        assert!(
            now.0.frames_decoded > last.0.frames_decoded
                && now.1.frames_decoded > last.1.frames_decoded,
            "second {second}: frames decoded, Firefox {} -> {}, Chromium {} -> {}",
            last.0.frames_decoded,
            now.0.frames_decoded,
            last.1.frames_decoded,
            now.1.frames_decoded
        );
        last = now;
    }
    for (name, before, after) in [
        ("Firefox", &first.0, &last.0),
        ("Chromium", &first.1, &last.1),
    ] {
        assert_eq!(
            after.freezes, before.freezes,
            "{name} saw a freeze: {before:?} -> {after:?}"
        );
        let share = concealed_share(before, after);
        assert!(
            share < 0.02,
            "{name} concealed {:.2} % of its audio: {before:?} -> {after:?}",
            share * 100.0
        );
        assert!(
            after.frames_decoded - before.frames_decoded > 60 * 10,
            "{name} decoded at least 10 frames a second: {before:?} -> {after:?}"
        );
    }
    eprintln!(
        "cross-browser minute: Firefox {:?} -> {:?}; Chromium {:?} -> {:?}",
        first.0, last.0, first.1, last.1
    );
    // Both browsers negotiated transport-cc: the SFU numbers what it sends
    // each, reads each one's feedback and estimates its downlink from it.
    let metrics = s.metrics().await;
    let downlinks = |estimate: &str| -> u64 {
        let label = format!("estimate=\"{estimate}\"");
        metrics
            .lines()
            .filter(|l| l.starts_with("parley_sfu_downlinks{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(
        (downlinks("feedback"), downlinks("assumed")),
        (2, 0),
        "both downlinks estimated from their own feedback:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("downlinks") || l.contains("transport_feedback"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    family
        .screenshot("cross-browser-2-firefox-after-a-minute")
        .await;
    family.close().await;
}
