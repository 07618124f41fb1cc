//! Headless Firefox (Debian's `firefox-esr`) driven over its built-in
//! WebDriver BiDi protocol, no geckodriver: one browser per test, a fresh
//! profile with the prefs in `user.js` (fake camera and microphone, WebRTC
//! on 127.0.0.1, no network at start), one tab the tests navigate and read.
//!
//! BiDi is JSON over one WebSocket like CDP (`crate::rpc`). Firefox prints
//! the port it chose (`--remote-debugging-port=0`) on stderr; the session
//! lives at `ws://127.0.0.1:PORT/session`. Page values come back through
//! `JSON.stringify`, so no BiDi remote values are decoded here.

use crate::chromium::browser::program_in;
use crate::rpc::Rpc;
use crate::window::Window;
use base64::Engine;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The prefs written into every fresh profile.
const PREFS: &str = include_str!("user.js");

/// Firefox's path: `$PARLEY_FIREFOX`, else `firefox-esr` or `firefox` on
/// the `PATH`. Fails, never skips, when there is none.
fn find_firefox() -> PathBuf {
    firefox_in(
        std::env::var_os("PARLEY_FIREFOX"),
        std::env::var_os("PATH").unwrap_or_default(),
    )
}

/// [`find_firefox`] with the environment given: an override, else the first
/// `firefox-esr` or `firefox` in the directories of `path`.
pub fn firefox_in(overridden: Option<std::ffi::OsString>, path: std::ffi::OsString) -> PathBuf {
    program_in(overridden, path, &["firefox-esr", "firefox"]).unwrap_or_else(|| {
        panic!(
            "headless Firefox is needed for the cross-browser tests and was not found on the PATH; \
             the package is firefox-esr: `apt-get install firefox-esr` (scripts/test installs it), \
             or set PARLEY_FIREFOX to its path"
        )
    })
}

/// A headless Firefox with its own profile and one tab; closed (or its
/// process group killed) when dropped.
pub struct Firefox {
    child: tokio::process::Child,
    rpc: Rpc,
    context: String,
    pub name: String,
    _profile: tempfile::TempDir,
}

impl Drop for Firefox {
    fn drop(&mut self) {
        // The whole group: Firefox runs content processes beside the parent.
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a negative pid signals the process group
            // this child leads (it was spawned with process_group(0)).
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    }
}

impl Firefox {
    /// Starts Firefox; its one tab is named `name` in logs and screenshots
    /// and sized like a phone held upright.
    pub async fn launch(name: &str) -> Self {
        let binary = find_firefox();
        let profile = tempfile::tempdir().expect("profile dir");
        std::fs::write(profile.path().join("user.js"), PREFS).expect("prefs written");
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.args(["--headless", "--no-remote", "--profile"])
            .arg(profile.path())
            .args(["--remote-debugging-port=0", "about:blank"])
            // Without it ESR ignores the pref that keeps remote settings
            // off the network.
            .env("MOZ_DISABLE_NONLOCAL_CONNECTIONS", "1")
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}; install Firefox with `apt-get install firefox-esr`",
                binary.display()
            )
        });
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = BufReader::new(stderr).lines();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line
                    .split("WebDriver BiDi listening on ")
                    .nth(1)
                    .map(str::trim)
                {
                    return Some(url.to_string());
                }
            }
            None
        })
        .await;
        let url = match found {
            Ok(Some(url)) => url,
            _ => panic!(
                "{} did not open WebDriver BiDi within 30 s",
                binary.display()
            ),
        };
        // Keep draining stderr, or Firefox blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let tab = name.to_string();
        let rpc = Rpc::connect(
            &format!("{url}/session"),
            Box::new(move |msg| log_bidi_event(&tab, msg)),
        )
        .await;
        rpc.call(None, "session.new", json!({"capabilities": {}}))
            .await;
        rpc.call(
            None,
            "session.subscribe",
            json!({"events": ["log.entryAdded"]}),
        )
        .await;
        let tree = rpc
            .call(None, "browsingContext.getTree", json!({"maxDepth": 0}))
            .await;
        let context = tree["contexts"][0]["context"]
            .as_str()
            .expect("Firefox's first tab")
            .to_string();
        rpc.call(
            None,
            "browsingContext.setViewport",
            json!({"context": context, "viewport": {"width": 390, "height": 844}, "devicePixelRatio": 1}),
        )
        .await;
        Self {
            child,
            rpc,
            context,
            name: name.to_string(),
            _profile: profile,
        }
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.rpc
            .call(
                None,
                "browsingContext.navigate",
                json!({"context": self.context, "url": url, "wait": "complete"}),
            )
            .await;
    }

    /// Clicks the element matching `selector` (an activation, as a person's
    /// click or a key press gives).
    pub async fn click(&self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("json");
        let clicked = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.click(); return true; }})()"
            ))
            .await;
        assert_eq!(
            clicked,
            Value::Bool(true),
            "[{}] nothing to click at `{selector}`",
            self.name
        );
    }

    /// Closes Firefox cleanly (the drop kills it otherwise).
    pub async fn close(mut self) {
        let _ = self.rpc.try_call(None, "browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    async fn evaluate(&self, expression: &str) -> Result<Value, String> {
        // The value travels as a JSON string: no BiDi remote values to decode.
        let wrapped = format!("(async () => JSON.stringify(await ({expression})) ?? 'null')()");
        let r = self
            .rpc
            .try_call(
                None,
                "script.evaluate",
                json!({"expression": wrapped, "target": {"context": self.context},
                       "awaitPromise": true, "resultOwnership": "none"}),
            )
            .await?;
        if r["type"] != "success" {
            return Err(r["exceptionDetails"]["text"]
                .as_str()
                .unwrap_or("threw")
                .to_string());
        }
        let text = r["result"]["value"].as_str().unwrap_or("null");
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text}"))
    }
}

impl Window for Firefox {
    fn name(&self) -> &str {
        &self.name
    }

    async fn eval(&self, expression: &str) -> Value {
        self.evaluate(expression)
            .await
            .unwrap_or_else(|e| panic!("[{}] `{expression}` threw: {e}", self.name))
    }

    async fn try_eval(&self, expression: &str) -> Option<Value> {
        self.evaluate(expression).await.ok()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let shot = self
            .rpc
            .call(
                None,
                "browsingContext.captureScreenshot",
                json!({"context": self.context, "origin": "viewport"}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .expect("PNG in base64");
        let path = crate::chromium::screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }
}

/// Prints the tab's console messages, so a failing test shows what Firefox
/// said.
fn log_bidi_event(tab: &str, msg: &Value) {
    if msg["method"] == "log.entryAdded" {
        let entry = &msg["params"];
        eprintln!(
            "[{tab} console.{}] {}",
            entry["level"].as_str().unwrap_or("log"),
            entry["text"].as_str().unwrap_or("")
        );
    }
}
