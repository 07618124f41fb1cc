//! Finding and starting Chromium, and opening windows in it.

use super::page::Page;
use crate::rpc::{Names, Rpc as Cdp, log_cdp_event};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
pub fn chromium_in(overridden: Option<std::ffi::OsString>, path: std::ffi::OsString) -> PathBuf {
    program_in(overridden, path, &["chromium", "chromium-browser"]).unwrap_or_else(|| {
        panic!(
            "headless Chromium is needed for the web client tests and was not found on the PATH; \
             the package is chromium: `apt-get install chromium` (scripts/test installs it), or set PARLEY_CHROMIUM to its path"
        )
    })
}

/// A browser's program: `overridden` if given, else the first of `names`
/// (in order of preference) in the directories of `path`.
pub fn program_in(
    overridden: Option<std::ffi::OsString>,
    path: std::ffi::OsString,
    names: &[&str],
) -> Option<PathBuf> {
    if let Some(p) = overridden {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&path).find_map(|dir| {
        names
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// A headless Chromium with its own profile; killed when dropped.
pub struct Browser {
    child: tokio::process::Child,
    cdp: Cdp,
    names: Names,
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
        let names: Names = Arc::default();
        let logged = Arc::clone(&names);
        let cdp = Cdp::connect(
            &format!("ws://127.0.0.1:{port}{path}"),
            Box::new(move |msg| log_cdp_event(msg, &logged)),
        )
        .await;
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
        let page = Page::new(self.cdp.clone(), session, name);
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
