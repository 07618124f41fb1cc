//! One browser window: navigate, read, click, type, photograph, and read
//! the call's media counters.

use crate::rpc::Rpc as Cdp;
use crate::window::Window;
use base64::Engine;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    /// Runs `source` in every document this page opens from now on, before
    /// the document's own scripts (to take a feature away, say).
    pub async fn before_scripts(&self, source: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
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
}

impl Window for Page {
    fn name(&self) -> &str {
        &self.name
    }

    async fn eval(&self, expression: &str) -> Value {
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

    async fn try_eval(&self, expression: &str) -> Option<Value> {
        // A page between two documents has no context to evaluate in.
        let r = self
            .cdp
            .try_call(
                Some(&self.session),
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await
            .ok()?;
        if r.get("exceptionDetails").is_some() {
            return None;
        }
        Some(r["result"]["value"].clone())
    }

    /// Saves a PNG of the window as `<name>.png` in [`screenshot_dir`].
    async fn screenshot(&self, name: &str) -> PathBuf {
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
}
