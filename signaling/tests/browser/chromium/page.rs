//! One browser window: navigate, read, click, type, photograph, and read
//! the call's media counters.

use super::cdp::Cdp;
use base64::Engine;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One browser window.
pub struct Page {
    cdp: Cdp,
    session: String,
    pub name: String,
}

/// Where screenshots go: `<target dir>/browser-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("browser-screenshots"))
        .unwrap_or_else(|| PathBuf::from("browser-screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

impl Page {
    pub(super) fn new(cdp: Cdp, session: String, name: &str) -> Self {
        Self {
            cdp,
            session,
            name: name.to_string(),
        }
    }

    pub(super) async fn call(&self, method: &str, params: Value) -> Value {
        self.cdp.call(Some(&self.session), method, params).await
    }

    /// Makes the page's browser language `locale` (e.g. "de-DE").
    pub async fn set_locale(&self, locale: &str) {
        self.call("Emulation.setLocaleOverride", json!({"locale": locale}))
            .await;
        self.call(
            "Emulation.setUserAgentOverride",
            json!({"userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome Parley-Test", "acceptLanguage": locale}),
        )
        .await;
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            "the page loads",
            Duration::from_secs(15),
        )
        .await;
    }

    /// Evaluates `expression` (awaiting a promise) and returns its value.
    pub async fn eval(&self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("[{}] `{expression}` threw: {e}", self.name);
        }
        r["result"]["value"].clone()
    }

    /// Waits until `condition` (JavaScript) is true; on timeout saves a
    /// screenshot and fails naming `what`.
    pub async fn wait(&self, condition: &str, what: &str, limit: Duration) {
        let started = Instant::now();
        let expression = format!(
            "(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        );
        loop {
            // A page between two documents has no context to evaluate in:
            // that counts as "not yet".
            let reply = self
                .cdp
                .try_call(
                    Some(&self.session),
                    "Runtime.evaluate",
                    json!({"expression": expression, "returnByValue": true}),
                )
                .await;
            if reply.is_ok_and(|r| r["result"]["value"] == Value::Bool(true)) {
                return;
            }
            if started.elapsed() > limit {
                let shot = self.screenshot(&format!("failed-{}", self.name)).await;
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!(
                    "[{}] waited {limit:?} for {what} (`{condition}`); screenshot {}; page text:\n{}",
                    self.name,
                    shot.display(),
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The text of the first element matching `selector` ("" if none).
    pub async fn text(&self, selector: &str) -> String {
        let sel = serde_json::to_string(selector).expect("json");
        self.eval(&format!(
            "(document.querySelector({sel}) || {{}}).textContent || ''"
        ))
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Whether an element matches `selector`.
    pub async fn has(&self, selector: &str) -> bool {
        let sel = serde_json::to_string(selector).expect("json");
        self.eval(&format!("!!document.querySelector({sel})")).await == Value::Bool(true)
    }

    /// Clicks the middle of the element matching `selector` with the mouse,
    /// as a person would (the element must be visible and enabled to react).
    pub async fn click(&self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("json");
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                 return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = match (at[0].as_f64(), at[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("[{}] nothing to click at `{selector}`", self.name),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Focuses the element matching `selector` and types `text` into it.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).expect("json");
        self.eval(&format!("document.querySelector({sel}).focus()"))
            .await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Presses and releases a key on the focused element, as a keyboard
    /// would: `"Tab"` moves focus, `"Enter"` activates or submits.
    pub async fn press(&self, key: &str) {
        let (code, text) = match key {
            "Tab" => (9, ""),
            "Enter" => (13, "\r"),
            " " => (32, " "),
            other => panic!("press() knows Tab, Enter and space, not {other:?}"),
        };
        let name = if key == " " { "Space" } else { key };
        let mut down =
            json!({"type": "keyDown", "key": key, "code": name, "windowsVirtualKeyCode": code});
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down).await;
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": name, "windowsVirtualKeyCode": code}),
        )
        .await;
    }

    /// The id of the focused element ("" if it has none).
    pub async fn focused(&self) -> String {
        self.eval("document.activeElement ? document.activeElement.id : ''")
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Saves a PNG of the window as `<name>.png` in [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .expect("PNG in base64");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// Media received so far on the page's call: (video frames decoded,
    /// audio packets received), from `getStats()`.
    pub async fn received(&self) -> (u64, u64) {
        let r = self.eval("window.parley.received()").await;
        (
            r["videoFramesDecoded"].as_u64().unwrap_or(0),
            r["audioPacketsReceived"].as_u64().unwrap_or(0),
        )
    }

    /// Waits until the call decodes more than `frames` video frames and
    /// receives more than `packets` audio packets.
    pub async fn wait_for_media(&self, frames: u64, packets: u64, limit: Duration) -> (u64, u64) {
        let started = Instant::now();
        loop {
            let got = self.received().await;
            if got.0 > frames && got.1 > packets {
                return got;
            }
            if started.elapsed() > limit {
                let shot = self
                    .screenshot(&format!("failed-{}-media", self.name))
                    .await;
                let state = self.eval("window.parley.connectionState()").await;
                panic!(
                    "[{}] media did not arrive within {limit:?}: {} frames decoded (wanted > {frames}), \
                     {} audio packets (wanted > {packets}); peer connection {state}; screenshot {}",
                    self.name,
                    got.0,
                    got.1,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
