//! Headless Chromium driven over the Chrome DevTools Protocol (CDP): one
//! browser per test with a fresh profile, fake camera and microphone, and
//! pages that the tests navigate, click, read and photograph.
//!
//! The protocol is JSON over one WebSocket: commands carry an `id` and get a
//! reply with the same `id`; a page is addressed by its `sessionId`
//! (flattened target sessions).

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// The flags from ARCHITECTURE.md, plus no throttling of windows that are
/// not in front and sound that may start without a click (a kiosk joins by
/// itself at the slot).
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
];

/// Chromium's path: `$PARLEY_CHROMIUM`, else `chromium` or `chromium-browser`
/// on the `PATH`. Fails, never skips, when there is none.
fn find_chromium() -> PathBuf {
    chromium_in(
        std::env::var_os("PARLEY_CHROMIUM"),
        std::env::var_os("PATH").unwrap_or_default(),
    )
}

/// [`find_chromium`] with the environment given: an override, else the
/// first `chromium` or `chromium-browser` in the directories of `path`.
fn chromium_in(overridden: Option<std::ffi::OsString>, path: std::ffi::OsString) -> PathBuf {
    if let Some(p) = overridden {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is needed for the web client tests and was not found on the PATH; \
         install it with `apt-get install chromium chromium-driver` (or set PARLEY_CHROMIUM to its path)"
    );
}

#[test]
#[should_panic(expected = "apt-get install chromium chromium-driver")]
fn a_missing_chromium_fails_the_tests_saying_how_to_install_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    chromium_in(None, empty.path().as_os_str().to_owned());
}

/// The WCAG 2.1 contrast computation, run in the page; returns the failures.
const CONTRAST_CHECK: &str = r#"(() => {
  const rgba = (c) => { const m = c.match(/[\d.]+/g) || [0, 0, 0, 0]; return [+m[0], +m[1], +m[2], m[3] === undefined ? 1 : +m[3]]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] >= 0.5) return c; } return [255, 255, 255, 1]; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    if (el.closest('[hidden], video, audio, option') || el.disabled || el.closest('button[disabled]')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.getClientRects().length === 0) continue;
    const fg = rgba(style.color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = +style.fontWeight >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) out.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}:1 < ${need}:1`);
  }
  return out;
})()"#;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A CDP connection: send a command, await its reply.
#[derive(Clone)]
struct Cdp {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
}

impl Cdp {
    async fn connect(url: &str, names: Arc<Mutex<HashMap<String, String>>>) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Chromium's DevTools at {url}: {e}"));
        let (mut sink, mut stream) = ws.split();
        let (out, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        });
        let pending: Pending = Arc::default();
        let replies = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(msg) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = msg["id"].as_u64() {
                    let reply = match msg.get("error") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(msg["result"].clone()),
                    };
                    if let Some(tx) = replies.lock().expect("lock").remove(&id) {
                        let _ = tx.send(reply);
                    }
                } else {
                    log_event(&msg, &names);
                }
            }
        });
        Self {
            out,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id, tx);
        self.out.send(msg.to_string()).expect("CDP connection open");
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(Ok(v))) => v,
            Ok(Ok(Err(e))) => panic!("CDP {method} failed: {e}"),
            Ok(Err(_)) => panic!("CDP connection closed during {method}"),
            Err(_) => panic!("CDP {method} got no reply within 30 s"),
        }
    }
}

/// Prints the pages' console messages and uncaught errors, named by page,
/// so a failing test shows what the browser said.
fn log_event(msg: &Value, names: &Arc<Mutex<HashMap<String, String>>>) {
    let page = msg["sessionId"]
        .as_str()
        .and_then(|s| names.lock().expect("lock").get(s).cloned())
        .unwrap_or_default();
    match msg["method"].as_str() {
        Some("Runtime.consoleAPICalled") => {
            let args: Vec<String> = msg["params"]["args"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| {
                            v["value"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v["value"].to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            eprintln!(
                "[{page} console.{}] {}",
                msg["params"]["type"].as_str().unwrap_or("log"),
                args.join(" ")
            );
        }
        Some("Runtime.exceptionThrown") => {
            eprintln!(
                "[{page} exception] {}",
                msg["params"]["exceptionDetails"]["exception"]["description"]
                    .as_str()
                    .unwrap_or(&msg["params"]["exceptionDetails"]["text"].to_string())
            );
        }
        _ => {}
    }
}

/// A headless Chromium with its own profile; killed when dropped.
pub struct Browser {
    child: tokio::process::Child,
    cdp: Cdp,
    names: Arc<Mutex<HashMap<String, String>>>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Screen sizes the tests use.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A phone held upright.
    Phone,
    /// A cell tablet or landing kiosk.
    Tablet,
    /// A desk.
    Desktop,
}

impl Browser {
    pub async fn launch() -> Self {
        Self::launch_with(FLAGS).await
    }

    /// A browser in which every camera and microphone request is refused, as
    /// when a person clicks "Block" (no fake permission prompt that accepts).
    pub async fn launch_refusing_devices() -> Self {
        let flags: Vec<&str> = FLAGS
            .iter()
            .copied()
            .filter(|f| *f != "--use-fake-ui-for-media-stream")
            .collect();
        let browser = Self::launch_with(&flags).await;
        for name in ["camera", "microphone"] {
            browser
                .cdp
                .call(
                    None,
                    "Browser.setPermission",
                    json!({"permission": {"name": name}, "setting": "denied"}),
                )
                .await;
        }
        browser
    }

    async fn launch_with(flags: &[&str]) -> Self {
        let binary = find_chromium();
        let profile = tempfile::tempdir().expect("profile dir");
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.args(flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}; install Chromium with `apt-get install chromium chromium-driver`",
                binary.display()
            )
        });
        // Chromium writes its DevTools port and path to this file once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.to_string(), path.to_string());
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not open its DevTools port within 30 s",
                binary.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let names = Arc::default();
        let cdp = Cdp::connect(&format!("ws://127.0.0.1:{port}{path}"), Arc::clone(&names)).await;
        Self {
            child,
            cdp,
            names,
            _profile: profile,
        }
    }

    /// A new window named `name` (in logs and screenshots) sized like `screen`.
    pub async fn page(&self, name: &str, screen: Screen) -> Page {
        let (width, height, mobile) = match screen {
            Screen::Phone => (390, 844, true),
            Screen::Tablet => (1024, 768, false),
            Screen::Desktop => (1280, 900, false),
        };
        let target = self
            .cdp
            .call(
                None,
                "Target.createTarget",
                json!({"url": "about:blank", "newWindow": true, "width": width, "height": height}),
            )
            .await;
        let attached = self
            .cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        let session = attached["sessionId"]
            .as_str()
            .expect("a page session")
            .to_string();
        self.names
            .lock()
            .expect("lock")
            .insert(session.clone(), name.to_string());
        let page = Page {
            cdp: self.cdp.clone(),
            session,
            name: name.to_string(),
        };
        page.call("Page.enable", json!({})).await;
        page.call("Runtime.enable", json!({})).await;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
        page
    }
}

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
    async fn call(&self, method: &str, params: Value) -> Value {
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
            if self.eval(&expression).await == Value::Bool(true) {
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

    /// Controls a screen reader would announce without a name: every
    /// button, field, list box and checkbox on the page that is not hidden
    /// must have an accessible name (its text, label or `aria-label`), as
    /// Chromium's accessibility tree computes it.
    pub async fn unnamed_controls(&self) -> Vec<String> {
        let tree = self.call("Accessibility.getFullAXTree", json!({})).await;
        let controls = [
            "button",
            "textbox",
            "combobox",
            "checkbox",
            "spinbutton",
            "listbox",
            "link",
        ];
        tree["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter(|n| n["ignored"] != json!(true))
                    .filter(|n| {
                        n["role"]["value"]
                            .as_str()
                            .is_some_and(|r| controls.contains(&r))
                    })
                    .filter(|n| n["name"]["value"].as_str().unwrap_or("").trim().is_empty())
                    .map(|n| format!("{} (node {})", n["role"]["value"], n["backendDOMNodeId"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails unless every visible control has an accessible name.
    pub async fn assert_controls_named(&self, screen: &str) {
        let unnamed = self.unnamed_controls().await;
        assert!(
            unnamed.is_empty(),
            "[{}] controls without an accessible name on the {screen} screen: {unnamed:?}",
            self.name
        );
    }

    /// Visible text whose contrast with its background is below WCAG 2.1
    /// AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). The
    /// background is the nearest ancestor's background colour that is at
    /// least half opaque; text of disabled controls is exempt, as in WCAG.
    pub async fn low_contrast_text(&self) -> Vec<String> {
        let found = self.eval(CONTRAST_CHECK).await;
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails if any visible text is below WCAG 2.1 AA contrast.
    pub async fn assert_contrast(&self, screen: &str) {
        let low = self.low_contrast_text().await;
        assert!(
            low.is_empty(),
            "[{}] text below AA contrast on the {screen} screen: {low:?}",
            self.name
        );
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

/// One browser test at a time: each runs a Chromium with several windows
/// encoding and decoding video, which is all a small CI machine can carry.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
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
