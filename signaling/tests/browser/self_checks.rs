//! The browser harness's own checks can fail: a missing Chromium or Firefox
//! fails the tests with the install command, and the accessibility checks
//! catch what they are meant to catch.

use crate::chromium::{Browser, Screen, chromium_in, one_at_a_time};
use crate::firefox::firefox_in;

#[test]
#[should_panic(expected = "the package is chromium: `apt-get install chromium`")]
fn a_missing_chromium_fails_the_tests_saying_how_to_install_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    chromium_in(None, empty.path().as_os_str().to_owned());
}

#[test]
#[should_panic(expected = "the package is firefox-esr: `apt-get install firefox-esr`")]
fn a_missing_firefox_fails_the_tests_saying_how_to_install_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    firefox_in(None, empty.path().as_os_str().to_owned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accessibility_checks_find_unnamed_controls_and_faint_text() {
    let _one = one_at_a_time().await;
    let browser = Browser::launch().await;
    let page = browser.page("a11y-probe", Screen::Phone).await;
    page.goto("data:text/html,<button></button><button>Join</button><input id=x><label>Name <input></label>")
        .await;
    let unnamed = page.unnamed_controls().await;
    assert_eq!(
        unnamed.len(),
        2,
        "an empty button and an unlabelled field: {unnamed:?}"
    );
    page.goto("data:text/html,<p style='color:%23999'>faint</p><p style='color:%23333'>dark</p><button disabled style='color:%23ccc'>off</button>")
        .await;
    let low = page.low_contrast_text().await;
    assert_eq!(low.len(), 1, "only the grey paragraph (2.8:1): {low:?}");
    assert!(low[0].contains("faint"), "{low:?}");
}
