//! Headless Chromium driven over the Chrome DevTools Protocol (CDP): one
//! browser per test with a fresh profile, fake camera and microphone, and
//! pages that the tests navigate, click, read and photograph.
//!
//! The protocol is JSON over one WebSocket: commands carry an `id` and get a
//! reply with the same `id`; a page is addressed by its `sessionId`
//! (flattened target sessions).

pub(crate) mod browser;
mod checks;
mod page;

pub use browser::{Browser, Screen, chromium_in};
/// Named by tests that share helpers over pages (`parley/tests`).
#[allow(unused_imports)]
pub use page::Page;
pub use page::screenshot_dir;

/// One browser test at a time: each runs a Chromium with several windows
/// encoding and decoding video, which is all a small CI machine can carry.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
