//! A browser's automation connection: JSON commands over one WebSocket,
//! each with an `id` its reply carries back, and events without one. The
//! Chrome DevTools Protocol and WebDriver BiDi (Firefox) both work this
//! way: a reply has `result`, or `error` when the browser refused. Events
//! go to a logger the browser module gives (console messages, uncaught
//! errors, printed with the page's name).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Page names by CDP session id, for the log.
pub type Names = Arc<Mutex<HashMap<String, String>>>;

/// What the connection does with events.
pub type EventLog = Box<dyn Fn(&Value) + Send + Sync>;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A connection: send a command, await its reply.
#[derive(Clone)]
pub struct Rpc {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
}

impl Rpc {
    pub async fn connect(url: &str, log: EventLog) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the browser's automation port at {url}: {e}"));
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
                        Some(e) => Err(format!("{e} {}", msg["message"].as_str().unwrap_or(""))),
                        None => Ok(msg["result"].clone()),
                    };
                    if let Some(tx) = replies.lock().expect("lock").remove(&id) {
                        let _ = tx.send(reply);
                    }
                } else {
                    log(&msg);
                }
            }
        });
        Self {
            out,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params)
            .await
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Like [`Rpc::call`], but a refusal by the browser (e.g. a page that
    /// is navigating away) is returned, not a failure; no reply still fails.
    pub async fn try_call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id, tx);
        self.out
            .send(msg.to_string())
            .expect("automation connection open");
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => panic!("the automation connection closed during {method}"),
            Err(_) => panic!("{method} got no reply within 30 s"),
        }
    }
}

/// Prints Chromium pages' console messages and uncaught errors, named by
/// page, so a failing test shows what the browser said.
pub fn log_cdp_event(msg: &Value, names: &Names) {
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
