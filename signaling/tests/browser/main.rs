//! The web client in a real browser: headless Chromium (fake camera and
//! microphone) opens the pages the signaling service serves, against a real
//! service and SFU on 127.0.0.1 whose clock the tests move. Screenshots of
//! each main screen land in `target/browser-screenshots/`.

#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;
#[path = "../api/openapi_check.rs"]
mod openapi_check;
#[allow(dead_code)]
#[path = "../api/ws.rs"]
mod ws;

mod chromium;
mod cross_browser;
mod devices;
mod e2ee;
mod fair_use;
mod firefox;
mod hearing;
mod join_page;
mod language;
mod officer;
mod reconnect;
mod reviewer;
mod rpc;
mod self_checks;
mod visit;
mod window;
