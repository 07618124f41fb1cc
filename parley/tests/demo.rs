//! `parley demo` as a newcomer uses it: the command prints two join links;
//! opened in two windows of a real (headless) Chromium, the family and the
//! detainee see and hear each other.

mod common;

#[path = "../../signaling/tests/browser/chromium/mod.rs"]
#[allow(dead_code, unused_imports)]
mod chromium;
#[path = "common/demo_visit.rs"]
mod demo_visit;
#[path = "../../signaling/tests/browser/rpc.rs"]
#[allow(dead_code)]
mod rpc;
#[path = "../../signaling/tests/browser/window.rs"]
#[allow(dead_code)]
mod window;

use chromium::{Browser, Screen};
use common::demo_link;
use demo_visit::join_visit;
use std::time::Duration;
use window::Window;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_links_connect_two_browsers() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = common::Server::start_command("demo", data.path());
    let out = server.stdout();
    let family_link = demo_link(&out, "Family:");
    let detainee_link = demo_link(&out, "Detainee:");
    assert!(
        family_link.starts_with(&format!("{}/join#token=", server.url)),
        "{family_link}"
    );
    assert!(
        detainee_link.contains("/join?kiosk=1#token="),
        "{detainee_link}"
    );
    assert!(out.contains("Officer:"), "{out}");

    let browser = Browser::launch().await;
    let family = browser.page("demo-family", Screen::Phone).await;
    let detainee = browser.page("demo-detainee", Screen::Tablet).await;
    join_visit(&family, &family_link, &detainee, &detainee_link).await;
    family.wait_for_media(10, 20, Duration::from_secs(30)).await;
    detainee
        .wait_for_media(10, 20, Duration::from_secs(30))
        .await;
    // Nobody agreed to recording in the demo booking, and the demo
    // jurisdiction lets staff monitor social visits: the banner says exactly that.
    assert_eq!(
        family.text("#notice-text").await,
        "Staff may watch this session live."
    );
    family.screenshot("demo-family-call").await;
    detainee.screenshot("demo-detainee-call").await;
    drop(server);
}
